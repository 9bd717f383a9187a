#!/bin/bash
# The evaluations of issue 15 (docs/RESULTS.md, "CRRL and skeleton BYOL").
# CKPTS="NAME=PATH ..." bash results/ssl15/evaluate.sh   -> results/ssl15/eval/NAME_{val,test}_DATASET/summary.json
# Validation splits of the four datasets (the rule's figures), then the test splits (in domain
# when pretraining read the dataset's training split, else transfer).
set -e
cd "$(dirname "$0")/../.."
E=".venv/bin/python -m engine.cli eval action"
O=results/ssl15/eval
mkdir -p $O
for item in $CKPTS; do
  name=${item%%=*}; ckpt=${item#*=}
  for split in ${SPLITS:-val test}; do
    for d in ${DATASETS:-nwucla msr utd_mhad kard}; do
      [ -f $O/${name}_${split}_$d/summary.json ] && continue
      args=(--split $split); [ $split = test ] && args=(--protocols knn,linear)
      $E $ckpt --dataset $d "${args[@]}" --out $O/${name}_${split}_$d | tail -n +2
    done
  done
done
