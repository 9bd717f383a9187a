"""Terminal replay: draws skeletons as a front view in text, paced by frame timestamps."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Iterator

import numpy as np

from engine.datasets import read_file
from engine.recording import Recording, sequence_frames
from engine.skeleton import BONES, INDEX, to_canonical
from engine.wire import Frame

WIDTH, HEIGHT = 78, 24
# A pinhole view from the sensor: x/z from +0.8 (left of the screen) to -0.8, y/z from -0.45 to 0.45.
X_RANGE, Y_RANGE = (0.8, -0.8), (-0.45, 0.45)
MARKS = "ABCDEFGHIJ"


def file_frames(path: Path) -> Iterator[Frame]:
    """Every frame of a recording, or of any readable file (one sensor per file)."""
    if path.suffix.lower() == ".mcap":
        with Recording(path) as rec:
            yield from rec.frames()
        return
    yield from sequence_frames(path.stem, read_file(path))


def _cell(p: np.ndarray) -> tuple[int, int]:
    p = p / max(float(p[..., 2]), 0.1)
    cx = (p[..., 0] - X_RANGE[0]) / (X_RANGE[1] - X_RANGE[0]) * (WIDTH - 1)
    cy = (Y_RANGE[1] - p[..., 1]) / (Y_RANGE[1] - Y_RANGE[0]) * (HEIGHT - 1)
    return np.rint(cx).astype(int), np.rint(cy).astype(int)


def render(frame: Frame) -> str:
    """A WIDTH x HEIGHT text picture of every body in ``frame``, as the sensor sees it."""
    grid = [[" "] * WIDTH for _ in range(HEIGHT)]
    joints, conf, _ = to_canonical(frame.joints, frame.confidence, frame.layout)
    for b in range(len(joints)):
        for a, c in BONES:
            i, j = INDEX[a], INDEX[c]
            if conf[b, i] == 0 or conf[b, j] == 0:
                continue
            for s in np.linspace(0, 1, 8):
                x, y = _cell(joints[b, i] * (1 - s) + joints[b, j] * s)
                if 0 <= x < WIDTH and 0 <= y < HEIGHT:
                    grid[y][x] = "."
        x, y = _cell(joints[b, INDEX["Head"]])
        if 0 <= x < WIDTH and 0 <= y < HEIGHT and conf[b, INDEX["Head"]] > 0:
            grid[y][x] = MARKS[int(frame.tracks[b]) % len(MARKS)]
    return "\n".join("".join(row) for row in grid)


def play(path: Path, speed: float = 1.0, loop: bool = False, out=None) -> int:
    """Replay ``path`` at ``speed`` x real time to ``out`` (stdout); returns the number of frames shown."""
    out = out or sys.stdout
    live = out.isatty()
    shown = 0
    while True:
        start_wall, first_t, last_status = time.monotonic(), None, -1.0
        for frame in file_frames(path):
            first_t = frame.t if first_t is None else first_t
            if speed > 0:
                delay = (frame.t - first_t) / speed - (time.monotonic() - start_wall)
                if delay > 0:
                    time.sleep(delay)
            shown += 1
            status = (f"{path.name}  sensor {frame.sensor}  t={frame.t:7.2f} s  "
                      f"bodies {len(frame.tracks)}  frame {shown}")
            if live:
                out.write("\x1b[H\x1b[2J" + render(frame) + "\n" + status + "\n")
                out.flush()
            elif frame.t - last_status >= 1.0:
                out.write(status + "\n")
                last_status = frame.t
        if not loop:
            break
    out.write(f"played {shown} frames of {path}\n")
    return shown
