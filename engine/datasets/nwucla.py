"""NW-UCLA Multiview Action 3D skeletons: ``aAA_sSS_eEE_vVV.json`` with ``skeletons`` and ``label``."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np

from engine.datasets.base import Dataset, Item, name_meta
from engine.sequence import SkeletonDataError, SkeletonSequence, frame_times, mask_invalid
from engine.skeleton import KINECT_V1

_NAME = re.compile(r"(a\d+)_(s\d+)_(e\d+)_(v\d+)$")
# label 1..10 stands for these actions, in this order.
ACTIONS = ("a01", "a02", "a03", "a04", "a05", "a06", "a08", "a09", "a11", "a12")


def nwucla_meta(path: Path) -> dict[str, str]:
    """action, subject, session (repetition) and view parsed from the file name."""
    return name_meta(path, _NAME, ("action", "subject", "session", "view"), "aAA_sSS_eEE_vVV.json")


def read_nwucla(path: str | Path) -> SkeletonSequence:
    """Read one NW-UCLA sample: frames of 20 Kinect v1 joints (metres, y up), 30 Hz."""
    path = Path(path)
    meta = nwucla_meta(path)
    try:
        doc = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise SkeletonDataError(f"{path}:{exc.lineno}: not valid JSON ({exc.msg})") from None
    if not isinstance(doc, dict) or "skeletons" not in doc:
        raise SkeletonDataError(f"{path}: missing field 'skeletons'")
    label = doc.get("label")
    if label is not None and (not isinstance(label, int) or not 1 <= label <= len(ACTIONS)
                              or ACTIONS[label - 1] != meta["action"]):
        raise SkeletonDataError(f"{path}: field 'label' is {label!r}, but the name says {meta['action']}")
    frames = doc["skeletons"]
    if not isinstance(frames, list) or not frames:
        raise SkeletonDataError(f"{path}: field 'skeletons' holds no frames")
    for t, frame in enumerate(frames):
        if not isinstance(frame, list) or len(frame) != len(KINECT_V1) or any(
                not isinstance(j, list) or len(j) != 3 for j in frame):
            raise SkeletonDataError(f"{path}: skeletons[{t}] is not {len(KINECT_V1)} joints x [x, y, z]")
    try:
        joints = np.array(frames, dtype=np.float32)
    except (TypeError, ValueError):
        raise SkeletonDataError(f"{path}: field 'skeletons' holds a value that is not a number") from None
    conf = (joints != 0).any(-1).astype(np.float32)
    joints, conf = mask_invalid(joints, conf, str(path))
    return SkeletonSequence(joints, conf, frame_times(len(joints), NWUCLADataset.fps), KINECT_V1,
                            NWUCLADataset.fps, meta)


class NWUCLADataset(Dataset):
    """NW-UCLA under ``root`` (``nwucla/`` or its ``all_sqe/``); metadata: action, subject, session, view."""

    name = "nwucla"
    # The files hold no timestamps or rate, and these clips are NOT 30 Hz: a step in the "walk
    # around" clips (a04, the one walking action) lasts 7.3 frames at the median (view 1 8.5,
    # view 2 6.8, view 3 7.1; half the period of the distance between the ankles), where KGBD's
    # 30 Hz walks take 17.3 frames (0.58 s). At KGBD's cadence that is 12.6 frames a second (11
    # to 15 for cadences of 1.6 to 2.1 steps a second); read as 30 Hz, people would walk at 4
    # steps and 2 m a second. `python results/transfer/rate/estimate.py` measures it.
    fps = 12.5
    classes = ACTIONS

    @classmethod
    def _files(cls, root: Path) -> list[Path]:
        folder = root / "all_sqe" if (root / "all_sqe").is_dir() else root
        return sorted(p for p in folder.glob("*.json") if _NAME.match(p.stem))

    @classmethod
    def detect(cls, root: Path) -> bool:
        return bool(cls._files(root))

    @classmethod
    def index(cls, root: Path) -> list[Item]:
        return [Item(p, nwucla_meta(p)) for p in cls._files(root)]

    @classmethod
    def read(cls, path: Path) -> SkeletonSequence:
        return read_nwucla(path)
