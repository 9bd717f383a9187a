"""`SkeletonSequence`: one body's skeleton over time, the unit every reader returns."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field, replace

import numpy as np

from engine.skeleton import Layout, to_canonical

# Metadata keys protocols split by; readers fill those that apply.
META_KEYS = ("subject", "action", "view", "session", "walk", "source")


class SkeletonDataError(ValueError):
    """Malformed skeleton data; the message names the file (and line or field)."""


class MaskedJointsWarning(UserWarning):
    """Some joints were NaN in the source and were masked (confidence 0)."""


@dataclass
class SkeletonSequence:
    """One body's joints over time.

    joints float32 [T, J, 3] (metres, y up), confidence float32 [T, J] (0 = missing, whose
    coordinates are 0), timestamps float64 [T] (seconds, strictly increasing), the layout
    naming the J joints, the nominal frame rate, and metadata (see META_KEYS; all str).
    """

    joints: np.ndarray
    confidence: np.ndarray
    timestamps: np.ndarray
    layout: Layout
    fps: float
    meta: dict[str, str] = field(default_factory=dict)

    def __post_init__(self):
        where = self.meta.get("source", "<memory>")
        self.joints = np.asarray(self.joints, np.float32)
        self.confidence = np.asarray(self.confidence, np.float32)
        self.timestamps = np.asarray(self.timestamps, np.float64)
        t, j = len(self.timestamps), len(self.layout)
        if self.joints.shape != (t, j, 3):
            raise SkeletonDataError(
                f"{where}: joints have shape {self.joints.shape}, expected ({t}, {j}, 3) "
                f"for {t} timestamps and the {j} joints of layout {self.layout.name!r}")
        if self.confidence.shape != (t, j):
            raise SkeletonDataError(
                f"{where}: confidence has shape {self.confidence.shape}, expected ({t}, {j})")
        check_timestamps(self.timestamps, where)
        if not (np.isfinite(self.joints).all() and np.isfinite(self.confidence).all()):
            raise SkeletonDataError(f"{where}: joints or confidence hold NaN or inf")
        if not np.isfinite(self.fps) or self.fps <= 0:
            raise SkeletonDataError(f"{where}: fps must be positive, got {self.fps}")
        self.fps = float(self.fps)
        self.meta = {k: str(v) for k, v in self.meta.items()}

    def __len__(self) -> int:
        return len(self.timestamps)

    @property
    def duration(self) -> float:
        """Seconds from the first to the last frame plus one frame period."""
        return float(self.timestamps[-1] - self.timestamps[0]) + 1.0 / self.fps if len(self) else 0.0

    def canonical(self) -> "SkeletonSequence":
        """This sequence mapped onto the 25 canonical joints (missing ones masked)."""
        from engine.skeleton import KINECT_V2
        joints, conf, _ = to_canonical(self.joints, self.confidence, self.layout)
        return replace(self, joints=joints, confidence=conf, layout=KINECT_V2)

    def slice(self, start: int, stop: int) -> "SkeletonSequence":
        """Frames ``start:stop``."""
        return replace(self, joints=self.joints[start:stop], confidence=self.confidence[start:stop],
                       timestamps=self.timestamps[start:stop], meta=dict(self.meta))


def interpolate(times: np.ndarray, joints: np.ndarray, want: np.ndarray, confidence: np.ndarray | None = None):
    """Joints ``[N, J, 3]`` at instants ``want [M]`` (within ``times [N]``, increasing),
    linearly interpolated between the frames around each; an instant on a frame takes that frame
    as it is. With ``confidence [N, J]``, also the instants' confidence: a joint is given only
    when both frames around it give it, and a missing one keeps coordinates 0. The one
    interpolation of offline sequences (`resample`, `engine.embed.action_windows`) and live tracks
    (`engine.windows.TrackWindows.frames`)."""
    hi = np.clip(np.searchsorted(times, want, side="left"), 1, len(times) - 1) if len(times) > 1 else np.zeros(len(want), int)
    lo = np.maximum(hi - 1, 0)
    tol = 1e-8 + 1e-5 * np.abs(want)  # np.isclose's, written out (a third of the time)
    on_hi, on_lo = np.abs(times[hi] - want) <= tol, np.abs(times[lo] - want) <= tol
    if (on_hi | on_lo).all():  # every instant on a frame (a sensor at the model's rate): the frames as they are
        return _take(joints, confidence, np.where(on_hi, hi, lo))
    return _blend(times, joints, want, confidence, hi, lo, on_hi, on_lo)


def _take(joints: np.ndarray, confidence: np.ndarray | None, idx: np.ndarray):
    """`interpolate` when every instant falls on a frame: the frames ``idx`` (a missing joint's
    coordinates 0, as the blend gives)."""
    out = joints[idx].astype(np.float32, copy=False)
    if confidence is None:
        return out
    conf = confidence[idx].astype(np.float32, copy=False)
    return np.where(conf[..., None] > 0, out, np.float32(0.0)), conf


def _blend(times, joints, want, confidence, hi, lo, on_hi, on_lo):
    """`interpolate`'s general case: linear between the frames ``lo`` and ``hi`` around each instant."""
    span = times[hi] - times[lo]
    w = np.clip(np.where(span > 0, (want - times[lo]) / np.where(span > 0, span, 1), 0.0), 0.0, 1.0)
    w = np.where(on_hi, 1.0, np.where(on_lo, 0.0, w))
    out = ((1 - w)[:, None, None] * joints[lo] + w[:, None, None] * joints[hi]).astype(np.float32)
    if confidence is None:
        return out
    conf = np.where((w == 0)[:, None], confidence[lo],
                    np.where((w == 1)[:, None], confidence[hi], np.minimum(confidence[lo], confidence[hi])))
    return np.where(conf[..., None] > 0, out, 0.0).astype(np.float32), conf.astype(np.float32)


def resample(seq: SkeletonSequence, fps: float) -> SkeletonSequence:
    """``seq`` at ``fps``: instants every 1 / ``fps`` seconds from its first frame to its last
    (`interpolate`, as the live engine cuts its windows), so a model trained at one rate sees the
    same motion whatever rate a file was recorded at. A sequence already at ``fps`` (every frame
    interval within 1 % of 1 / ``fps``) is returned as it is."""
    period = 1.0 / fps
    times = seq.timestamps
    if len(seq) < 2 or np.all(np.abs(np.diff(times) - period) <= 0.01 * period):
        return seq
    want = times[0] + np.arange(int(np.floor((times[-1] - times[0]) / period + 1e-6)) + 1) * period
    joints, conf = interpolate(times, seq.joints, want, seq.confidence)
    return replace(seq, joints=joints, confidence=conf, timestamps=want, fps=float(fps), meta=dict(seq.meta))


def check_timestamps(timestamps: np.ndarray, where: str) -> None:
    """Raise SkeletonDataError unless ``timestamps [T]`` are finite and strictly increasing."""
    if timestamps.ndim != 1:
        raise SkeletonDataError(f"{where}: timestamps must be one-dimensional, got {timestamps.shape}")
    if not np.isfinite(timestamps).all():
        raise SkeletonDataError(f"{where}: timestamps hold NaN or inf")
    bad = np.flatnonzero(np.diff(timestamps) <= 0)
    if bad.size:
        i = int(bad[0]) + 1
        raise SkeletonDataError(
            f"{where}: timestamps are not strictly increasing at frame {i} "
            f"({timestamps[i - 1]!r} then {timestamps[i]!r})")


def frame_times(n: int, fps: float) -> np.ndarray:
    """Timestamps ``[n]`` of frames sampled at ``fps`` from 0, for sources that store none."""
    return np.arange(n, dtype=np.float64) / fps


def mask_invalid(joints: np.ndarray, confidence: np.ndarray, where: str
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Mask joints that are NaN (with a counted warning); inf is an error.

    Joints ``[T, J, 3]`` with any NaN coordinate get confidence 0 and coordinates 0.
    """
    if np.isinf(joints).any() or np.isinf(confidence).any():
        t, j = np.argwhere(np.isinf(joints).any(-1) | np.isinf(confidence))[0]
        raise SkeletonDataError(f"{where}: infinite value at frame {t}, joint {j}")
    nan = np.isnan(joints).any(-1) | np.isnan(confidence)
    if nan.any():
        warnings.warn(f"{where}: masked {int(nan.sum())} NaN joint(s) in {int(nan.any(-1).sum())} "
                      f"frame(s)", MaskedJointsWarning, stacklevel=3)
        joints = np.where(nan[..., None], 0.0, joints).astype(np.float32)
        confidence = np.where(nan, 0.0, confidence).astype(np.float32)
    return joints, confidence
