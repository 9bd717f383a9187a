"""Gait embeddings of whole sequences: window encodings and their L2-normalised mean."""

from __future__ import annotations

import numpy as np
import torch

from engine.models.sge_la import prepare_windows, window_options
from engine.sequence import SkeletonDataError, SkeletonSequence


def unit(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit L2 norm."""
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


@torch.no_grad()
def gait_embedding(model, meta: dict, seq: SkeletonSequence, batch: int = 512) -> tuple[np.ndarray, np.ndarray]:
    """``(embedding [D], window embeddings [M, D])`` of one sequence.

    The sequence is cut into the checkpoint's windows (non-overlapping, f frames); each window's
    sequence-level encoding is L2-normalised and the embedding is their normalised mean.
    """
    f = int(meta["input"]["window"])
    windows = prepare_windows(seq.joints, seq.confidence, seq.layout, f, **window_options(meta["input"]))
    if len(windows) == 0:
        raise SkeletonDataError(f"{seq.meta.get('source', '<sequence>')}: {len(seq)} frames, "
                                f"fewer than the gait window of {f}")
    device = next(model.parameters()).device
    out = np.concatenate([model.encode(torch.from_numpy(windows[s:s + batch]).to(device))["sequence"].float().cpu().numpy()
                          for s in range(0, len(windows), batch)])
    per_window = unit(out)
    return unit(per_window.mean(0)), per_window
