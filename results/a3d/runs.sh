#!/usr/bin/env bash
# A3D and its Table VII ablations on KGBD, open world (split 0), then the tracklet protocol for A3D
# and SGE-LA. Two lanes of one thread each (2-core machine). Logs: runs/a3d/*.log.
set -u
cd "$(dirname "$0")/../.."
PY=${PY:-.venv/bin/python}
CFG=trainers/configs/a3d_kgbd.yaml
run() { name=$1; shift; OMP_NUM_THREADS=1 $PY trainers/run.py "$@" out=runs/a3d/$name > runs/a3d/$name.log 2>&1; }
lane1() {
  run open a3d --config $CFG
  run open_random a3d --config $CFG attention=random
  run open_no_rl a3d --config $CFG reinforce=false
  run tracklets a3d --config $CFG protocol=tracklets
}
lane2() {
  run open_none a3d --config $CFG attention=none
  run open_one_step a3d --config $CFG glimpses=1
  run open_no_velocity a3d --config $CFG velocity=false
  # SGE-LA on the tracklet protocol's training walks (the default's input; a 20-minute budget)
  run sge_la_tracklets sge_la --config trainers/configs/sge_la_kgbd.yaml protocol=tracklets upright=true \
    common_joints=true shared_joints=true joint_dropout=0.3 epochs=8 steps_per_epoch=40 patience=8
}
mkdir -p runs/a3d
lane1 & lane2 & wait
