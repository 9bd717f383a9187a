#!/bin/bash
# Hunting BYOL's dimensional collapse on NW-UCLA (10-epoch diagnostics, validation split only).
cd "$(dirname "$0")/../../.."
export OMP_NUM_THREADS=1
for v in "mbn momentum_bn=true" "bn momentum_bn=false"; do
  set -- $v; name=$1; shift
  .venv/bin/python trainers/run.py byol --config trainers/configs/byol_nwucla.yaml epochs=10 warmup=1 "$@" \
      out=runs/byol_diag_$name > results/byol/diag/$name.log 2>&1
done
