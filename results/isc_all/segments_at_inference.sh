#!/bin/bash
# The fourth addendum's candidates (RULE.md): the bundled action checkpoint with its BiGRU
# outputs pooled over 2 or 4 spans at inference, then the rule's validation figures and, after
# the choice, the test figures.  bash results/isc_all/segments_at_inference.sh [val|test]
exec bash "$(dirname "$0")/pooled_default.sh" "${1:-val}" default_seg2=2 default_seg4=4
