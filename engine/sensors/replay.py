"""Replay adapter: frames from recordings, skeleton files and dataset folders, as if live.

- A recording (.mcap) replays its own sensors, frame for frame, paced by the time each frame
  was logged (so several sensors keep their relative timing).
- Any other file (NPZ, CSV, KGBD, MSR, NW-UCLA, NTU, UTD-MHAD, KARD) is a sensor named after
  the file; with ``bodies=True`` all such files are bodies (tracks) of one sensor ``replay``
  instead. Several such files are spread apart on a floor grid (`spread`; ``spread_bodies=False``
  keeps them in place): walks recorded at the same spot in separate sessions would otherwise be
  drawn on top of each other. Only the place moves (a translation on the floor, the same for
  every frame of a file's bodies), so gait and action inputs, which are centred, do not change.
- A dataset folder is a sensor named after the folder whose sequences follow one another
  (1 s apart), each a new track.

Frames keep their own timestamps (``t``). Several inputs play at once, aligned at their
starts: the replay clock of each input starts at 0 at its first frame; ``start``/``end`` cut
every input on that clock (seconds); ``loop`` repeats the whole set, adding the elapsed time
to the frames' timestamps so they keep increasing.
"""

from __future__ import annotations

import heapq
import itertools
from pathlib import Path
from typing import Iterator

import numpy as np

from engine.datasets import open_dataset, read_file
from engine.recording import Recording, decode_recorded, sequence_frames
from engine.sequence import SkeletonSequence
from engine.wire import Frame

GAP = 1.0  # seconds between consecutive sequences of a dataset folder


Timeline = Iterator[tuple[float, Frame]]  # (replay clock in seconds, frame)


def _recording(path: Path) -> Timeline:
    with Recording(path) as rec:
        t0 = rec.start
        for log_time, parts in rec.messages():
            yield log_time - t0, decode_recorded(path, log_time, parts)


def _sequences(sensor: str, seqs: list[SkeletonSequence]) -> Timeline:
    t0 = min(float(s.timestamps[0]) for s in seqs)
    for f in sequence_frames(sensor, seqs):
        yield f.t - t0, f


def _folder(path: Path) -> Timeline:
    ds = open_dataset(path)
    offset = 0.0
    for track, item in enumerate(ds.items):
        seq = ds.read(item.path)
        for f in sequence_frames(path.name, [seq]):
            f.tracks = np.array([track], np.int64)
            yield f.t - float(seq.timestamps[0]) + offset, f
        offset += float(seq.timestamps[-1] - seq.timestamps[0]) + GAP


def spread(groups: list[list[SkeletonSequence]], gap: float = 0.6) -> list[list[SkeletonSequence]]:
    """Groups of sequences (a file's bodies) moved on the floor (x, z) to the cells of a grid, a
    group as a whole; each cell as wide as the median group's path (0.5 to 2 m) plus ``gap``
    metres, the grid centred on where they were on average; missing joints stay as stored. One
    group is returned as is."""
    if len(groups) < 2:
        return groups
    centres, sizes = [], []
    for g in groups:
        pts = [s.joints[s.confidence > 0] for s in g]
        pts = np.concatenate(pts) if sum(len(p) for p in pts) else np.zeros((1, 3), np.float32)
        centres.append(pts.mean(0))
        sizes.append(pts.max(0) - pts.min(0))
    cell = min(max(float(np.median(np.asarray(sizes)[:, [0, 2]].max(1))), 0.5), 2.0) + gap
    cols = int(np.ceil(np.sqrt(len(groups))))
    rows = int(np.ceil(len(groups) / cols))
    middle = np.mean(centres, 0)
    out = []
    for k, (g, c) in enumerate(zip(groups, centres)):
        row, col = divmod(k, cols)
        target = middle + np.array([(col - (cols - 1) / 2) * cell, 0.0, (row - (rows - 1) / 2) * cell])
        move = np.where(np.array([True, False, True]), target - c, 0.0).astype(np.float32)
        out.append([SkeletonSequence(np.where(s.confidence[..., None] > 0, s.joints + move, s.joints),
                                     s.confidence, s.timestamps, s.layout, s.fps, s.meta) for s in g])
    return out


def _sources(paths: list[Path], bodies: bool, spread_bodies: bool = True) -> list[Iterator[Frame]]:
    streams, files = [], []
    names: set[str] = set()
    for path in paths:
        if path.is_dir():
            streams.append(_folder(path))
        elif path.suffix.lower() == ".mcap":
            streams.append(_recording(path))
        else:
            files.append((path, read_file(path)))
    if spread_bodies:
        files = list(zip([p for p, _ in files], spread([seqs for _, seqs in files])))
    if bodies and files:
        streams.append(_sequences("replay", [s for _, seqs in files for s in seqs]))
        return streams
    for path, seqs in files:
        name = path.stem
        while name in names:
            name += "_"
        names.add(name)
        streams.append(_sequences(name, seqs))
    return streams


def _cut(timeline: Timeline, start: float | None, end: float | None) -> Timeline:
    for clock, f in timeline:
        if end is not None and clock >= end:
            return
        if start is None or clock >= start:
            yield clock - (start or 0.0), f


def replay_timeline(paths: list[str | Path], bodies: bool = False, start: float | None = None,
                    end: float | None = None, loop: bool = False, spread_bodies: bool = True) -> Timeline:
    """``(clock, frame)`` of all ``paths`` merged in clock order (see the module docstring;
    ``spread_bodies=False`` keeps separate files' bodies where they were recorded)."""
    paths = [Path(p) for p in paths]
    for p in paths:  # said at once, before anything is announced or published
        if not p.exists():
            raise FileNotFoundError(f"{p}: no such file or folder")
    return _timeline(paths, bodies, start, end, loop, spread_bodies)


def _timeline(paths: list[Path], bodies: bool, start: float | None, end: float | None, loop: bool,
              spread_bodies: bool) -> Timeline:
    offset = 0.0
    for _ in itertools.count() if loop else range(1):
        last = None
        streams = [_cut(s, start, end) for s in _sources(paths, bodies, spread_bodies)]
        for clock, frame in heapq.merge(*streams, key=lambda cf: cf[0]):
            frame.t += offset
            last = (clock + offset, frame)
            yield last
        if last is None:
            raise ValueError(f"{', '.join(map(str, paths))}: no frames between {start or 0:g} s and "
                             + ("the end" if end is None else f"{end:g} s"))
        offset = last[0] + 1.0 / last[1].fps


def replay_frames(paths: list[str | Path], **options) -> Iterator[Frame]:
    """The frames of `replay_timeline` (same options), without the clock."""
    return (frame for _, frame in replay_timeline(paths, **options))
