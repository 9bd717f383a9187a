"""KARD real-world skeletons: ``aAA_sSS_eEE_realworld.txt``, 15 lines ``x y z`` (mm) a frame."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from engine.datasets.base import Dataset, Item, name_meta
from engine.datasets.text import parse_floats, read_lines, split_rows
from engine.sequence import SkeletonDataError, SkeletonSequence, frame_times, mask_invalid
from engine.skeleton import KARD

_NAME = re.compile(r"(a\d+)_(s\d+)_(e\d+)_realworld$")
# The 18 activities (Gaglio, Lo Re, Morana, IEEE THMS 2014), by code.
ACTION_NAMES = {f"a{k:02d}": name for k, name in enumerate((
    "horizontal arm wave", "high arm wave", "two hand wave", "catch cap", "high throw", "draw X",
    "draw tick", "toss paper", "forward kick", "side kick", "take umbrella", "bend", "hand clap",
    "walk", "phone call", "drink", "sit down", "stand up"), start=1)}
ACTIONS = tuple(ACTION_NAMES)


def kard_meta(path: Path) -> dict[str, str]:
    """action (activity), subject and session (repetition) parsed from the file name."""
    return name_meta(path, _NAME, ("action", "subject", "session"), "aAA_sSS_eEE_realworld.txt")


def read_kard(path: str | Path) -> SkeletonSequence:
    """Read one KARD sequence: OpenNI / NiTE real-world joints, 15 lines a frame, 30 Hz.

    Millimetres become metres and x is negated: OpenNI's real-world x grows to the sensor's
    right, mirrored with respect to Kinect camera space (see the KARD layout for the checks on
    the data), so the result is right-handed, y up, with a person facing the sensor having the
    right shoulder at larger x. A joint is present (confidence 1) unless its coordinates are all
    zero; NaN joints are masked with a warning.
    """
    path = Path(path)
    meta = kard_meta(path)
    lines = read_lines(path)
    split_rows(path, lines, None, 3, "x y z")
    per = len(KARD)
    if len(lines) % per:
        raise SkeletonDataError(f"{path}:{len(lines)}: truncated: last frame has {len(lines) % per} "
                                f"of {per} joints ({len(lines)} lines is not a multiple of {per})")
    joints = (parse_floats(path, lines, None) / 1000.0).astype(np.float32).reshape(-1, per, 3)
    conf = (joints != 0).any(-1).astype(np.float32)
    joints[..., 0] = 0.0 - joints[..., 0]  # mirror x (0.0 - x, so a stored 0 stays +0.0)
    joints, conf = mask_invalid(joints, conf, str(path))
    return SkeletonSequence(joints, conf, frame_times(len(joints), KARDDataset.fps), KARD,
                            KARDDataset.fps, meta)


class KARDDataset(Dataset):
    """KARD under ``root`` (the ``kard/`` folder of ``aAA_sSS_eEE_realworld.txt`` files).

    Metadata: action (the activity, a01-a18, see ACTION_NAMES), subject (s01-s10), session
    (the repetition, e01-e03). a14 (walk) is a small gait set: 10 people x 3 walks.
    """

    name = "kard"
    fps = 30.0
    classes = ACTIONS

    @classmethod
    def _files(cls, root: Path) -> list[Path]:
        return sorted(p for p in root.glob("*_realworld.txt") if _NAME.match(p.stem))

    @classmethod
    def detect(cls, root: Path) -> bool:
        return any(_NAME.match(p.stem) for p in root.glob("*_realworld.txt"))

    @classmethod
    def index(cls, root: Path) -> list[Item]:
        return [Item(p, kard_meta(p)) for p in cls._files(root)]

    @classmethod
    def read(cls, path: Path) -> SkeletonSequence:
        return read_kard(path)
