#!/bin/bash
# The fourth addendum's candidates (RULE.md): the bundled action checkpoint with its BiGRU
# outputs pooled over 2 or 4 spans at inference, then the rule's validation figures and, after
# the choice, the test figures.  bash results/isc_all/segments_at_inference.sh [val|test]
set -e
cd "$(dirname "$0")/../.."
PY=.venv/bin/python
for k in 2 4; do
  out=runs/isc14/default_seg$k
  mkdir -p $out
  cp engine/models/weights/action_isc.safetensors $out/seq.safetensors
  $PY - "$k" "$out/seq.json" <<'PYEOF'
import json, sys
meta = json.load(open("engine/models/weights/action_isc.json"))
k = int(sys.argv[1])
meta["architecture"]["segments"] = k
meta["embedding"]["dim"] = meta["embedding"]["dim"] * k
meta.pop("metrics", None)
meta["name"] = f"action_isc_seg{k}"
meta["derived_from"] = "engine/models/weights/action_isc (the same weights; outputs pooled over %d spans)" % k
json.dump(meta, open(sys.argv[2], "w"), indent=1)
PYEOF
done
E="$PY -m engine.cli eval action"
O=results/isc_all/eval
for k in 2 4; do
  for d in nwucla msr utd_mhad kard; do
    if [ "${1:-val}" = val ]; then
      $E runs/isc14/default_seg$k/seq --dataset $d --split val --out $O/default_seg${k}_val_$d | tail -n +2
    else
      $E runs/isc14/default_seg$k/seq --dataset $d --protocols knn,linear --out $O/default_seg${k}_test_$d | tail -n +2
    fi
  done
done
