#!/bin/bash
# Skeleton BYOL left-one-dataset-out (issue 15): pretrained on three datasets' training splits,
# judged on the left-out dataset's own protocol (frozen kNN and linear beside kNN on raw coordinates).
set -e
cd "$(dirname "$0")/../.."
export OMP_NUM_THREADS=1
all=(nwucla msr utd_mhad kard)
for out in "${all[@]}"; do
  keep=$(printf "%s\n" "${all[@]}" | grep -vx "$out" | paste -sd,)
  .venv/bin/python trainers/run.py byol --config trainers/configs/byol_all.yaml dataset=$keep \
      out=runs/byol_no_$out > results/byol/byol_no_$out.log 2>&1
  .venv/bin/skelstream eval action runs/byol_no_$out/byol --dataset $out --protocols transfer \
      --out results/ssl15/eval/byol_no_$out > results/byol/eval_byol_no_$out.log 2>&1
done
# MSR Action3D alone (in domain), the budget of byol_nwucla.yaml (one camera: no multi-view pairs)
.venv/bin/python trainers/run.py byol --config trainers/configs/byol_nwucla.yaml dataset=msr multi_view=false \
    out=runs/byol_msr > results/byol/byol_msr.log 2>&1
