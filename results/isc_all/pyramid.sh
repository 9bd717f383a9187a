#!/bin/bash
# The eighth addendum's candidates (RULE.md): the bundled action checkpoint's BiGRU outputs
# pooled as pyramids (the whole-clip mean joined with span means), validation figures first,
# the test figures after the choice.  bash results/isc_all/pyramid.sh [val|test]
exec bash "$(dirname "$0")/pooled_default.sh" "${1:-val}" default_pyr14="[1,4]" default_pyr124="[1,2,4]"
