#!/usr/bin/env bash
# After the fourth addendum of RULE.md: the full model with policy_gradient=head (the default) and
# the velocity ablation with it. One lane, one thread.
set -u
cd "$(dirname "$0")/../.."
PY=${PY:-.venv/bin/python}
CFG=trainers/configs/a3d_kgbd.yaml
run() { name=$1; shift; OMP_NUM_THREADS=1 $PY trainers/run.py "$@" out=runs/a3d/$name > runs/a3d/$name.log 2>&1; }
run open_head a3d --config $CFG
run open_no_velocity a3d --config $CFG velocity=false
