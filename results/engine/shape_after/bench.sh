#!/usr/bin/env bash
# Body shape updated after the results went out (eleventh session) against before: the code of
# OLD (a worktree of the commit before, default /tmp/q/old) and of this tree, interleaved rounds
# of the same bench on a quiet machine. JSON and log beside this script.
#   bash results/engine/shape_after/bench.sh [OLD]
set -euo pipefail
OLD=${1:-/tmp/q/old}
NEW=$(cd "$(dirname "$0")/../../.." && pwd)
OUT=$NEW/results/engine/shape_after
export OMP_NUM_THREADS=1 TQDM_DISABLE=1
run() {  # tree name checkpoint-args...
  local tree=$1 name=$2; shift 2
  (cd "$tree" && "$NEW/.venv/bin/python" -m engine.cli bench engine --tracks 1,6 --seconds 15 "$@" --json "$OUT/$name.json")
}
for r in 1 2 3 4; do
  run "$OLD" fast_old_r$r --checkpoint fast
  run "$NEW" fast_new_r$r --checkpoint fast
done
for r in 1 2; do
  run "$OLD" default_old_r$r
  run "$NEW" default_new_r$r
done
