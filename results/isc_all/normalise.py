"""RULE.md's sixth addendum: the bundled action default's frozen features normalised before kNN.

    python results/isc_all/normalise.py val    # the rule's figures -> normalise_val.json
    python results/isc_all/normalise.py test   # once, after the choice -> normalise_test.json

kNN / linear / raw-coordinate kNN per dataset, in %. Normalisers are fitted without labels:
on the checkpoint's pretraining clips (NW-UCLA's training split) or on the kNN's reference clips
(the protocol's training split, or its fit part for ``val``).
"""
import json
import sys
from pathlib import Path

import numpy as np
import torch

from engine.checkpoint import load_action
from engine.models.action import weights_module
from trainers.action_data import load_protocol
from trainers.evaluate.action import features, knn_accuracy, linear_accuracy, raw_knn_accuracy

HERE = Path(__file__).parent
DATASETS = ("nwucla", "msr", "utd_mhad", "kard")
CANDIDATES = ("none", "center", "standard", "center_gallery", "standard_gallery")


def normaliser(name: str, pretrain: np.ndarray, gallery: np.ndarray):
    ref = pretrain if name in ("center", "standard") else gallery
    mean = ref.mean(0)
    std = ref.std(0) + 1e-6 if name.startswith("standard") else 1.0
    return (lambda f: f) if name == "none" else (lambda f: (f - mean) / std)


def main():
    torch.set_num_threads(2)
    split = sys.argv[1] if len(sys.argv) > 1 else "val"
    encoder, meta = load_action(None)
    encoder = weights_module(encoder)  # the learned feature alone (the bundled default is fused since the ninth addendum)
    frames = int(meta["input"]["frames"])
    pre, _ = load_protocol("nwucla", frames, False, "test")  # the pretraining clips: NW-UCLA's training split
    pre_f = features(encoder, pre.x, "cpu")
    out = {}
    for d in DATASETS:
        tr, te = load_protocol(d, frames, False, split)
        ftr, fte = features(encoder, tr.x, "cpu"), features(encoder, te.x, "cpu")
        row = {"linear": linear_accuracy(ftr, tr.label, fte, te.label), "raw_knn": raw_knn_accuracy(tr, te)}
        for c in CANDIDATES:
            n = normaliser(c, pre_f, ftr)
            row[c] = knn_accuracy(n(ftr), tr.label, n(fte), te.label)
        out[d] = row
        print(d, " ".join(f"{k} {v:.1f}" for k, v in row.items()), flush=True)
    out["score"] = {c: float(np.mean([(out[d][c] + out[d]["linear"]) / 2 for d in DATASETS])) for c in CANDIDATES}
    print("rule score", " ".join(f"{c} {v:.1f}" for c, v in out["score"].items()))
    (HERE / f"normalise_{split}.json").write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
