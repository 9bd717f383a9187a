#!/bin/bash
# The evaluations of issue 14's ISC runs (docs/RESULTS.md, "Action pretraining on all the data").
# bash results/isc_all/evaluate.sh [main|loo|all]   (after the runs in docs/RESULTS.md)
set -e
cd "$(dirname "$0")/../.."
E=".venv/bin/python -m engine.cli eval action"
O=results/isc_all/eval
mkdir -p $O
PART=${1:-all}
# the bundled weights as issue 14 judged them: the learned feature alone (the bundled file is
# fused with the raw trajectory since the ninth addendum of RULE.md; fused.sh evaluates that)
mkdir -p runs/isc14/action_isc
cp engine/models/weights/action_isc.safetensors runs/isc14/action_isc/seq.safetensors
.venv/bin/python - <<'PYEOF'
import json
meta = json.load(open("engine/models/weights/action_isc.json"))
raw = meta["architecture"].pop("raw", None)
meta["embedding"]["dim"] -= raw["size"] if raw else 0
meta["name"] = "action_isc"
json.dump(meta, open("runs/isc14/action_isc/seq.json", "w"), indent=1)
PYEOF
[ "$PART" = "loo" ] || for ckpt in ${CKPTS:-runs/isc14/action_isc/seq runs/isc14/random/seq runs/isc14/random_seg4/seq runs/isc14/nwucla/seq runs/isc14/all/seq runs/isc14/all_seg4/seq runs/isc14/all_seg4_mild/seq}; do
  name=$(echo $ckpt | sed 's#engine/models/weights/##; s#runs/isc14/##; s#/seq##')
  for d in nwucla msr utd_mhad kard; do
    # validation split inside the training split: the rule's figures
    $E $ckpt --dataset $d --split val --out $O/${name}_val_$d | tail -n +2
    # test split: in domain when pretraining read the dataset's training split, else transfer
    $E $ckpt --dataset $d --protocols knn,linear --out $O/${name}_test_$d | tail -n +2
  done
done
[ "$PART" = "main" ] || for d in nwucla msr utd_mhad kard; do
  for prefix in "" seg4_; do  # ISC as isc_all.yaml, and with seq_segments=4
    $E runs/isc14/${prefix}no_$d/seq --dataset $d --protocols transfer --out $O/${prefix}no_${d}_transfer_$d | tail -n +2
  done
done
