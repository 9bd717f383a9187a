"""Batch-1 SGE-LA window on ONNX Runtime: 1 vs 2 intra-op threads, interleaved rounds (median ms).

    .venv/bin/python results/engine/threads/ort_threads.py   (after one `skelstream engine --backend onnx`, which exports the model)
"""
import time, numpy as np, onnxruntime as ort
from pathlib import Path
f = sorted(Path.home().glob(".cache/skelstream/onnx/gait_sge_la-*.onnx"))[0]
sess = {}
for th in (1, 2):
    o = ort.SessionOptions(); o.intra_op_num_threads = th; o.inter_op_num_threads = 1
    o.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    sess[th] = ort.InferenceSession(str(f), o, providers=["CPUExecutionProvider"])
inp = sess[1].get_inputs()[0]; print(inp.name, inp.shape)
shape = [1 if not isinstance(d, int) else d for d in inp.shape]
x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
outs = [o.name for o in sess[1].get_outputs()]
res = {1: [], 2: []}
for r in range(5):
    for th in (1, 2):
        for _ in range(20): sess[th].run(outs, {inp.name: x})
        t = []
        for _ in range(200):
            t0 = time.perf_counter(); sess[th].run(outs, {inp.name: x}); t.append(time.perf_counter() - t0)
        res[th].append(1e3 * float(np.median(t)))
for th in (1, 2): print(f"threads {th}: median of rounds {np.median(res[th]):.2f} ms; rounds {[round(v, 2) for v in res[th]]}")
