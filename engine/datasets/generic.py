"""The generic interchange files users bring their own data in: NPZ and CSV.

NPZ: ``joints`` [T, J, 3] float32, ``joint_names`` [J] str (canonical names, any subset, any
order), ``fps`` scalar; optional ``confidence`` [T, J], ``timestamps`` [T] (seconds, strictly
increasing; default frame / fps), and str scalars ``subject``, ``action``, ``view``,
``session``, ``walk``.

CSV: header ``time,<Joint>_x,<Joint>_y,<Joint>_z,...``, one row a frame; an empty cell
is a missing joint. fps is taken from the median frame interval.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from engine.datasets.base import Dataset, Item
from engine.datasets.text import parse_floats, read_lines, split_rows
from engine.sequence import (META_KEYS, SkeletonDataError, SkeletonSequence, check_timestamps,
                             frame_times, mask_invalid)
from engine.skeleton import Layout, layout_for

NPZ_META = tuple(k for k in META_KEYS if k != "source")


def _layout(path: Path, names: list[str]) -> Layout:
    if len(set(names)) != len(names):
        raise SkeletonDataError(f"{path}: joint names repeat: {list(names)}")
    try:
        return layout_for(list(names))
    except KeyError as exc:
        raise SkeletonDataError(f"{path}: {exc.args[0]}") from None


def read_npz(path: str | Path) -> SkeletonSequence:
    """Read a generic NPZ file (see the module doc); NaN joints are masked with a warning."""
    path = Path(path)
    if not zipfile.is_zipfile(path):
        raise SkeletonDataError(f"{path}: not a readable NPZ file (not a zip archive)")
    try:
        with np.load(path, allow_pickle=False) as npz:
            data = {k: npz[k] for k in npz.files}
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise SkeletonDataError(f"{path}: not a readable NPZ file ({exc})") from None
    except ValueError as exc:
        raise SkeletonDataError(f"{path}: holds object arrays, which are not loaded ({exc})") from None
    for key in ("joints", "joint_names", "fps"):
        if key not in data:
            raise SkeletonDataError(f"{path}: missing field {key!r} (has {sorted(data)})")
    names = data["joint_names"]
    if names.ndim != 1 or names.dtype.kind not in "US":
        raise SkeletonDataError(f"{path}: field 'joint_names' must be a 1-D string array")
    layout = _layout(path, [str(n) for n in names])
    joints = data["joints"]
    if joints.ndim != 3 or joints.shape[1:] != (len(layout), 3) or joints.dtype.kind != "f":
        raise SkeletonDataError(f"{path}: field 'joints' has shape {joints.shape} ({joints.dtype}), "
                                f"expected float [T, {len(layout)}, 3] for {len(layout)} joint names")
    if len(joints) == 0:
        raise SkeletonDataError(f"{path}: no frames")
    fps = data["fps"]
    if fps.shape != () or fps.dtype.kind not in "fiu" or not np.isfinite(fps) or fps <= 0:
        raise SkeletonDataError(f"{path}: field 'fps' must be a positive number, got {fps!r}")
    conf = data.get("confidence", np.ones(joints.shape[:2], np.float32))
    if conf.shape != joints.shape[:2]:
        raise SkeletonDataError(f"{path}: field 'confidence' has shape {conf.shape}, "
                                f"expected {joints.shape[:2]}")
    times = data.get("timestamps", frame_times(len(joints), float(fps)))
    if times.shape != (len(joints),):
        raise SkeletonDataError(f"{path}: field 'timestamps' has shape {times.shape}, "
                                f"expected ({len(joints)},)")
    meta = {"source": str(path)}
    for key in NPZ_META:
        if key in data:
            if data[key].shape != () or data[key].dtype.kind not in "US":
                raise SkeletonDataError(f"{path}: field {key!r} must be a string scalar")
            meta[key] = str(data[key])
    joints, conf = mask_invalid(joints.astype(np.float32), conf.astype(np.float32), str(path))
    return SkeletonSequence(joints, conf, times, layout, float(fps), meta)


def write_npz(seq: SkeletonSequence, path: str | Path) -> None:
    """Write ``seq`` as a generic NPZ (uncompressed; layout names must be canonical)."""
    path = Path(path)
    if not seq.layout.is_canonical_subset:
        raise SkeletonDataError(f"{path}: layout {seq.layout.name!r} has non-canonical joint names; "
                                f"map it with seq.canonical() first")
    fields = {k: np.array(seq.meta[k]) for k in NPZ_META if k in seq.meta}
    np.savez(path, joints=seq.joints, joint_names=np.array(seq.layout.canonical_names()),
             fps=np.array(seq.fps), confidence=seq.confidence, timestamps=seq.timestamps, **fields)


def read_csv(path: str | Path) -> SkeletonSequence:
    """Read a generic CSV file (see the module doc)."""
    path = Path(path)
    lines = read_lines(path)
    header = [h.strip() for h in lines[0].split(",")]
    if header[0] != "time" or len(header) < 4 or (len(header) - 1) % 3:
        raise SkeletonDataError(f"{path}:1: header must be time,<Joint>_x,<Joint>_y,<Joint>_z,..., "
                                f"got {lines[0][:80]!r}")
    names = []
    for k in range(1, len(header), 3):
        joint = header[k].removesuffix("_x")
        if header[k:k + 3] != [f"{joint}_x", f"{joint}_y", f"{joint}_z"]:
            raise SkeletonDataError(f"{path}:1: columns {k + 1}-{k + 3} must be "
                                    f"{joint}_x,{joint}_y,{joint}_z, got {header[k:k + 3]}")
        names.append(joint)
    layout = _layout(path, names)
    if len(lines) < 2:
        raise SkeletonDataError(f"{path}: no frames after the header")
    rows = split_rows(path, lines[1:], ",", len(header), ",".join(header)[:40] + "...", first_line=2)
    filled = [",".join(v if v.strip() else "nan" for v in r) for r in rows]
    values = parse_floats(path, filled, ",", first_line=2)
    times = values[:, 0]
    joints = values[:, 1:].reshape(len(values), len(layout), 3).astype(np.float32)
    where = str(path)
    check_timestamps(times, where)
    missing = np.isnan(joints).all(-1)
    joints = np.where(missing[..., None], 0.0, joints).astype(np.float32)
    joints, conf = mask_invalid(joints, (~missing).astype(np.float32), where)
    fps = 1.0 / float(np.median(np.diff(times))) if len(times) > 1 else 30.0
    return SkeletonSequence(joints, conf, times, layout, round(fps, 3), {"source": where})


def write_csv(seq: SkeletonSequence, path: str | Path) -> None:
    """Write ``seq`` as a generic CSV; missing joints become empty cells. Values round-trip exactly."""
    if not seq.layout.is_canonical_subset:
        raise SkeletonDataError(f"{path}: layout {seq.layout.name!r} has non-canonical joint names; "
                                f"map it with seq.canonical() first")
    header = ["time"] + [f"{j}_{a}" for j in seq.layout.canonical_names() for a in "xyz"]
    out = [",".join(header)]
    for t, frame, conf in zip(seq.timestamps, seq.joints, seq.confidence):
        cells = [repr(float(t))]
        for xyz, c in zip(frame, conf):
            cells += [str(v) for v in xyz] if c > 0 else ["", "", ""]
        out.append(",".join(cells))
    Path(path).write_text("\n".join(out) + "\n")


class FolderDataset(Dataset):
    """Any folder of generic NPZ/CSV files (searched recursively); metadata as stored in NPZ."""

    name = "folder"

    @classmethod
    def _files(cls, root: Path) -> list[Path]:
        return sorted(p for p in root.rglob("*") if p.suffix.lower() in (".npz", ".csv"))

    @classmethod
    def detect(cls, root: Path) -> bool:
        return bool(cls._files(root))

    @classmethod
    def index(cls, root: Path) -> list[Item]:
        return [Item(p, {"source": str(p)}) for p in cls._files(root)]

    @classmethod
    def read(cls, path: Path) -> SkeletonSequence:
        return read_npz(path) if path.suffix.lower() == ".npz" else read_csv(path)
