#!/bin/bash
# The bundled action checkpoint's weights with another pooling of its BiGRU outputs (no
# training), judged by the rule's validation figures and, after the choice, its test figures.
#   bash results/isc_all/pooled_default.sh val|test NAME=SEGMENTS...
# SEGMENTS is a span count (4) or a pyramid as JSON ([1,4]). Checkpoints go to runs/isc14/NAME,
# figures to results/isc_all/eval/NAME_{val,test}_DATASET. Used by segments_at_inference.sh
# (fourth addendum of RULE.md) and pyramid.sh (eighth).
set -e
cd "$(dirname "$0")/../.."
PY=.venv/bin/python
split=$1; shift
O=results/isc_all/eval
for item in "$@"; do
  name=${item%%=*}; seg=${item#*=}
  out=runs/isc14/$name
  mkdir -p $out
  cp engine/models/weights/action_isc.safetensors $out/seq.safetensors
  $PY - "$seg" "$name" "$out/seq.json" <<'PYEOF'
import json, sys
meta = json.load(open("engine/models/weights/action_isc.json"))
seg, name = json.loads(sys.argv[1]), sys.argv[2]
levels = [seg] if isinstance(seg, int) else seg
raw = meta["architecture"].pop("raw", None)  # the learned feature alone (the bundled file is fused since the ninth addendum)
meta["embedding"]["dim"] -= raw["size"] if raw else 0
meta["architecture"]["segments"] = seg
meta["embedding"]["dim"] = meta["embedding"]["dim"] * sum(levels)
meta.pop("metrics", None)
meta["name"] = f"action_isc_{name}"
meta["derived_from"] = f"engine/models/weights/action_isc (the same weights; outputs pooled over spans {levels}, joined)"
json.dump(meta, open(sys.argv[3], "w"), indent=1)
PYEOF
  for d in nwucla msr utd_mhad kard; do
    if [ "$split" = val ]; then
      $PY -m engine.cli eval action $out/seq --dataset $d --split val --out $O/${name}_val_$d | tail -n +2
    else
      $PY -m engine.cli eval action $out/seq --dataset $d --protocols knn,linear --out $O/${name}_test_$d | tail -n +2
    fi
  done
done
