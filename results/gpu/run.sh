#!/usr/bin/env bash
# One command for a lent GPU machine (issues 15 and 17; the judging rule: results/gpu/RULE.md).
# On the device tool, from the repository root, carrying .whl (pyzmq, mcap, zstandard, lz4 for the
# machine's Python 3.12) and .gpudata (nwucla.tar.xz from ../shared/data):
#
#   bash results/gpu/run.sh          # figures and checkpoints to $OUT (default /tmp/gpu_out)
#
# Making the carried folders here (both git-ignored through .git/info/exclude):
#   python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
#     --platform manylinux_2_28_x86_64 --platform manylinux_2_26_x86_64 --platform manylinux_2_17_x86_64 \
#     --platform manylinux2014_x86_64 -d .whl pyzmq==27.3.0 mcap==1.6.0 zstandard lz4
#   mkdir -p .gpudata && cp ../shared/data/nwucla.tar.xz .gpudata/
# (the tracked tree, about 36 MiB, and these must stay under the device's 64 MiB)
#
# 1. the engine's GPU curve (results/engine/gpu_bench.sh, 4 s loads), at most 170 s;
# 2. each action method's training throughput through the one trainer, 2 epochs of NW-UCLA each;
# 3. skeleton BYOL at width 1 on NW-UCLA for the time left (epochs from the measured epoch time),
#    kept at 1/3, 2/3 and the end. BUDGET (s, default 540) is the whole script's.
# SMOKE=1 runs every step tiny (for trying the script on a CPU: device=cpu, 1 step per epoch).
set -u
cd "$(dirname "$0")/../.."
OUT="${OUT:-/tmp/gpu_out}"; mkdir -p "$OUT"
T0=$(date +%s); BUDGET="${BUDGET:-540}"
left() { echo $(( BUDGET - ($(date +%s) - T0) )); }
exec > >(tee -a "$OUT/log.txt") 2>&1
if ls .whl/*.whl >/dev/null 2>&1; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
    && export PYTHONPATH=/tmp/site
fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1 TQDM_DISABLE=1
export SKELSTREAM_SHARED_DATA="${SKELSTREAM_SHARED_DATA:-$PWD/.gpudata}" SKELSTREAM_CACHE="${SKELSTREAM_CACHE:-/tmp/skcache}"
PY="${PYTHON:-python3}"
DEV=cuda; TINY=(); BENCH=(BENCH_SECONDS=4 BENCH_WARMUP=2); WIDE=1
if [ "${SMOKE:-0}" = 1 ]; then DEV=cpu; TINY=(steps_per_epoch=1); WIDE=0.25; fi
echo "== $(date -u +%FT%TZ) gpu session script; budget ${BUDGET}s"
nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv 2>/dev/null
nproc; "$PY" -c "import sys, torch, numpy; print('python', sys.version.split()[0], 'torch', torch.__version__, 'numpy', numpy.__version__, 'cuda', torch.cuda.is_available())"
"$PY" -c "from engine.datasets.cache import extract; [print(extract(n, progress=False)) for n in ('nwucla',)]" || exit 1

echo "== 1. engine curve on $DEV ($(left) s left)"
if [ "${SMOKE:-0}" = 1 ]; then
  timeout 120 "$PY" -m engine.cli bench engine --tracks 1 --device cpu --seconds 2 --warmup 1 --json "$OUT/gpu_engine.json"
else
  env "${BENCH[@]}" OUT="$OUT" PYTHON="$PY" timeout 170 bash results/engine/gpu_bench.sh
fi
echo "engine curve: exit $?"

echo "== 2. training throughput, 2 epochs of NW-UCLA each ($(left) s left)"
TP=/tmp/tp; rm -rf $TP
train() {  # NAME SECONDS METHOD CONFIG [key=value ...]
  local name=$1 limit=$2 method=$3 config=$4; shift 4
  echo "-- $name: trainers/run.py $method --config $config $* device=$DEV ${TINY[*]}"
  timeout "$limit" "$PY" trainers/run.py "$method" --config "trainers/configs/$config" "$@" device=$DEV \
      patience=1000 out=$TP/$name "${TINY[@]}" | grep -v '^{"epoch"' ; echo "$name: exit ${PIPESTATUS[0]}"
  "$PY" - "$TP/$name/metrics.json" <<'PY'
import json, sys, statistics
try:
    m = json.load(open(sys.argv[1]))
except OSError:
    sys.exit(f"{sys.argv[1]}: no metrics")
h = m["history"]
print(f"THROUGHPUT {sys.argv[1].split('/')[-2]}: median epoch {statistics.median(r['sequences_per_s'] for r in h):.0f} seq/s; "
      f"epochs {[round(r['sequences_per_s']) for r in h]}; train {m['train_seconds']:.1f} s; device {m['device']}")
PY
}
train isc 75 isc isc_nwucla.yaml epochs=2
train crrl_cml 75 crrl crrl_cml_nwucla.yaml epochs=2
train crrl_step2 75 crrl crrl_nwucla.yaml epochs=2 teacher=$TP/crrl_cml/cml
train byol_w025 75 byol byol_nwucla.yaml epochs=2
train byol_w1 75 byol byol_nwucla.yaml epochs=2 width=$WIDE
train byol_w1_fp32 75 byol byol_nwucla.yaml epochs=2 width=$WIDE amp=false
tar czf "$OUT/throughput.tgz" -C $TP --exclude='*.safetensors' --exclude='*.pt' --exclude=tensorboard . 2>/dev/null

echo "== 3. BYOL width 1, NW-UCLA, for the time left ($(left) s left)"
read -r E S1 S2 < <("$PY" - "$TP/byol_w1/metrics.json" "$(left)" "${SMOKE:-0}" <<'PY'
import json, sys
left, smoke = int(sys.argv[2]), sys.argv[3] == "1"
try:
    m = json.load(open(sys.argv[1])); per = m["train_seconds"] / max(m["epochs"], 1)
except (OSError, KeyError):
    per = 3.0
e = 3 if smoke else max(3, min(300, int((left - 100) / (per * 1.05))))  # 100 s: start, the final validation report, packing
print(e, max(1, e // 3), max(2, 2 * e // 3))
PY
)
W=$(( E / 10 )); [ "$W" -lt 1 ] && W=1
echo "byol long: epochs $E (warm-up $W), snapshots at $S1 and $S2"
L=$(( $(left) - 25 )); [ "$L" -lt 30 ] && L=30
timeout $L "$PY" trainers/run.py byol --config trainers/configs/byol_nwucla.yaml width=$WIDE epochs=$E warmup=$W \
    snapshots=$S1,$S2 device=$DEV patience=1000 out=$TP/byol_long "${TINY[@]}" | grep -v '^{"epoch"'
echo "byol long: exit ${PIPESTATUS[0]}"
"$PY" -c "import json; m = json.load(open('$TP/byol_long/metrics.json')); print('BYOL long:', m['epochs'], 'epochs', round(m['train_seconds']), 's', round(m['sequences_per_s']), 'seq/s; validation', m.get('validation'))" || true
for d in "$TP/byol_long/epoch$S1" "$TP/byol_long/epoch$S2" "$TP/byol_long"; do
  [ -d "$d" ] || continue
  n=$(basename "$d"); [ "$n" = byol_long ] && n="epoch$E"
  tar czf "$OUT/byol_w1_$n.tgz" -C "$d" --exclude=tensorboard --exclude='*.pt' --exclude='epoch*' .
done
ls -la "$OUT"; echo "== done in $(( $(date +%s) - T0 )) s"
