#!/bin/bash
# Skeleton BYOL runs of issue 15 (one thread each; two queues side by side on the 2-core machine).
set -e
cd "$(dirname "$0")/../.."
export OMP_NUM_THREADS=1
R() { name=$1; shift; .venv/bin/python trainers/run.py byol "$@" > results/byol/$name.log 2>&1; }
# NW-UCLA, Table 2 rows: ours (multi-view + asymmetric), without multi-view sampling
R mvs_asym_nwucla --config trainers/configs/byol_nwucla.yaml
R asym_nwucla --config trainers/configs/byol_nwucla.yaml multi_view=false out=runs/byol_asym_nwucla
