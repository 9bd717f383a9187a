#!/usr/bin/env bash
# The engine's GPU benchmark, one command, JSON out (issue 17, item 3): the most tracks at 30 Hz
# whose end-to-end p99 stays under 25 ms, PyTorch and ONNX Runtime side by side, on CUDA.
#
#   bash results/engine/gpu_bench.sh            # writes $OUT/gpu_engine.json (OUT defaults to results/engine)
#   BENCH_SECONDS=5 BENCH_WARMUP=2 bash ...     # shorter loads (default 10 s after 3 s of warm-up)
#
# Run from the repository root on a machine with an NVIDIA GPU and the project's packages
# (torch with CUDA; onnxruntime-gpu for the ONNX rows). Nothing is installed: without network
# (the lent device machines) it runs on what the machine's Python has, and says what is missing.
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT="${OUT:-results/engine}"
mkdir -p "$OUT"
PY="${PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3 )}"
"$PY" - <<'PY'
import importlib.util, sys
missing = [m for m in ("torch", "numpy", "zmq", "msgpack", "safetensors", "scipy", "yaml") if importlib.util.find_spec(m) is None]
if missing:
    sys.exit(f"gpu_bench: missing Python packages: {', '.join(missing)} (pip install -e . where there is network)")
import torch
if not torch.cuda.is_available():
    sys.exit(f"gpu_bench: torch {torch.__version__} sees no CUDA device")
print(f"gpu_bench: torch {torch.__version__}, {torch.cuda.get_device_name(0)}", flush=True)
try:
    import onnxruntime as ort
    print(f"gpu_bench: onnxruntime {ort.__version__}, providers {ort.get_available_providers()}", flush=True)
except ImportError:
    print("gpu_bench: no onnxruntime: PyTorch rows only", flush=True)
PY
BACKENDS=torch
"$PY" -c "import onnxruntime as o, sys; sys.exit('CUDAExecutionProvider' not in o.get_available_providers())" 2>/dev/null && BACKENDS=torch,onnx
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv > "$OUT/gpu_info.csv" 2>/dev/null || true
"$PY" -m engine.cli bench engine --curve --device cuda --backend "$BACKENDS" --limit-ms 25 --threads 1 \
    --seconds "${BENCH_SECONDS:-10}" --warmup "${BENCH_WARMUP:-3}" --json "$OUT/gpu_engine.json"
