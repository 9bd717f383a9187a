#!/bin/bash
# The bundled action checkpoint's weights with another pooling of its BiGRU outputs (no
# training, no fusion), judged by the rule's validation figures and, after the choice, its test
# figures.   bash results/isc_all/pooled_default.sh val|test NAME=SEGMENTS...
# SEGMENTS is a span count (4) or a pyramid as JSON ([1,4]). Used by segments_at_inference.sh
# (fourth addendum of RULE.md) and pyramid.sh (eighth); the work is fused.sh's, without a weight.
split=$1; shift
exec bash "$(dirname "$0")/fused.sh" "$split" $(for item in "$@"; do echo "${item%%=*}=@${item#*=}"; done)
