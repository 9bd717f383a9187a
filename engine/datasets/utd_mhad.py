"""UTD-MHAD skeletons: ``aA_sS_tT_skeleton.mat``, MATLAB files holding ``d_skel`` [20, 3, T]."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from engine.datasets.base import Dataset, Item
from engine.sequence import SkeletonDataError, SkeletonSequence, frame_times, mask_invalid
from engine.skeleton import UTD_MHAD

_NAME = re.compile(r"a(\d+)_s(\d+)_t(\d+)_skeleton$")
VARIABLE = "d_skel"
# The 27 actions (Chen, Jafari, Kehtarnavaz, ICIP 2015), by the code the metadata carries.
ACTION_NAMES = {f"a{k:02d}": name for k, name in enumerate((
    "right arm swipe to the left", "right arm swipe to the right", "right hand wave",
    "two hand front clap", "right arm throw", "cross arms in the chest", "basketball shoot",
    "right hand draw x", "right hand draw circle (clockwise)",
    "right hand draw circle (counter clockwise)", "draw triangle", "bowling (right hand)",
    "front boxing", "baseball swing from right", "tennis right hand forehand swing",
    "arm curl (two arms)", "tennis serve", "two hand push", "right hand knock on door",
    "right hand catch an object", "right hand pick up and throw", "jogging in place",
    "walking in place", "sit to stand", "stand to sit", "forward lunge (left foot forward)",
    "squat (two arms stretch out)"), start=1)}
ACTIONS = tuple(ACTION_NAMES)


def utd_mhad_meta(path: Path) -> dict[str, str]:
    """action, subject and session (trial) parsed from the file name.

    The numbers are written with two digits (``a3_s1_t2`` gives a03, s01, t02) so that they sort
    in numeric order, as the other datasets' codes do.
    """
    m = _NAME.match(path.stem)
    if not m:
        raise SkeletonDataError(f"{path}: name does not follow aA_sS_tT_skeleton.mat")
    action, subject, trial = (int(g) for g in m.groups())
    return {"action": f"a{action:02d}", "subject": f"s{subject:02d}", "session": f"t{trial:02d}",
            "source": str(path)}


def read_utd_mhad(path: str | Path) -> SkeletonSequence:
    """Read one UTD-MHAD sequence: ``d_skel`` [20, 3, T] (joint, xyz, frame), 30 Hz.

    Coordinates are Kinect v1 camera space already (metres, y up, sides as the person's own;
    see the UTD_MHAD layout), so they are kept as stored. A joint is present (confidence 1)
    unless its coordinates are all zero; NaN joints are masked with a warning.
    """
    from scipy.io import loadmat
    from scipy.io.matlab import MatReadError

    path = Path(path)
    meta = utd_mhad_meta(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    try:
        doc = loadmat(path)
    except NotImplementedError:  # MATLAB v7.3 files are HDF5
        raise SkeletonDataError(f"{path}: MATLAB v7.3 (HDF5) file; expected a MATLAB v5 file "
                                f"as UTD-MHAD publishes") from None
    except (MatReadError, ValueError, TypeError, OSError) as exc:
        raise SkeletonDataError(f"{path}: not a readable MATLAB .mat file ({exc})") from None
    if VARIABLE not in doc:
        found = sorted(k for k in doc if not k.startswith("__"))
        raise SkeletonDataError(f"{path}: no variable {VARIABLE!r} (found: "
                                f"{', '.join(found) if found else 'none'})")
    data = np.asarray(doc[VARIABLE])
    per = len(UTD_MHAD)
    if not (np.issubdtype(data.dtype, np.integer) or np.issubdtype(data.dtype, np.floating)):
        raise SkeletonDataError(f"{path}: {VARIABLE} holds {data.dtype} values, not real numbers")
    if data.ndim == 2 and data.shape == (per, 3):  # MATLAB drops the trailing 1 of one frame
        data = data[:, :, None]
    if data.ndim != 3 or data.shape[:2] != (per, 3) or data.shape[2] == 0:
        raise SkeletonDataError(f"{path}: {VARIABLE} has shape {list(data.shape)}, expected "
                                f"[{per}, 3, T] (joint, xyz, frame) with T >= 1")
    joints = np.ascontiguousarray(data.transpose(2, 0, 1), dtype=np.float32)
    conf = (joints != 0).any(-1).astype(np.float32)
    joints, conf = mask_invalid(joints, conf, str(path))
    return SkeletonSequence(joints, conf, frame_times(len(joints), UTDMHADDataset.fps), UTD_MHAD,
                            UTDMHADDataset.fps, meta)


class UTDMHADDataset(Dataset):
    """UTD-MHAD under ``root`` (the ``utd_mhad/`` folder of ``aA_sS_tT_skeleton.mat`` files).

    Metadata: action (a01-a27, see ACTION_NAMES), subject (s01-s08), session (the trial,
    t01-t04). Usual protocol: cross-subject, odd subjects train, even subjects test.
    """

    name = "utd_mhad"
    fps = 30.0
    classes = ACTIONS

    @classmethod
    def _files(cls, root: Path) -> list[Path]:
        return sorted(p for p in root.glob("*_skeleton.mat") if _NAME.match(p.stem))

    @classmethod
    def detect(cls, root: Path) -> bool:
        return any(_NAME.match(p.stem) for p in root.glob("*_skeleton.mat"))

    @classmethod
    def index(cls, root: Path) -> list[Item]:
        items = [Item(p, utd_mhad_meta(p)) for p in cls._files(root)]
        return sorted(items, key=lambda it: (it.meta["action"], it.meta["subject"], it.meta["session"]))

    @classmethod
    def read(cls, path: Path) -> SkeletonSequence:
        return read_utd_mhad(path)
