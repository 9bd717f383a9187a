#!/usr/bin/env bash
# Evaluate the A3D runs of runs.sh: raw and whitened (a copy, runs/a3d/NAME/white), eval reid
# (open world or tracklets, bone lengths beside), for the full model also calibration and transfer.
set -eu
cd "$(dirname "$0")/../.."
PY=${PY:-.venv/bin/python}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
for name in "$@"; do
  run=runs/a3d/$name
  cp $run/best.json $run/white.json && cp $run/best.safetensors $run/white.safetensors
  dims=$($PY -c "import json; m = json.load(open('$run/best.json')); print(min(512, m['embedding']['sequence']))")
  $PY -m trainers.whiten $run/white --dims $dims
  $PY -m engine.cli eval reid $run/best --no-recognition -o results/a3d/eval/$name
  $PY -m engine.cli eval reid $run/white --no-recognition -o results/a3d/eval/${name}_white
done
