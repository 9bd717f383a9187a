#!/bin/bash
# CRRL left-one-dataset-out (issue 15): both steps on three datasets' training splits, then the
# left-out dataset's own protocol (frozen kNN and linear beside kNN on raw coordinates).
set -e
cd "$(dirname "$0")/../.."
export OMP_NUM_THREADS=1
# MSR Action3D alone (in domain: its training split, then its test split), both steps
.venv/bin/python trainers/run.py crrl --config trainers/configs/crrl_cml_nwucla.yaml dataset=msr \
    out=runs/crrl_cml_msr > results/crrl/cml_msr.log 2>&1
.venv/bin/python trainers/run.py crrl --config trainers/configs/crrl_nwucla.yaml dataset=msr \
    teacher=runs/crrl_cml_msr/cml out=runs/crrl_msr > results/crrl/crrl_msr.log 2>&1
all=(nwucla msr utd_mhad kard)
for out in "${all[@]}"; do
  keep=$(printf "%s\n" "${all[@]}" | grep -vx "$out" | paste -sd,)
  .venv/bin/python trainers/run.py crrl --config trainers/configs/crrl_cml_all.yaml dataset=$keep \
      out=runs/crrl_cml_no_$out > results/crrl/cml_no_$out.log 2>&1
  .venv/bin/python trainers/run.py crrl --config trainers/configs/crrl_all.yaml dataset=$keep \
      teacher=runs/crrl_cml_no_$out/cml out=runs/crrl_no_$out > results/crrl/crrl_no_$out.log 2>&1
  .venv/bin/skelstream eval action runs/crrl_no_$out/crrl --dataset $out --protocols transfer \
      --out results/ssl15/eval/crrl_no_$out > results/crrl/eval_crrl_no_$out.log 2>&1
done
