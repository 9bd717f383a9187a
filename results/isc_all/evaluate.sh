#!/bin/bash
# The evaluations of issue 14's ISC runs (docs/RESULTS.md, "Action pretraining on all the data").
# bash results/isc_all/evaluate.sh   (after the runs of results/isc_all/README.md)
set -e
cd "$(dirname "$0")/../.."
E=".venv/bin/python -m engine.cli eval action"
O=results/isc_all/eval
mkdir -p $O
for ckpt in engine/models/weights/action_isc runs/isc14/nwucla/seq runs/isc14/all/seq; do
  name=$(echo $ckpt | sed 's#engine/models/weights/##; s#runs/isc14/##; s#/seq##')
  for d in nwucla msr utd_mhad kard; do
    # validation split inside the training split: the rule's figures
    $E $ckpt --dataset $d --split val --out $O/${name}_val_$d | tail -n +2
    # test split: in domain when pretraining read the dataset's training split, else transfer
    $E $ckpt --dataset $d --protocols knn,linear --out $O/${name}_test_$d | tail -n +2
  done
done
for d in nwucla msr utd_mhad kard; do
  $E runs/isc14/no_$d/seq --dataset $d --protocols transfer --out $O/no_${d}_transfer_$d | tail -n +2
done
