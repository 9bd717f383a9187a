#!/usr/bin/env bash
# A3D (whitened, calibrated on its training walks) and the bundled SGE-LA default where they never
# trained: KARD's walks, NW-UCLA a04 across views, KGBD held-out people with fewer joints.
set -eu
cd "$(dirname "$0")/../.."
PY=${PY:-.venv/bin/python}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
$PY -m engine.cli eval calibrate runs/a3d/open_head/white --write > runs/a3d/calibrate_open_head.log
$PY -m engine.cli eval transfer runs/a3d/open_head/white -o results/a3d/transfer/a3d
$PY -m engine.cli eval transfer -o results/a3d/transfer/sge_la_default
