"""Action datasets as tensors for contrastive pretraining and evaluation.

Each sequence is mapped onto the 20 shared joints (`engine.models.action.SKELETON_JOINTS`),
centred on its first frame's SpineBase, and linearly resampled over its whole length to
``frames`` frames (augmentations crop and resize from there; evaluation uses it as is).

Protocols:
- NW-UCLA: training views v01 and v02, test view v03 (the standard cross-view split);
- MSR Action3D: cross-subject, odd subjects train, even subjects test.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from engine.datasets import open_dataset
from engine.models.action import SKELETON_JOINTS
from engine.skeleton import INDEX, to_canonical

PICK = np.array([INDEX[n] for n in SKELETON_JOINTS])
ROOT = SKELETON_JOINTS.index("SpineBase")


@dataclass
class ActionSet:
    x: np.ndarray  # [N, T, 20, 3] float32
    label: np.ndarray  # [N] int
    names: list[str]  # action of each label
    meta: list[dict]

    def subset(self, keep: np.ndarray) -> "ActionSet":
        keep = np.asarray(keep)
        return ActionSet(self.x[keep], self.label[keep], self.names, [self.meta[i] for i in np.flatnonzero(keep)]
                         if keep.dtype == bool else [self.meta[i] for i in keep])


def resample(x: np.ndarray, frames: int) -> np.ndarray:
    """[T, ...] -> [frames, ...], linear over the whole length."""
    pos = np.linspace(0, len(x) - 1, frames)
    lo = np.floor(pos).astype(int)
    hi = np.minimum(lo + 1, len(x) - 1)
    w = (pos - lo).reshape(-1, *([1] * (x.ndim - 1)))
    return ((1 - w) * x[lo] + w * x[hi]).astype(np.float32)


def load_actions(root: str | Path, frames: int = 64, progress: bool = True) -> ActionSet:
    ds = open_dataset(root)
    names = sorted(ds.values("action"))
    xs, labels, metas = [], [], []
    for it in tqdm(ds.items, desc=f"reading {Path(root).name}", disable=not progress, leave=False):
        seq = ds.read(it.path)
        joints, _, _ = to_canonical(seq.joints, seq.confidence, seq.layout)
        j = joints[:, PICK]
        j = j - j[:1, ROOT:ROOT + 1]
        xs.append(resample(j, frames))
        labels.append(names.index(it.meta["action"]))
        metas.append(dict(it.meta))
    return ActionSet(np.stack(xs), np.asarray(labels), names, metas)


def protocol_split(data: ActionSet, dataset: str) -> tuple[ActionSet, ActionSet]:
    """(train, test) of the dataset's standard protocol."""
    if dataset == "nwucla":
        test = np.array([m["view"] == "v03" for m in data.meta])
    elif dataset == "msr":
        test = np.array([int(m["subject"].lstrip("s")) % 2 == 0 for m in data.meta])
    else:
        raise ValueError(f"no action protocol for {dataset!r} (nwucla, msr)")
    return data.subset(~test), data.subset(test)
