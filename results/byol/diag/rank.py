"""Effective rank (exp-free participation ratio (sum s)^2 / sum s^2 of the centred features'
singular values) of action checkpoints on NW-UCLA's validation clips: a collapse detector.
python results/byol/diag/rank.py CKPT..."""
import sys

import numpy as np
import torch

from engine.checkpoint import load_action
from trainers.action_data import load_protocol

_, val = load_protocol("nwucla", 50, False, "val")
for ckpt in sys.argv[1:]:
    enc, meta = load_action(ckpt)
    with torch.no_grad():
        f = enc(torch.from_numpy(val.x)).numpy()
    s = np.linalg.svd(f - f.mean(0), compute_uv=False)
    print(f"{ckpt}: effective rank {s.sum() ** 2 / (s ** 2).sum():.1f} of {f.shape[1]} dims "
          f"(epoch {meta.get('metrics', {}).get('epoch', '-')})")
