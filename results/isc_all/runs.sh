#!/bin/bash
# The training runs of issue 14 (2-core CPU, about 4 min each), logs in results/isc_all/NAME.log.
cd "$(dirname "$0")/../.."
R=results/isc_all
run() { name=$1; shift; .venv/bin/python trainers/run.py isc "$@" out=runs/isc14/$name > $R/$name.log 2>&1; }
run nwucla --config trainers/configs/isc_nwucla.yaml
run all --config trainers/configs/isc_all.yaml
run no_nwucla --config trainers/configs/isc_all.yaml dataset=msr,utd_mhad,kard
run no_msr --config trainers/configs/isc_all.yaml dataset=nwucla,utd_mhad,kard
run no_utd_mhad --config trainers/configs/isc_all.yaml dataset=nwucla,msr,kard
run no_kard --config trainers/configs/isc_all.yaml dataset=nwucla,msr,utd_mhad
# added after the first validation figures (RULE.md, addendum)
run all_seg4 --config trainers/configs/isc_all.yaml seq_segments=4
run all_seg4_mild --config trainers/configs/isc_all.yaml seq_segments=4 shear=0.2 l_min=0.8
# leave-one-dataset-out with seq_segments=4 (a lead, after the choice)
run seg4_no_nwucla --config trainers/configs/isc_all.yaml seq_segments=4 dataset=msr,utd_mhad,kard
run seg4_no_msr --config trainers/configs/isc_all.yaml seq_segments=4 dataset=nwucla,utd_mhad,kard
run seg4_no_utd_mhad --config trainers/configs/isc_all.yaml seq_segments=4 dataset=nwucla,msr,kard
run seg4_no_kard --config trainers/configs/isc_all.yaml seq_segments=4 dataset=nwucla,msr,utd_mhad
.venv/bin/python results/isc_all/random_init.py   # untrained encoders, the reference for what pretraining adds
run all_seg2 --config trainers/configs/isc_all.yaml seq_segments=2   # second addendum
