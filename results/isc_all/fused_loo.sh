#!/bin/bash
# Leave one dataset out, with the ninth addendum's fusion (RULE.md): ISC pretrained on the other
# three datasets (`isc_all.yaml dataset=...`, the issue-14 recipe, about 4 min a run), its feature
# fused with the raw trajectory at w = 0.25 as the default, judged on the left-out dataset
# (`--protocols transfer`, test split). Reported; it chooses nothing.
#   bash results/isc_all/fused_loo.sh [DATASET...]   (default: all four)
set -e
cd "$(dirname "$0")/../.."
PY=.venv/bin/python
R=results/isc_all
all="nwucla msr utd_mhad kard"
for left in ${@:-$all}; do
  rest=$(echo $all | tr ' ' '\n' | grep -vx "$left" | paste -sd, -)
  run=runs/isc14/no_$left
  [ -f $run/seq.json ] || $PY trainers/run.py isc --config trainers/configs/isc_all.yaml dataset=$rest out=$run > $R/fused_no_$left.train.log 2>&1
  $PY - $run/seq.json $run/fused25.json <<'PYEOF'
import json, sys
meta = json.load(open(sys.argv[1]))
size = meta["input"]["frames"] * len(meta["input"]["joints"]) * 3
meta["architecture"]["raw"] = {"weight": 0.25, "size": size}
meta["embedding"]["dim"] += size
meta["name"] = meta.get("name", "seq") + "_fused25"
json.dump(meta, open(sys.argv[2], "w"), indent=1)
PYEOF
  cp $run/seq.safetensors $run/fused25.safetensors
  for ck in seq fused25; do
    echo "== $left left out, $ck"
    $PY -m engine.cli eval action $run/$ck --dataset $left --protocols transfer --out $R/eval/loo_${ck}_$left | tail -n +2
  done
done
