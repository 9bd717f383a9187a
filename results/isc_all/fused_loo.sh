#!/bin/bash
# Leave one dataset out, with the ninth addendum's fusion (RULE.md): ISC pretrained on the other
# three datasets (`isc_all.yaml dataset=...`, the issue-14 recipe, about 4 min a run), its feature
# fused with the raw trajectory at w = 0.25 as the default, judged on the left-out dataset
# (`--protocols transfer`, test split). Reported; it chooses nothing.
#   [SEGMENTS=4] bash results/isc_all/fused_loo.sh [DATASET...]   (default: all four)
# SEGMENTS (tenth addendum): the learned part pooled over that many spans, as the default since.
set -e
cd "$(dirname "$0")/../.."
PY=.venv/bin/python
R=results/isc_all
all="nwucla msr utd_mhad kard"
for left in ${@:-$all}; do
  rest=$(echo $all | tr ' ' '\n' | grep -vx "$left" | paste -sd, -)
  run=runs/isc14/no_$left
  [ -f $run/seq.json ] || $PY trainers/run.py isc --config trainers/configs/isc_all.yaml dataset=$rest out=$run > $R/fused_no_$left.train.log 2>&1
  seg=${SEGMENTS:-1}; fused=fused25$([ "$seg" = 1 ] || echo _seg$seg)
  $PY - $run/seq.json $run/$fused.json $seg <<'PYEOF'
import json, sys
meta = json.load(open(sys.argv[1]))
seg = int(sys.argv[3])
size = meta["input"]["frames"] * len(meta["input"]["joints"]) * 3
if seg != 1:
    meta["architecture"]["segments"] = seg
meta["architecture"]["raw"] = {"weight": 0.25, "size": size}
meta["embedding"]["dim"] = meta["embedding"]["dim"] * seg + size
meta["name"] = meta.get("name", "seq") + "_" + sys.argv[2].rsplit("/", 1)[-1].removesuffix(".json")
json.dump(meta, open(sys.argv[2], "w"), indent=1)
PYEOF
  cp $run/seq.safetensors $run/$fused.safetensors
  for ck in $([ "$seg" = 1 ] && echo seq) $fused; do
    echo "== $left left out, $ck"
    $PY -m engine.cli eval action $run/$ck --dataset $left --protocols transfer --out $R/eval/loo_${ck}_$left | tail -n +2
  done
done
