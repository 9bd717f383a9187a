"""RULE.md's runs: walk embeddings with each window weighted by 1 / m^p (m: its whitened norm,
how far it lies from the checkpoint's training windows), p in {0 (today's), 1, 2}, from one
encoding pass per sequence.

    python results/transfer/quality/run.py val    # the rule's validation figures -> val.json
    python results/transfer/quality/run.py test   # once, after the choice -> test.json

The domains, splits and figures are the stepping rule's (results/transfer/gate/run.py, its `run`
with this `Experiment`): per domain, the system's fused Rank-1, gait alone and bone lengths.
"""
import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import torch

from engine.embed import unit, window_features
from engine.sequence import resample
from engine.models.sge_la import prepare_windows, window_options

HERE = Path(__file__).parent
spec = importlib.util.spec_from_file_location("gate_run", HERE.parent / "gate" / "run.py")
gate = importlib.util.module_from_spec(spec)
spec.loader.exec_module(gate)
transfer = gate.transfer
POWERS = (0, 1, 2)  # today's first
EXTRA: dict[int, list] = {p: [] for p in POWERS}  # the candidates' embeddings, in encoding order
SPREAD: list[float] = []  # per sequence: max / min window weight at p = 1


def whitened_norms(model, encodings: np.ndarray) -> np.ndarray:
    """m [N]: the norm of each window's whitened encoding before it is normalised (RMS of the
    window's and its mirror image's for a side-symmetric encoder)."""
    w = model.whitening
    norm = lambda x: np.linalg.norm((unit(x) - w.mean) @ w.proj, axis=1)  # noqa: E731
    if getattr(model, "symmetric", False):
        d = encodings.shape[1] // 2
        return np.sqrt((norm(encodings[:, :d]) ** 2 + norm(encodings[:, d:]) ** 2) / 2)
    return norm(encodings)


@torch.no_grad()
def embedding(model, meta, seq):
    """`engine.embed.gait_embedding`'s windows and features; on the side, each candidate's walk
    embedding."""
    f = int(meta["input"]["window"])
    s = resample(seq, float(meta["input"].get("fps", seq.fps)))
    windows = prepare_windows(s.joints, s.confidence, s.layout, f, **window_options(meta["input"]))
    out = model.encode(torch.from_numpy(windows))["sequence"].float().numpy()
    feats, m = window_features(model, out), whitened_norms(model, out)
    for p in POWERS:
        EXTRA[p].append(unit((feats / m[:, None] ** p).sum(0)))
    SPREAD.append(float(m.max() / m.min()))
    return unit(feats.mean(0)), feats


transfer.gait_embedding = embedding


def encode(model, meta, seqs, person, group, desc, family=None) -> dict:
    for v in EXTRA.values():
        v.clear()
    enc = transfer.encode_sequences(model, meta, seqs, person, group, desc, family)
    assert np.allclose(np.stack(EXTRA[0]), enc.emb, atol=1e-5)  # p = 0 is today's embedding
    return {f"p{p}": transfer.Encoded(enc.person, enc.group, np.stack(EXTRA[p]), enc.bones, enc.seconds, enc.shape,
                                      enc.family) for p in POWERS}


def main():
    which = sys.argv[1] if len(sys.argv) > 1 else "val"
    exp = gate.Experiment(encode=encode, figures=gate.figures,
                          extra=lambda: {"weight_spread_p1": float(np.median(SPREAD))}, reset=SPREAD.clear)
    res = gate.run(which, exp)
    if which == "val":
        res["rule"] = {f"p{p}": float(np.mean([v[f"p{p}"]["fused"] for k, v in res.items()])) for p in POWERS}
        print("mean fused over the five: " + "  ".join(f"{c} {x:.2f}" for c, x in res["rule"].items()))
    (HERE / f"{which}.json").write_text(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
