"""KGBD (Kinect Gait Biometry Dataset): ``Data/PersonNNN/K.txt``, lines ``Joint;x;y;z``."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from engine.datasets.base import Dataset, Item
from engine.datasets.text import parse_floats, read_lines, split_rows
from engine.sequence import SkeletonDataError, SkeletonSequence, frame_times, mask_invalid
from engine.skeleton import KGBD

# The files' joint names, in the order of the KGBD layout.
KGBD_NAMES = (
    "Head", "Shoulder-Center", "Shoulder-Right", "Shoulder-Left", "Elbow-Right", "Elbow-Left",
    "Wrist-Right", "Wrist-Left", "Hand-Right", "Hand-Left", "Spine", "Hip-centro",
    "Hip-Right", "Hip-Left", "Knee-Right", "Knee-Left", "Ankle-Right", "Ankle-Left",
    "Foot-Right", "Foot-Left",
)
_PERSON = re.compile(r"Person(\d+)$")


def kgbd_meta(path: Path) -> dict[str, str]:
    """subject (``PersonNNN``), walk (file stem) and source of a KGBD walk file."""
    return {"subject": path.parent.name, "walk": path.stem, "source": str(path)}


def read_kgbd(path: str | Path) -> SkeletonSequence:
    """Read one KGBD walk: 20 lines a frame, each frame starting at ``Head``, 30 Hz, no timestamps.

    Coordinates are Kinect v1 camera space already (metres, y up); confidence is 1.
    """
    path = Path(path)
    lines = read_lines(path)
    split_rows(path, lines, ";", 4, "Joint;x;y;z")
    names = [ln.split(";", 1)[0].strip() for ln in lines]
    per = len(KGBD_NAMES)
    expected = KGBD_NAMES * (len(names) // per) + KGBD_NAMES[: len(names) % per]
    if names != list(expected):
        n = next(i for i, (a, b) in enumerate(zip(names, expected)) if a != b)
        what = "unknown joint name" if names[n] not in KGBD_NAMES else "joint out of order"
        raise SkeletonDataError(f"{path}:{n + 1}: {what} {names[n]!r}, expected {expected[n]!r} "
                                f"(frames are {per} joints starting at Head)")
    if len(names) % per:
        raise SkeletonDataError(f"{path}:{len(names)}: truncated: last frame has {len(names) % per} "
                                f"of {per} joints")
    joints = parse_floats(path, lines, ";", (1, 2, 3)).astype(np.float32).reshape(-1, per, 3)
    joints, conf = mask_invalid(joints, np.ones(joints.shape[:2], np.float32), str(path))
    return SkeletonSequence(joints, conf, frame_times(len(joints), KGBDDataset.fps), KGBD,
                            KGBDDataset.fps, kgbd_meta(path))


class KGBDDataset(Dataset):
    """KGBD under ``root`` (the ``kgbd/`` folder or its ``Data/``); metadata: subject, walk."""

    name = "kgbd"
    fps = 30.0

    @classmethod
    def _data(cls, root: Path) -> Path:
        return root / "Data" if (root / "Data").is_dir() else root

    @classmethod
    def detect(cls, root: Path) -> bool:
        return any(_PERSON.match(p.name) for p in cls._data(root).glob("Person*") if p.is_dir())

    @classmethod
    def index(cls, root: Path) -> list[Item]:
        files = sorted(p for p in cls._data(root).glob("Person*/*.txt") if _PERSON.match(p.parent.name))
        return [Item(p, kgbd_meta(p)) for p in files]

    @classmethod
    def read(cls, path: Path) -> SkeletonSequence:
        return read_kgbd(path)
