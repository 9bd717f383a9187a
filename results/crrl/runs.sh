#!/bin/bash
# CRRL runs of issue 15 (one thread each; two queues side by side on the 2-core machine).
set -e
cd "$(dirname "$0")/../.."
export OMP_NUM_THREADS=1
R() { name=$1; shift; .venv/bin/python trainers/run.py crrl "$@" > results/crrl/$name.log 2>&1; }
# NW-UCLA, Table VI rows: CML (step 1), CRRL (step 2 from it), SER alone
R cml_nwucla --config trainers/configs/crrl_cml_nwucla.yaml
R crrl_nwucla --config trainers/configs/crrl_nwucla.yaml
R ser_nwucla --config trainers/configs/crrl_nwucla.yaml fusion=ser teacher= out=runs/crrl_ser_nwucla
# fourth session (results/isc_all/RULE.md, fifth addendum): SER alone with ISC's motion input (not the paper's)
R ser_motion_nwucla --config trainers/configs/crrl_nwucla.yaml fusion=ser teacher= motion=true out=runs/crrl_ser_motion_nwucla
