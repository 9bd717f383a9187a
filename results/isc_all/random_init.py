"""Randomly initialised encoders saved as checkpoints (no pretraining at all), to judge what
pretraining adds: python results/isc_all/random_init.py -> runs/isc14/random{,_seg4}/seq."""
import torch

from engine.checkpoint import save
from engine.models.action import SKELETON_JOINTS, make_encoder

for name, kwargs in (("random", {"hidden": 128, "motion": True}), ("random_seg4", {"hidden": 128, "motion": True, "segments": 4})):
    torch.manual_seed(0)
    enc = make_encoder("seq", **kwargs)
    save(f"runs/isc14/{name}/seq", enc, {
        "method": "isc", "architecture": {"kind": "seq", **kwargs},
        "input": {"joints": list(SKELETON_JOINTS), "frames": 32, "seconds": 1.0},
        "embedding": {"dim": enc.dim, "normalise": "L2"},
        "training": {"dataset": "", "command": "python results/isc_all/random_init.py (no training: random init, seed 0)"}})
    print(f"runs/isc14/{name}/seq")
