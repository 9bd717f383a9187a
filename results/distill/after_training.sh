#!/usr/bin/env bash
# After `python trainers/run.py distill --config trainers/configs/distill_kgbd.yaml`: the rule's
# validation figures, then the open-set calibration and the ONNX export the engine needs, then the
# latency side by side (default, student, default, student). Test figures: `run.py test` (once,
# after the choice; RULE.md).
set -euo pipefail
cd "$(dirname "$0")/../.."
S=${S:-runs/distill_kgbd/best}
export OMP_NUM_THREADS=2 TQDM_DISABLE=1
[ -d .venv ] && export PATH="$PWD/.venv/bin:$PATH"
python results/distill/run.py val "$S" 2>&1 | tee results/distill/val.log
skelstream eval calibrate "$S" --write -o results/distill/calibration > results/distill/calibration.log 2>&1
skelstream export "$S" --onnx
for r in 1 2; do
  skelstream bench engine --tracks 1,6 --seconds 15 --json results/distill/bench_default_r$r.json
  skelstream bench engine --tracks 1,6 --seconds 15 --checkpoint "$S" --json results/distill/bench_student_r$r.json
done 2>&1 | tee results/distill/bench.log
