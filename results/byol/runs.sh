#!/bin/bash
# Skeleton BYOL runs of issue 15 (one thread each; two queues side by side on the 2-core machine).
set -e
cd "$(dirname "$0")/../.."
export OMP_NUM_THREADS=1
R() { name=$1; shift; .venv/bin/python trainers/run.py byol "$@" > results/byol/$name.log 2>&1; }
# First run (then the default budget): 60 epochs, 5 of warm-up; it collapsed (docs/RESULTS.md)
# R mvs_asym_nwucla --config trainers/configs/byol_nwucla.yaml epochs=60 warmup=5 patience=60 out=runs/byol_nwucla
# (then, after the keep="last" fix: ... --resume, which writes the last epoch's weights)
# Diagnostics, 10 epochs: results/byol/diag/run.sh (momentum BN, the default, and plain BN in the target)
# NW-UCLA, Table 2's rows at 10 epochs (ours = results/byol/diag/mbn.log, runs/byol_diag_mbn)
R no_mvs_nwucla --config trainers/configs/byol_nwucla.yaml multi_view=false out=runs/byol_no_mvs_nwucla
R aggressive_nwucla --config trainers/configs/byol_nwucla.yaml pipelines=aggressive out=runs/byol_aggressive_nwucla
R conservative_nwucla --config trainers/configs/byol_nwucla.yaml pipelines=conservative out=runs/byol_conservative_nwucla
