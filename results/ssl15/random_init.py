"""The untrained references of issue 15: CRRL's encoder (2-layer BiGRU, 256 units) and BYOL's
(ST-GCN 0.25x), randomly initialised (seed 0) and saved as checkpoints, so every table shows
what pretraining adds. python results/ssl15/random_init.py -> runs/ssl15/random_{crrl,byol}/enc"""
import torch

from engine.checkpoint import save
from engine.models.action import SKELETON_JOINTS, encoder_from

for name, method, arch in (("random_crrl", "crrl", {"kind": "seq", "hidden": 256, "layers": 2, "dropout": 0.2}),
                           ("random_byol", "byol", {"kind": "stgcn", "width": 0.25})):
    torch.manual_seed(0)
    enc = encoder_from(arch).eval()
    save(f"runs/ssl15/{name}/enc", enc, {
        "method": method, "architecture": arch,
        "input": {"joints": list(SKELETON_JOINTS), "frames": 50, "seconds": 1.0},
        "embedding": {"dim": enc.dim, "normalise": "L2"},
        "training": {"dataset": "", "command": "python results/ssl15/random_init.py (no training: random init, seed 0)"}})
    print(f"runs/ssl15/{name}/enc")
