"""Embeddings of whole sequences. Gait: window encodings, optionally whitened, and their
L2-normalised mean. Action: the clip resampled to the checkpoint's frames, and sliding windows
of its live length."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from engine.models.sge_la import prepare_windows, window_options
from engine.sequence import SkeletonDataError, SkeletonSequence, interpolate, resample
from engine.skeleton import INDEX, to_canonical


MIN_TORSO = 0.05  # m: a skeleton whose hips and shoulders are closer than this is no body (a sensor's zeros)


def usable_frames(joints: np.ndarray, confidence: np.ndarray) -> np.ndarray:
    """Which frames of canonical ``joints [T, 25, 3]`` hold a body: both hips and both shoulders
    given, their midpoints at least `MIN_TORSO` apart. ``[T]`` bool."""
    hips, shoulders = [INDEX["HipLeft"], INDEX["HipRight"]], [INDEX["ShoulderLeft"], INDEX["ShoulderRight"]]
    given = (confidence[:, hips + shoulders] > 0).all(1)
    torso = np.linalg.norm(joints[:, shoulders].mean(1) - joints[:, hips].mean(1), axis=-1)
    return given & (torso >= MIN_TORSO)


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


def project(emb: np.ndarray, basis: np.ndarray | None) -> np.ndarray:
    """Embeddings in the space of prototypes stored projected on ``basis [D, d]``
    (`trainers.prototypes.compress`); unchanged without one."""
    return emb if basis is None else emb @ basis


class ActionLabels:
    """Nearest-prototype action labels: a window's score for an action is its best cosine to that
    action's prototypes; a track's label is the action with the highest mean score over its last
    windows (`label` of a history of `scores` rows; one row: the nearest prototype's action)."""

    def __init__(self, names: list[str], prototypes: np.ndarray, labels: np.ndarray, basis: np.ndarray | None = None):
        order = np.argsort(labels, kind="stable")
        self.prototypes = np.ascontiguousarray(prototypes[order], np.float32)
        self.actions, self.starts = np.unique(labels[order], return_index=True)
        self.names = [names[int(a)] for a in self.actions]
        self.basis = None if basis is None else np.ascontiguousarray(basis, np.float32)

    def scores(self, emb: np.ndarray) -> np.ndarray:
        """``[N, actions]``: each unit embedding's best cosine per action. With a ``basis``
        (prototypes stored projected on their leading directions, `trainers.prototypes.compress`),
        the embedding is projected on it first, as the prototypes were."""
        emb = project(emb, self.basis)
        # a cosine: float16 prototypes and float32 rounding can put an exact match a hair above 1
        return np.clip(np.maximum.reduceat(emb @ self.prototypes.T, self.starts, axis=1), -1.0, 1.0)

    def label(self, history) -> tuple[str, float]:
        """The action (and its mean score) of a sequence of `scores` rows."""
        mean = np.mean(np.asarray(history), 0)
        best = int(mean.argmax())
        return self.names[best], float(mean[best])


def window_features(model, encodings: np.ndarray) -> np.ndarray:
    """Matching features of window encodings [N, D]: whitened when the checkpoint has a
    whitening (``model.whitening``), else L2-normalised. A side-symmetric encoder
    (`engine.models.sge_la.SymmetricGait`, ``model.symmetric``) gives [N, 2D], each window and its
    mirror image: each half is made a feature so, and the window's is their normalised sum."""
    whitening = getattr(model, "whitening", None)
    one = whitening if whitening is not None else unit
    if getattr(model, "symmetric", False):
        d = encodings.shape[1] // 2
        return unit(one(encodings[:, :d]) + one(encodings[:, d:]))
    return one(encodings)


@torch.no_grad()
def encode_batches(fn, x: np.ndarray, device, batch: int = 256, dim: int = 0) -> np.ndarray:
    """``fn`` (a model) over ``x`` in batches on ``device``, as float32 numpy; ``[0, dim]`` when
    ``x`` is empty."""
    if len(x) == 0:
        return np.zeros((0, dim), np.float32)
    return np.concatenate([fn(torch.from_numpy(x[s:s + batch]).to(device)).float().cpu().numpy()
                           for s in range(0, len(x), batch)])


@torch.no_grad()
def gait_embedding(model, meta: dict, seq: SkeletonSequence, batch: int = 512) -> tuple[np.ndarray, np.ndarray]:
    """``(embedding [D], window embeddings [M, D])`` of one sequence.

    The sequence is resampled to the checkpoint's frame rate (`engine.sequence.resample`, as the
    engine does live) and cut into its windows (non-overlapping, f frames); each window's
    sequence-level encoding is L2-normalised (whitened when the checkpoint has a whitening) and
    the embedding is their normalised mean.
    """
    f = int(meta["input"]["window"])
    seq = resample(seq, float(meta["input"].get("fps", seq.fps)))  # windows span what they span live
    usable = int(usable_frames(*to_canonical(seq.joints, seq.confidence, seq.layout)[:2]).sum())
    if usable < f:
        raise SkeletonDataError(f"{seq.meta.get('source', '<sequence>')}: {usable} of {len(seq)} frames hold a usable "
                                f"skeleton (hips and shoulders given, a torso of {MIN_TORSO * 100:g} cm or more); "
                                f"a gait embedding needs at least {f}")
    windows = prepare_windows(seq.joints, seq.confidence, seq.layout, f, **window_options(meta["input"]))
    if len(windows) == 0:
        raise SkeletonDataError(f"{seq.meta.get('source', '<sequence>')}: {len(seq)} frames, "
                                f"fewer than the gait window of {f}")
    device = next(model.parameters()).device
    out = np.concatenate([model.encode(torch.from_numpy(windows[s:s + batch]).to(device))["sequence"].float().cpu().numpy()
                          for s in range(0, len(windows), batch)])
    per_window = window_features(model, out)
    return unit(per_window.mean(0)), per_window


def action_windows(joints: np.ndarray, confidence: np.ndarray, fps: float, meta: dict,
                   hop: float = 0.5) -> np.ndarray:
    """Action-encoder inputs ``[M, frames, 20, 3]`` of canonical ``joints [T, 25, 3]`` sampled at
    ``fps``: every ``hop`` seconds, the newest ``input.seconds`` seconds before a frame, at the
    ``input.frames`` instants spanning exactly that (linear interpolation between frames, as the
    engine resamples a live track, whatever the rate), through `action_view`."""
    from engine.missing import fill_missing
    from engine.models.action import action_view
    seconds, frames = float(meta["input"]["seconds"]), int(meta["input"]["frames"])
    step = max(1, round(hop * fps))
    first = int(np.ceil(seconds * fps - 1e-6))  # the first frame with `seconds` of history before it
    ends = np.arange(first, len(joints), step)
    if len(joints) < 2 or not len(ends):
        return np.zeros((0, frames, 20, 3), np.float32)
    filled, _ = fill_missing(joints, confidence)  # before interpolation blends frames
    times = np.arange(len(joints)) / fps
    want = times[ends][:, None] - seconds + np.arange(frames)[None, :] * (seconds / (frames - 1))
    x = interpolate(times, filled, np.clip(want.ravel(), 0, times[-1])).reshape(len(ends), frames, *joints.shape[1:])
    return np.stack([action_view(win) for win in x])


@torch.no_grad()
def action_embedding(model, meta: dict, seq: SkeletonSequence, batch: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """``(embedding [D], window embeddings [M, D])`` of one sequence: the whole clip resampled
    to the checkpoint's frames (as in training and evaluation), and the live windows
    (`action_windows`; none when the sequence is shorter than one). L2-normalised."""
    from engine.models.action import action_input
    from engine.skeleton import to_canonical
    if len(seq) < 2:
        raise SkeletonDataError(f"{seq.meta.get('source', '<sequence>')}: {len(seq)} frame(s), an action needs 2 or more")
    joints, confidence, _ = to_canonical(seq.joints, seq.confidence, seq.layout)
    device = next(model.parameters()).device
    clip = action_input(joints, confidence, int(meta["input"]["frames"]))[None]
    windows = action_windows(joints, confidence, seq.fps, meta)
    return (unit(encode_batches(model, clip, device, batch)[0]),
            unit(encode_batches(model, windows, device, batch, model.dim)))
