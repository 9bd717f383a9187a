"""RULE.md's runs: the body-shape descriptor `mean` (today's: each left/right pair the mean of its
two sides) against `near` (each pair from the side nearer the sensor, frame by frame), both fused
with the bundled gait features as the system does.

    python results/transfer/near/run.py val    # the rule's validation figures -> val.json
    python results/transfer/near/run.py test   # once, after the choice -> test.json

The domains, splits and figures are the stepping rule's (results/transfer/gate/run.py, its
`run` with this `Experiment`): its `encode` gives the system's Encoded sequences, and both
descriptors are made here from the same sequences.
"""
import importlib.util
import json
import sys
from pathlib import Path

import numpy as np

from engine.shape import _LEFT, _RIGHT, _UNPAIRED, BONES, RIGID, describe, frame_lengths, median_lengths, shape_scores
from engine.skeleton import to_canonical
from trainers.evaluate.transfer import Encoded, closed_set

HERE = Path(__file__).parent
spec = importlib.util.spec_from_file_location("gate_run", HERE.parent / "gate" / "run.py")
gate = importlib.util.module_from_spec(spec)
spec.loader.exec_module(gate)


def _rows(seq):
    """Per-frame bone and rigid lengths (without the near-side columns `frame_lengths` has since)."""
    j, c, _ = to_canonical(seq.joints, seq.confidence, seq.layout)
    return frame_lengths(j, c)[:, :len(BONES) + len(RIGID)]


def mean_descriptor(seq) -> np.ndarray:
    """RULE.md's `mean` descriptor (the product's until this rule adopted `near`)."""
    med = median_lengths(_rows(seq))
    bones, extra = med[:len(BONES)], med[len(BONES):]
    left, right = bones[_LEFT], bones[_RIGHT]
    pairs = np.where(np.isnan(left), right, np.where(np.isnan(right), left, (left + right) / 2))
    return np.concatenate([pairs, bones[_UNPAIRED], extra]).astype(np.float32)


def near_descriptor(seq) -> np.ndarray:
    """RULE.md's `near` descriptor: the product's since it was adopted (`engine.shape.describe`;
    the first runs computed it in this file, equal to 1e-7 on the KARD, KGBD, NW-UCLA and UTD-MHAD
    sequences compared)."""
    return describe(seq.joints, seq.confidence, seq.layout)


def with_shapes(enc: Encoded, seqs, descriptor) -> Encoded:
    return Encoded(enc.person, enc.group, enc.emb, enc.bones, enc.seconds, np.stack([descriptor(s) for s in seqs]),
                   enc.family)


def encode(model, meta, seqs, person, group, desc, family=None) -> dict:
    plain = gate.encode(model, meta, seqs, person, group, desc, family)["plain"]
    return {"mean": with_shapes(plain, seqs, mean_descriptor), "near": with_shapes(plain, seqs, near_descriptor)}


def figures(probe: Encoded, gallery: Encoded) -> dict:
    """The gate run's figures (system, gait alone, bone lengths) and shape alone."""
    return gate.figures(probe, gallery) | {
        "shape": closed_set(shape_scores(probe.shape, gallery.shape, gallery.person), probe.person, gallery.person)["rank1"]}


def main():
    which = sys.argv[1] if len(sys.argv) > 1 else "val"
    res = gate.run(which, gate.Experiment(encode=encode, figures=figures, extra=dict, reset=lambda: None))
    if which == "val":
        res["rule"] = {c: float(np.mean([v[c]["fused"] for v in res.values()])) for c in ("mean", "near")}
        print("mean fused over the five: " + "  ".join(f"{c} {x:.2f}" for c, x in res["rule"].items()))
    (HERE / f"{which}.json").write_text(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
