"""Replay adapter: frames from recordings, skeleton files and dataset folders, as if live.

- A recording (.mcap) replays its own sensors, frame for frame.
- Any other file (NPZ, CSV, KGBD, MSR, NW-UCLA, NTU) is a sensor named after the file; with
  ``bodies=True`` all such files are bodies (tracks) of one sensor ``replay`` instead.
- A dataset folder is a sensor named after the folder whose sequences follow one another
  (1 s apart), each a new track.

Several inputs play at once, aligned at their starts. Times restart from 0 at each input's
first frame; ``start``/``end`` cut every input (seconds); ``loop`` repeats the whole set with
times that keep increasing.
"""

from __future__ import annotations

import heapq
import itertools
from pathlib import Path
from typing import Iterator

import numpy as np

from engine.datasets import open_dataset, read_file
from engine.recording import Recording, sequence_frames
from engine.sequence import SkeletonSequence
from engine.wire import Frame

GAP = 1.0  # seconds between consecutive sequences of a dataset folder


def _shifted(frames: Iterator[Frame], offset: float) -> Iterator[Frame]:
    for f in frames:
        f.t += offset
        yield f


def _recording(path: Path) -> Iterator[Frame]:
    with Recording(path) as rec:
        t0 = rec.start
        yield from _shifted(rec.frames(), -t0)


def _sequences(sensor: str, seqs: list[SkeletonSequence]) -> Iterator[Frame]:
    t0 = min(float(s.timestamps[0]) for s in seqs)
    yield from _shifted(sequence_frames(sensor, seqs), -t0)


def _folder(path: Path) -> Iterator[Frame]:
    ds = open_dataset(path)
    offset, k = 0.0, 0
    for track, item in enumerate(ds.items):
        seq = ds.read(item.path)
        for f in sequence_frames(path.name, [seq]):
            f.t = f.t - float(seq.timestamps[0]) + offset
            f.tracks = np.array([track], np.int64)
            f.seq = k
            k += 1
            yield f
        offset += float(seq.timestamps[-1] - seq.timestamps[0]) + GAP


def _sources(paths: list[Path], bodies: bool) -> list[Iterator[Frame]]:
    streams, loose = [], []
    names: set[str] = set()
    for path in paths:
        if path.is_dir():
            streams.append(_folder(path))
        elif path.suffix.lower() == ".mcap":
            streams.append(_recording(path))
        else:
            seqs = read_file(path)
            if bodies:
                loose += seqs
                continue
            name = path.stem
            while name in names:
                name += "_"
            names.add(name)
            streams.append(_sequences(name, seqs))
    if loose:
        streams.append(_sequences("replay", loose))
    return streams


def _cut(frames: Iterator[Frame], start: float | None, end: float | None) -> Iterator[Frame]:
    for f in frames:
        if end is not None and f.t >= end:
            return
        if start is None or f.t >= start:
            yield f


def replay_frames(paths: list[str | Path], bodies: bool = False, start: float | None = None,
                  end: float | None = None, loop: bool = False) -> Iterator[Frame]:
    """Frames of all ``paths`` merged in time order (see the module docstring)."""
    paths = [Path(p) for p in paths]
    for p in paths:
        if not p.exists():
            raise FileNotFoundError(f"{p}: no such file or folder")
    offset = 0.0
    for _ in itertools.count() if loop else range(1):
        last = None
        streams = [_cut(s, start, end) for s in _sources(paths, bodies)]
        for frame in heapq.merge(*streams, key=lambda f: f.t):
            frame.t += offset - (start or 0.0)
            last = frame
            yield frame
        if last is None:
            raise ValueError(f"{', '.join(map(str, paths))}: no frames between {start} and {end} s")
        offset = last.t + 1.0 / last.fps
