"""Extract the real-data archives of ``../shared/data`` into a cache folder, once.

The shared folder is ``$SKELSTREAM_SHARED_DATA`` or ``<repo>/../shared/data``; the cache is
``$SKELSTREAM_CACHE`` or ``~/.cache/skelstream``. Extraction goes to a temporary folder that
is renamed into place when complete, under a file lock, so concurrent users never see a
half-extracted dataset.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import tarfile
import tempfile
from pathlib import Path

from tqdm import tqdm

# archive name -> the folder it unpacks to
ARCHIVES = {"kgbd": "kgbd.tar.xz", "nwucla": "nwucla.tar.xz", "msr_action3d": "msr_action3d.tar.xz",
            "utd_mhad": "utd_mhad.tar.xz", "kard": "kard.tar.xz"}


def shared_data_dir() -> Path:
    """Where the shared archives are."""
    env = os.environ.get("SKELSTREAM_SHARED_DATA")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[2].parent / "shared" / "data"


def cache_dir() -> Path:
    """Where archives are extracted."""
    return Path(os.environ.get("SKELSTREAM_CACHE", Path.home() / ".cache" / "skelstream"))


def archive_path(name: str) -> Path:
    """The shared archive of dataset ``name``; FileNotFoundError names where it was looked for."""
    if name not in ARCHIVES:
        raise KeyError(f"unknown dataset {name!r}; known: {', '.join(ARCHIVES)}")
    path = shared_data_dir() / ARCHIVES[name]
    if not path.is_file():
        raise FileNotFoundError(f"{path}: archive not found (set SKELSTREAM_SHARED_DATA to the "
                                f"folder holding {ARCHIVES[name]})")
    return path


def extract(name: str, progress: bool = True) -> Path:
    """The extracted root of dataset ``name`` (e.g. ``<cache>/data/kgbd``), extracting it first if needed."""
    target = cache_dir() / "data" / name
    if target.is_dir():
        return target
    archive = archive_path(name)
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target.parent / f".{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if target.is_dir():
            return target
        tmp = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=target.parent))
        try:
            with tarfile.open(archive) as tar:
                members = tar.getmembers()
                for member in tqdm(members, desc=f"extracting {archive.name}", unit="file",
                                   disable=None if progress else True, leave=False):
                    tar.extract(member, tmp, filter="data")
            root = tmp / name
            if not root.is_dir():
                raise FileNotFoundError(f"{archive}: does not unpack to a folder {name}/")
            root.rename(target)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return target
