#!/bin/bash
# Semi-supervised protocol of issue 15 on NW-UCLA (5 % and 10 % of the labels; each beside the
# same fine-tuning from random init); BYOL's (10 %, 10 epochs: the CPU's budget) with the distillation
# into a 0.125x student.
cd "$(dirname "$0")/../.."
export OMP_NUM_THREADS=1
E=".venv/bin/python -m engine.cli eval action"
[ -f results/ssl15/eval/crrl_semi_nwucla/summary.json ] || $E runs/crrl_nwucla/crrl --dataset nwucla --protocols semi --fractions 0.05,0.1 --out results/ssl15/eval/crrl_semi_nwucla
$E runs/byol_diag_mbn/byol --dataset nwucla --protocols semi --fractions 0.1 --epochs 10 --student-width 0.125 \
    --out results/ssl15/eval/byol_semi_nwucla
