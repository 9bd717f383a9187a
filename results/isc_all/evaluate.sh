#!/bin/bash
# The evaluations of issue 14's ISC runs (docs/RESULTS.md, "Action pretraining on all the data").
# bash results/isc_all/evaluate.sh [main|loo|all]   (after the runs in docs/RESULTS.md)
set -e
cd "$(dirname "$0")/../.."
E=".venv/bin/python -m engine.cli eval action"
O=results/isc_all/eval
mkdir -p $O
PART=${1:-all}
[ "$PART" = "loo" ] || for ckpt in ${CKPTS:-engine/models/weights/action_isc runs/isc14/random/seq runs/isc14/random_seg4/seq runs/isc14/nwucla/seq runs/isc14/all/seq runs/isc14/all_seg4/seq runs/isc14/all_seg4_mild/seq}; do
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
