"""NTU RGB+D ``.skeleton`` files (the public text format of the Kinect v2 SDK's body frames).

Layout of a file, one item per line::

    frame count
    per frame:  body count
      per body: bodyID clippedEdges handLeftConfidence handLeftState handRightConfidence
                handRightState isRestricted leanX leanY trackingState
                joint count (25)
                per joint: x y z depthX depthY colorX colorY orientW orientX orientY orientZ
                           trackingState

Names are ``SsssCcccPpppRrrrAaaa`` (setup, camera, performer, replication, action).
"""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path

import numpy as np

from engine.datasets.base import Dataset, Item
from engine.datasets.text import parse_floats, read_lines, split_rows
from engine.sequence import SkeletonDataError, SkeletonSequence, mask_invalid
from engine.skeleton import KINECT_V2

_NAME = re.compile(r"S(\d{3})C(\d{3})P(\d{3})R(\d{3})A(\d{3})$")
# Kinect v2 TrackingState: NotTracked, Inferred, Tracked.
TRACKING_CONFIDENCE = np.array([0.0, 0.5, 1.0], np.float32)
FPS = 30.0


def ntu_meta(path: Path) -> dict[str, str]:
    """setup, view (camera), subject (performer), session (replication) and action from the name."""
    meta = {"source": str(path)}
    m = _NAME.match(path.stem)
    if m:
        s, c, p, r, a = m.groups()
        meta |= {"setup": f"S{s}", "view": f"C{c}", "subject": f"P{p}", "session": f"R{r}",
                 "action": f"A{a}"}
    return meta


class _Cursor:
    def __init__(self, path: Path):
        self.path, self.lines, self.n = path, read_lines(path), 0

    def int(self, what: str) -> int:
        line = self.take(what)
        try:
            return int(line.split()[0])
        except (ValueError, IndexError):
            raise SkeletonDataError(f"{self.path}:{self.n}: expected {what}, got {line[:60]!r}") from None

    def take(self, what: str, count: int = 1):
        if self.n + count > len(self.lines):
            raise SkeletonDataError(f"{self.path}:{len(self.lines)}: truncated: file ends before {what}")
        self.n += count
        return self.lines[self.n - 1] if count == 1 else self.lines[self.n - count:self.n]


def read_ntu_bodies(path: str | Path) -> list[SkeletonSequence]:
    """Every body of an NTU ``.skeleton`` file, one sequence each, in order of first appearance.

    Timestamps are frame index / 30 Hz; confidence is the joint TrackingState (1, 0.5, 0).
    Metadata adds ``track`` (the body's index) and ``body_id`` (the SDK's tracking id).
    """
    path = Path(path)
    cur = _Cursor(path)
    frames = cur.int("the frame count")
    bodies: dict[str, list] = defaultdict(list)
    for t in range(frames):
        for _ in range(cur.int(f"the body count of frame {t}")):
            body_id = cur.take(f"a body line in frame {t}").split()[0]
            count = cur.int(f"the joint count in frame {t}")
            if count != len(KINECT_V2):
                raise SkeletonDataError(f"{path}:{cur.n}: {count} joints, expected {len(KINECT_V2)}")
            first = cur.n + 1
            lines = cur.take(f"the joints of frame {t}", count)
            split_rows(path, lines, None, 12, "x y z depthX depthY colorX colorY orientW orientX "
                       "orientY orientZ trackingState", first)
            values = parse_floats(path, lines, None, first_line=first)
            state = values[:, 11]
            if not np.isin(state, (0, 1, 2)).all():
                raise SkeletonDataError(f"{path}:{first}: trackingState must be 0, 1 or 2")
            bodies[body_id].append((t, values[:, :3], TRACKING_CONFIDENCE[state.astype(int)]))
    if cur.n != len(cur.lines):
        raise SkeletonDataError(f"{path}:{cur.n + 1}: unexpected data after the last of {frames} frames")
    out = []
    for track, (body_id, rows) in enumerate(bodies.items()):
        joints, conf = mask_invalid(np.stack([r[1] for r in rows]).astype(np.float32),
                                    np.stack([r[2] for r in rows]), str(path))
        meta = ntu_meta(path) | {"track": str(track), "body_id": body_id}
        out.append(SkeletonSequence(joints, conf, np.array([r[0] for r in rows], np.float64) / FPS,
                                    KINECT_V2, FPS, meta))
    if not out:
        raise SkeletonDataError(f"{path}: no body in any frame")
    return out


def read_ntu(path: str | Path) -> SkeletonSequence:
    """The main body of an NTU file: the one seen in the most frames (the first on a tie)."""
    bodies = read_ntu_bodies(path)
    return max(bodies, key=len)


class NTUDataset(Dataset):
    """NTU RGB+D skeletons: ``*.skeleton`` files under ``root``; items are the main body."""

    name = "ntu"
    fps = FPS

    @classmethod
    def detect(cls, root: Path) -> bool:
        return next(root.glob("*.skeleton"), None) is not None

    @classmethod
    def index(cls, root: Path) -> list[Item]:
        return [Item(p, ntu_meta(p)) for p in sorted(root.glob("*.skeleton"))]

    @classmethod
    def read(cls, path: Path) -> SkeletonSequence:
        return read_ntu(path)
