#!/bin/bash
# CRRL on all four datasets' training splits (both steps), then its validation and test figures.
set -e
cd "$(dirname "$0")/../.."
.venv/bin/python trainers/run.py crrl --config trainers/configs/crrl_cml_all.yaml > results/crrl/cml_all.log 2>&1
.venv/bin/python trainers/run.py crrl --config trainers/configs/crrl_all.yaml > results/crrl/crrl_all.log 2>&1
CKPTS="crrl_all=runs/crrl_all/crrl" results/ssl15/evaluate.sh > results/ssl15/eval_crrl_all.log 2>&1
