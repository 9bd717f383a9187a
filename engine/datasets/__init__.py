"""Readers for published skeleton datasets and the generic files, behind two entry points.

- ``read_file(path)``: every sequence in one file of any supported format.
- ``open_dataset(root)``: a lazy `Dataset` over a dataset's folder (KGBD, NW-UCLA,
  MSR Action3D, UTD-MHAD, KARD, NTU RGB+D, or a folder of generic NPZ/CSV files).
"""

from __future__ import annotations

from pathlib import Path

from engine.datasets.base import Dataset, Item
from engine.datasets.generic import FolderDataset, read_csv, read_npz, write_csv, write_npz
from engine.datasets.kard import KARDDataset, read_kard
from engine.datasets.kgbd import KGBDDataset, read_kgbd
from engine.datasets.msr import MSRDataset, read_msr
from engine.datasets.ntu import NTUDataset, read_ntu, read_ntu_bodies
from engine.datasets.nwucla import NWUCLADataset, read_nwucla
from engine.datasets.utd_mhad import UTDMHADDataset, read_utd_mhad
from engine.sequence import SkeletonDataError, SkeletonSequence

# Most specific first: the generic folder matches anything holding NPZ/CSV files.
DATASETS: tuple[type[Dataset], ...] = (KGBDDataset, NWUCLADataset, MSRDataset, UTDMHADDataset,
                                       KARDDataset, NTUDataset, FolderDataset)
FORMATS = {
    ".npz": "generic NPZ", ".csv": "generic CSV", ".mcap": "skelstream recording (MCAP)",
    ".json": "NW-UCLA sample", ".skeleton": "NTU RGB+D skeleton",
    ".txt": "KGBD walk (Joint;x;y;z), MSR Action3D (*_skeleton3D.txt) or KARD (*_realworld.txt)",
    ".mat": "UTD-MHAD sample (*_skeleton.mat, d_skel)",
}


def file_format(path: Path) -> str:
    """A short name of the file's format, by extension (and content for .txt)."""
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        raise SkeletonDataError(f"{path}: unsupported file type {suffix or '(none)'!r}; "
                                f"supported: {', '.join(FORMATS)}")
    if suffix == ".txt":
        if path.stem.endswith("_skeleton3D"):
            return "msr"
        return "kard" if path.stem.endswith("_realworld") else "kgbd"
    return suffix.lstrip(".")


def read_file(path: str | Path) -> list[SkeletonSequence]:
    """Every sequence in ``path``: one for most formats, one per body (track) for NTU files and
    recordings."""
    from engine.recording import Recording

    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"{path}: a folder; give the skeleton files in it (`skelstream info` lists a "
                                "dataset folder's)")
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    fmt = file_format(path)
    if fmt == "mcap":
        with Recording(path) as rec:
            return rec.sequences()
    if fmt == "skeleton":
        return read_ntu_bodies(path)
    reader = {"npz": read_npz, "csv": read_csv, "json": read_nwucla, "msr": read_msr,
              "kgbd": read_kgbd, "kard": read_kard, "mat": read_utd_mhad}[fmt]
    return [reader(path)]


def open_dataset(root: str | Path) -> Dataset:
    """The dataset in folder ``root``, recognised by its file names."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: not a folder")
    for cls in DATASETS:
        if cls.detect(root):
            return cls(root)
    raise SkeletonDataError(f"{root}: no supported dataset here (KGBD Data/PersonNNN/*.txt, "
                            f"NW-UCLA *.json, MSR Action3D *_skeleton3D.txt, UTD-MHAD "
                            f"*_skeleton.mat, KARD *_realworld.txt, NTU *.skeleton, "
                            f"or generic .npz/.csv files)")


__all__ = [
    "DATASETS", "FORMATS", "Dataset", "FolderDataset", "Item", "KARDDataset", "KGBDDataset",
    "MSRDataset", "NTUDataset", "NWUCLADataset", "SkeletonDataError", "SkeletonSequence",
    "UTDMHADDataset", "file_format", "open_dataset", "read_csv", "read_file", "read_kard",
    "read_kgbd", "read_msr", "read_npz", "read_ntu", "read_ntu_bodies", "read_nwucla",
    "read_utd_mhad", "write_csv", "write_npz",
]
