#!/usr/bin/env bash
# A3D with ST-GCN streams (the first four units of skeleton BYOL's ST-GCN, width 0.25): from the
# self-supervised BYOL checkpoint of issue 15 (NW-UCLA, no labels) and from scratch.
set -u
cd "$(dirname "$0")/../.."
PY=${PY:-.venv/bin/python}
CFG=trainers/configs/a3d_kgbd.yaml
BYOL=${BYOL:-runs/export/action_byol_nwucla}   # python -m trainers.export runs/byol_nwucla/stgcn --out runs/export/action_byol_nwucla
run() { name=$1; shift; OMP_NUM_THREADS=1 $PY trainers/run.py "$@" out=runs/a3d/$name > runs/a3d/$name.log 2>&1; }
run open_stgcn_byol a3d --config $CFG backbone=stgcn init=$BYOL
run open_stgcn a3d --config $CFG backbone=stgcn
