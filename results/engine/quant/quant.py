"""Weight-only int8 / int4 SGE-LA in ONNX Runtime: faster, but the whitened features do not survive.

    python results/engine/quant/quant.py > results/engine/quant/quant.txt

The bundled SGE-LA is exported with each axis's weights as its own 2-D MatMul (numerically the
same graph; ONNX Runtime's MatMulNBits needs 2-D weights), quantized weight-only
(`MatMulNBitsQuantizer`, symmetric, blocks along the input dimension, accuracy level 4: int8
compute), and compared with the float32 export on 512 real KGBD windows: relative error of the
raw encodings, cosine of the whitened matching features to float32's, and one window's time in
a tight loop on one thread (best and median of 5 x 100 calls).
"""
import logging
import tempfile
import time
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch
from onnxruntime.quantization import matmul_nbits_quantizer as mq

from engine.checkpoint import load_gait
from engine.datasets import open_dataset
from engine.datasets.cache import extract
from engine.models import sge_la
from engine.runtime import OPSET, _GaitGraph, example_input

logging.disable(logging.INFO)


def per_axis(model):
    """The export form of `engine.models.sge_la.per_group` (since the sixth session the product's
    own; this script first defined it)."""
    return sge_la.per_group(model)


def export(model, meta, path):
    x = example_input("gait", meta, 3)
    with torch.no_grad():
        prog = torch.onnx.export(_GaitGraph(model).eval(), (x,), dynamo=True, opset_version=OPSET, input_names=["x"],
                                 output_names=["sequence", "attention"], verbose=False,
                                 dynamic_shapes=({0: torch.export.Dim("batch", min=1, max=65536)},))
    prog.save(str(path))


def main():
    torch.set_num_threads(1)
    model, meta = load_gait(None)
    tmp = Path(tempfile.mkdtemp())
    export(model, meta, tmp / "float32.onnx")
    export(per_axis(model), meta, tmp / "axis.onnx")
    variants = {"float32": tmp / "float32.onnx"}
    for bits, block in ((8, 32), (8, 128), (4, 32), (4, 128)):
        q = mq.MatMulNBitsQuantizer(onnx.load(str(tmp / "axis.onnx")), algo_config=mq.DefaultWeightOnlyQuantConfig(
            block_size=block, is_symmetric=True, bits=bits, accuracy_level=4))
        q.process()
        variants[f"int{bits}, block {block}"] = tmp / f"int{bits}_{block}.onnx"
        q.model.save_model_to_file(str(variants[f"int{bits}, block {block}"]))
    ds = open_dataset(extract("kgbd"))
    opts = sge_la.window_options(meta["input"])
    wins = []
    for it in ds.items[:40]:
        s = ds.read(it.path)
        wins.append(sge_la.prepare_windows(s.joints, s.confidence, s.layout, 6, **opts))
    x = np.concatenate(wins)[:512].astype(np.float32)
    with torch.no_grad():
        ref = model.encode(torch.from_numpy(x))["sequence"].numpy()
    refw = model.whitening(ref)
    so = ort.SessionOptions()
    so.intra_op_num_threads = so.inter_op_num_threads = 1
    print("| weights | relative error, raw encodings | whitened cosine to float32: min / median | one window (ms): best / median |")
    print("|---|---|---|---|")
    for name, path in variants.items():
        sess = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
        got = sess.run(None, {"x": x})[0]
        gw = model.whitening(got)
        cos = (gw * refw).sum(1)
        for i in range(20):
            sess.run(None, {"x": x[i:i + 1]})
        times = []
        for _ in range(5):
            t = time.perf_counter()
            for i in range(100):
                sess.run(None, {"x": x[i:i + 1]})
            times.append((time.perf_counter() - t) * 10)
        print(f"| {name} | {np.linalg.norm(got - ref) / np.linalg.norm(ref):.1e} | {cos.min():.3f} / {np.median(cos):.3f} "
              f"| {min(times):.2f} / {np.median(times):.2f} |", flush=True)


if __name__ == "__main__":
    main()
