"""A lazy dataset: an index of files with their metadata, loaded one sequence at a time."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, ClassVar, Iterator

from engine.sequence import SkeletonDataError, SkeletonSequence



def name_meta(path: Path, pattern: re.Pattern, keys: tuple[str, ...], form: str) -> dict[str, str]:
    """The metadata ``keys`` a file name carries, one per group of ``pattern`` (matched on the
    stem), and the source path; SkeletonDataError naming the file and the expected ``form``."""
    m = pattern.match(path.stem)
    if not m:
        raise SkeletonDataError(f"{path}: name does not follow {form}")
    return dict(zip(keys, m.groups())) | {"source": str(path)}


@dataclass(frozen=True)
class Item:
    """One indexed sequence: its file and the metadata read from its path (no loading)."""

    path: Path
    meta: dict[str, str]


class Dataset:
    """Sequences under a root folder, indexed from file names and loaded on demand.

    Subclasses set ``name`` and ``fps``, and implement ``detect``, ``index`` and ``read``.
    ``dataset[i]`` loads sequence i; ``dataset.items[i].meta`` has its metadata without
    loading. ``filter`` and ``values`` split by subject, action, view, session or walk.
    """

    name: ClassVar[str] = "dataset"
    fps: ClassVar[float] = 30.0

    def __init__(self, root: str | Path, items: list[Item] | None = None):
        self.root = Path(root)
        if not self.root.is_dir():
            raise FileNotFoundError(f"{self.root}: not a folder")
        self.items = self.index(self.root) if items is None else items

    @classmethod
    def detect(cls, root: Path) -> bool:
        """Whether ``root`` holds this dataset."""
        raise NotImplementedError

    @classmethod
    def index(cls, root: Path) -> list[Item]:
        """The dataset's items, from file names only."""
        raise NotImplementedError

    @classmethod
    def read(cls, path: Path) -> SkeletonSequence:
        """Read one file of this dataset."""
        raise NotImplementedError

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> SkeletonSequence:
        return self.read(self.items[i].path)

    def __iter__(self) -> Iterator[SkeletonSequence]:
        return (self[i] for i in range(len(self)))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self.root)!r}, {len(self)} sequences)"

    def values(self, key: str) -> list[str]:
        """Sorted distinct values of a metadata key over the index."""
        return sorted({it.meta[key] for it in self.items if key in it.meta})

    def counts(self, key: str) -> Counter:
        """How many items carry each value of a metadata key."""
        return Counter(it.meta.get(key) for it in self.items)

    def filter(self, predicate: Callable[[dict[str, str]], bool] | None = None,
               **equal: str | set[str] | list[str]) -> "Dataset":
        """The items whose metadata satisfies ``predicate`` and the given keys (a value or a set)."""
        def keep(meta: dict[str, str]) -> bool:
            for key, want in equal.items():
                ok = meta.get(key) in want if isinstance(want, (set, list, tuple)) else meta.get(key) == want
                if not ok:
                    return False
            return predicate is None or predicate(meta)
        return type(self)(self.root, [it for it in self.items if keep(it.meta)])
