"""Gait embeddings of whole sequences: window encodings, optionally whitened, and their
L2-normalised mean."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from engine.models.sge_la import prepare_windows, window_options
from engine.sequence import SkeletonDataError, SkeletonSequence


def unit(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit L2 norm."""
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


@dataclass
class Whitening:
    """PCA whitening of window encodings, fitted without labels on a checkpoint's training
    windows: ``x -> unit((unit(x) - mean) @ proj)``. The raw encodings (concatenated context
    vectors) share one dominant direction, so cosine similarities all sit near 1; whitened,
    they spread out and identities separate (docs/RESULTS.md)."""

    mean: np.ndarray  # [D]
    proj: np.ndarray  # [D, K]

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return unit((unit(x) - self.mean) @ self.proj)

    @classmethod
    def fit(cls, features: np.ndarray, dims: int) -> "Whitening":
        """From window encodings [N, D] (N well above ``dims``)."""
        x = unit(features.astype(np.float64))
        mean = x.mean(0)
        _, s, vt = np.linalg.svd(x - mean, full_matrices=False)
        dims = min(dims, int((s > s[0] * 1e-6).sum()))
        proj = vt[:dims].T / s[:dims] * np.sqrt(len(x))
        return cls(mean.astype(np.float32), np.ascontiguousarray(proj, np.float32))


def window_features(model, encodings: np.ndarray) -> np.ndarray:
    """Matching features of window encodings [N, D]: whitened when the checkpoint has a
    whitening (``model.whitening``), else L2-normalised."""
    whitening = getattr(model, "whitening", None)
    return whitening(encodings) if whitening is not None else unit(encodings)


@torch.no_grad()
def gait_embedding(model, meta: dict, seq: SkeletonSequence, batch: int = 512) -> tuple[np.ndarray, np.ndarray]:
    """``(embedding [D], window embeddings [M, D])`` of one sequence.

    The sequence is cut into the checkpoint's windows (non-overlapping, f frames); each window's
    sequence-level encoding is L2-normalised (whitened when the checkpoint has a whitening) and
    the embedding is their normalised mean.
    """
    f = int(meta["input"]["window"])
    windows = prepare_windows(seq.joints, seq.confidence, seq.layout, f, **window_options(meta["input"]))
    if len(windows) == 0:
        raise SkeletonDataError(f"{seq.meta.get('source', '<sequence>')}: {len(seq)} frames, "
                                f"fewer than the gait window of {f}")
    device = next(model.parameters()).device
    out = np.concatenate([model.encode(torch.from_numpy(windows[s:s + batch]).to(device))["sequence"].float().cpu().numpy()
                          for s in range(0, len(windows), batch)])
    per_window = window_features(model, out)
    return unit(per_window.mean(0)), per_window
