"""SGE-LA on ONNX Runtime, one thread: the grouped (3-D) weights of the old export against one
2-D product per axis (`engine.models.sge_la.per_group`, the export since the sixth session), per
batch size, plain and side-symmetric (which runs twice the windows). Median ms of 5 interleaved
rounds of 60 calls; the max abs difference of every output to PyTorch on 12 windows.

    OMP_NUM_THREADS=1 python results/engine/axis/ort_batch.py > results/engine/axis/ort_batch.txt
"""
import tempfile
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch

from engine.checkpoint import load_gait
from engine.models.sge_la import per_group
from engine.runtime import OPSET, _GaitGraph, example_input

BATCHES = (1, 2, 4, 6, 12)


def export(model, meta, path):
    x = example_input("gait", meta, 3)
    with torch.no_grad():
        prog = torch.onnx.export(_GaitGraph(model).eval(), (x,), dynamo=True, opset_version=OPSET, input_names=["x"],
                                 output_names=list(_GaitGraph.outputs(model)), verbose=False, optimize=True,
                                 dynamic_shapes=({0: torch.export.Dim("batch", min=1, max=65536)},))
    prog.save(str(path))


def session(path):
    o = ort.SessionOptions()
    o.intra_op_num_threads, o.inter_op_num_threads = 1, 1
    o.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(str(path), o, providers=["CPUExecutionProvider"])


def main():
    torch.set_num_threads(1)
    tmp = Path(tempfile.mkdtemp())
    sym, meta = load_gait(None)
    models = {"plain": sym.model, "symmetric": sym}
    sessions = {}
    for name, model in models.items():
        for form, m in (("3-D (old)", model), ("2-D per axis (new)", per_group(model))):
            path = tmp / f"{name}-{form[:3]}.onnx"
            export(m, meta, path)
            sessions[(name, form)] = s = session(path)
            x = example_input("gait", meta, 12)
            with torch.no_grad():
                ref = [t.numpy() for t in _GaitGraph(model)(x)]
            got = s.run(None, {"x": x.numpy()})
            print(f"{name:9s} {form:20s} max abs difference to PyTorch {max(np.abs(a - b).max() for a, b in zip(got, ref)):.1e}")
    xs = {b: example_input("gait", meta, b).numpy() for b in BATCHES}
    times = {k: {b: [] for b in BATCHES} for k in sessions}
    for _ in range(5):
        for k, s in sessions.items():
            for b in BATCHES:
                for _ in range(5):
                    s.run(None, {"x": xs[b]})
                t = []
                for _ in range(60):
                    t0 = time.perf_counter()
                    s.run(None, {"x": xs[b]})
                    t.append(time.perf_counter() - t0)
                times[k][b].append(1e3 * float(np.median(t)))
    print("\n| encoder | weights | " + " | ".join(f"batch {b}" for b in BATCHES) + " |")
    print("|---|---|" + "---|" * len(BATCHES))
    for (name, form), row in times.items():
        print(f"| {name} | {form} | " + " | ".join(f"{np.median(v):.2f}" for v in row.values()) + " |")
    print("\nms per call (median of the rounds' medians); a symmetric batch of b windows runs 2b through the encoder")


if __name__ == "__main__":
    main()
