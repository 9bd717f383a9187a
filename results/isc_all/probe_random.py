"""Untrained BiGRU encoders of several shapes on the four validation splits (no training, seed 0):
which pooling keeps NW-UCLA's linear figure while beating raw coordinates elsewhere? A lead for
the next runs. python results/isc_all/probe_random.py"""
import torch

from engine.models.action import make_encoder
from trainers.action_data import load_protocol
from trainers.evaluate.action import evaluate_features, raw_knn_accuracy

data = {d: load_protocol(d, 32, progress=False, split="val") for d in ("nwucla", "msr", "utd_mhad", "kard")}
for hidden, segments in ((128, 1), (128, 2), (128, 4), (64, 4), (64, 2)):
    torch.manual_seed(0)
    enc = make_encoder("seq", hidden=hidden, motion=True, segments=segments).eval()
    cells = []
    for d, (fit, val) in data.items():
        r = evaluate_features(enc, fit, val, "cpu")
        cells.append(f"{d} {r['knn']:.1f}/{r['linear']:.1f}/{raw_knn_accuracy(fit, val):.1f}")
    print(f"hidden {hidden} segments {segments} (dim {enc.dim}): " + "; ".join(cells), flush=True)
