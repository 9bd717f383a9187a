"""MSR Action3D skeletons: ``aAA_sSS_eEE_skeleton3D.txt``, 20 lines ``x y z c`` a frame."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from engine.datasets.base import Dataset, Item, name_meta
from engine.datasets.text import parse_floats, read_lines, split_rows
from engine.sequence import SkeletonDataError, SkeletonSequence, frame_times, mask_invalid
from engine.skeleton import MSR_ACTION3D

_NAME = re.compile(r"(a\d+)_(s\d+)_(e\d+)_skeleton3D$")


def msr_meta(path: Path) -> dict[str, str]:
    """action, subject and session (repetition) parsed from the file name."""
    return name_meta(path, _NAME, ("action", "subject", "session"), "aAA_sSS_eEE_skeleton3D.txt")


def read_msr(path: str | Path) -> SkeletonSequence:
    """Read one MSR Action3D sequence (metres, y up), 15 Hz.

    The fourth column is not a tracking confidence (it is 0 in over 85% of the frames for the
    spine, hip centre and feet, which are tracked), so it is not used: a joint is present
    (confidence 1) unless its coordinates are all zero, as the files store missing joints.
    """
    path = Path(path)
    meta = msr_meta(path)
    lines = read_lines(path)
    split_rows(path, lines, None, 4, "x y z confidence")
    per = len(MSR_ACTION3D)
    if len(lines) % per:
        raise SkeletonDataError(f"{path}:{len(lines)}: truncated: last frame has {len(lines) % per} "
                                f"of {per} joints")
    joints = parse_floats(path, lines, None, (0, 1, 2)).astype(np.float32).reshape(-1, per, 3)
    conf = (joints != 0).any(-1).astype(np.float32)
    joints, conf = mask_invalid(joints, conf, str(path))
    return SkeletonSequence(joints, conf, frame_times(len(joints), MSRDataset.fps), MSR_ACTION3D,
                            MSRDataset.fps, meta)


class MSRDataset(Dataset):
    """MSR Action3D under ``root`` (``msr_action3d/`` or ``real_world_coordinates/``).

    Metadata: action, subject, session. ``used`` tells whether a sequence is one of the 557
    of the usual protocol (``files_used.txt``).
    """

    name = "msr_action3d"
    fps = 15.0

    @classmethod
    def _folder(cls, root: Path) -> Path:
        sub = root / "real_world_coordinates"
        return sub if sub.is_dir() else root

    @classmethod
    def detect(cls, root: Path) -> bool:
        return any(_NAME.match(p.stem) for p in cls._folder(root).glob("*_skeleton3D.txt"))

    @classmethod
    def index(cls, root: Path) -> list[Item]:
        folder = cls._folder(root)
        used_file = next((f for f in (root / "files_used.txt",
                                      folder / "files_used_in_cvpr12_paper.txt") if f.is_file()), None)
        used = set(used_file.read_text().split()) if used_file else None
        items = []
        for p in sorted(folder.glob("*_skeleton3D.txt")):
            meta = msr_meta(p)
            if used is not None:
                meta["used"] = "1" if p.stem.removesuffix("_skeleton3D") in used else "0"
            items.append(Item(p, meta))
        return items

    @classmethod
    def read(cls, path: Path) -> SkeletonSequence:
        return read_msr(path)
