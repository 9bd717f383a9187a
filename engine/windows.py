"""Per-track sliding windows for the live engine.

Every (sensor, track) keeps the last ``history`` seconds of its body, mapped onto the canonical
joints. Windows for a model are cut by timestamp, not by frame count: ``frames(key, fps, n)``
resamples the newest ``n`` instants at the model's frame rate (linear interpolation between
the received frames), so a 15 Hz sensor, a 30 Hz one and one that dropped frames all give the
model what it was trained on. A track unseen for ``timeout`` seconds is retired; a track id that
comes back with an earlier timestamp (reused by the sensor, or the sensor restarted) starts a
new history, and both are counted.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from engine.sequence import interpolate
from engine.skeleton import to_canonical
from engine.wire import Frame

Key = tuple[str, int]


@dataclass
class _Track:
    """One track's history: ``times`` (a list: the newest and a bisect are all most readers
    need) and ``joints [n, 25, 3]`` / ``confidence [n, 25]``, views of buffers that grow by
    doubling and drop old frames by moving a start index, so a window reads its frames with one
    index instead of stacking a list."""
    times: list[float] = field(default_factory=list)
    seen: float = 0.0  # receive clock of the last frame
    layout: str = ""  # the layout name of its newest frame (whose skeleton definition it is)
    _j: np.ndarray = field(default_factory=lambda: np.zeros((64, 25, 3), np.float32), repr=False)
    _c: np.ndarray = field(default_factory=lambda: np.zeros((64, 25), np.float32), repr=False)
    _start: int = 0

    @property
    def joints(self) -> np.ndarray:
        return self._j[self._start:self._start + len(self.times)]

    @property
    def confidence(self) -> np.ndarray:
        return self._c[self._start:self._start + len(self.times)]

    def append(self, t: float, joints: np.ndarray, confidence: np.ndarray) -> None:
        n = len(self.times)
        if self._start + n == len(self._j):  # full: move the live frames to the front, or grow
            keep_j, keep_c = self.joints.copy(), self.confidence.copy()
            if 2 * n > len(self._j):
                self._j = np.zeros((2 * len(self._j),) + self._j.shape[1:], np.float32)
                self._c = np.zeros((2 * len(self._c),) + self._c.shape[1:], np.float32)
            self._j[:n], self._c[:n], self._start = keep_j, keep_c, 0
        self._j[self._start + n] = joints
        self._c[self._start + n] = confidence
        self.times.append(t)

    def drop_first(self) -> None:
        del self.times[0]
        self._start += 1


class TrackWindows:
    """Histories of every live track; see the module docstring."""

    def __init__(self, history: float = 4.0, timeout: float = 2.0):
        self.history, self.timeout = history, timeout
        self.tracks: dict[Key, _Track] = {}
        self.counts: Counter = Counter()  # frames, resets, retired

    def add(self, frame: Frame, now: float) -> None:
        """Append the bodies of ``frame`` (received at ``now``, seconds)."""
        self.counts["frames"] += 1
        if not len(frame.tracks):
            return
        joints, conf, _ = to_canonical(frame.joints, frame.confidence, frame.layout)
        for b, track in enumerate(frame.tracks.tolist()):
            key = (frame.sensor, track)
            tr = self.tracks.get(key)
            if tr is not None and tr.times and frame.t <= tr.times[-1]:
                self.counts["resets"] += 1  # time went back: a reused id or a restarted sensor
                tr = None
            if tr is None:
                tr = self.tracks[key] = _Track()
            tr.append(frame.t, joints[b], conf[b])
            tr.seen = now
            tr.layout = frame.layout.name
            while tr.times[-1] - tr.times[0] > self.history:
                tr.drop_first()

    def retire(self, now: float) -> list[Key]:
        """Drop tracks unseen for ``timeout`` seconds; returns their keys."""
        gone = [k for k, tr in self.tracks.items() if now - tr.seen > self.timeout]
        for k in gone:
            del self.tracks[k]
        self.counts["retired"] += len(gone)
        return gone

    def span(self, key: Key) -> float:
        """Seconds of history the track has."""
        tr = self.tracks[key]
        return tr.times[-1] - tr.times[0]

    def frames(self, key: Key, fps: float, n: int) -> tuple[np.ndarray, np.ndarray] | None:
        """The newest ``n`` instants of the track at ``fps`` (joints [n, 25, 3], confidence
        [n, 25]), ending at its last frame; None while its history is shorter."""
        tr = self.tracks[key]
        times = np.asarray(tr.times)
        want = times[-1] - (n - 1 - np.arange(n)) / fps
        if want[0] < times[0] - 1e-6:
            return None
        hi = np.clip(np.searchsorted(times, want, side="left"), 1, len(times) - 1) if len(times) > 1 else np.zeros(n, int)
        # only the frames the n instants fall between (a few of the history's hundreds)
        used = np.union1d(np.maximum(hi - 1, 0), hi)
        return interpolate(times[used], tr.joints[used], want, tr.confidence[used])

    def ready(self, fps: float, n: int, among: list[Key] | None = None) -> tuple[list[Key], np.ndarray, np.ndarray]:
        """Tracks (all, or those ``among``) with enough history: (keys, joints [K, n, 25, 3],
        confidence [K, n, 25])."""
        keys, js, cs = [], [], []
        for key in self.tracks if among is None else among:
            got = self.frames(key, fps, n)
            if got is not None:
                keys.append(key)
                js.append(got[0])
                cs.append(got[1])
        if not keys:
            return [], np.zeros((0, n, 25, 3), np.float32), np.zeros((0, n, 25), np.float32)
        return keys, np.stack(js), np.stack(cs)
