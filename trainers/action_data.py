"""Action datasets as tensors for contrastive pretraining and evaluation.

Each sequence is linearly resampled over its whole length to ``frames`` frames and goes through
`engine.models.action.action_view` (first-frame centring, upright, facing -z, the 20 shared
joints): `engine.models.action.action_input`. Augmentations crop and resize from there;
evaluation uses it as is.

Protocols (`PROTOCOLS`; the test split is never read for pretraining):
- NW-UCLA: training views v01 and v02, test view v03 (the standard cross-view split);
- MSR Action3D, UTD-MHAD, KARD: cross-subject, odd subjects train, even subjects test.

Validation inside a training split (`validation_split`, for choosing settings): NW-UCLA v01 ->
v02; MSR Action3D and KARD subjects 1, 3, 5 -> 7, 9; UTD-MHAD subjects 1, 3, 5 -> 7.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from engine.datasets import open_dataset
from engine.models.action import action_input
from engine.skeleton import to_canonical


# NW-UCLA's ten actions (Wang et al., CVPR 2014); MSR Action3D names its own in action_names.txt
NWUCLA_NAMES = {"a01": "pick up with one hand", "a02": "pick up with two hands", "a03": "drop trash",
                "a04": "walk around", "a05": "sit down", "a06": "stand up", "a08": "donning", "a09": "doffing",
                "a11": "throw", "a12": "carry"}


# protocol name -> (shared archive, the protocol in words)
PROTOCOLS = {"nwucla": ("nwucla", "cross-view: train views v01+v02, test view v03"),
             "msr": ("msr_action3d", "cross-subject: train odd subjects, test even subjects"),
             "utd_mhad": ("utd_mhad", "cross-subject: train odd subjects, test even subjects"),
             "kard": ("kard", "cross-subject: train odd subjects, test even subjects")}
DATASETS = {name: archive for name, (archive, _) in PROTOCOLS.items()}


def action_titles(root: Path, codes: list[str]) -> list[str]:
    """Readable names of action codes: MSR's action_names.txt, the reader's table (NW-UCLA,
    UTD-MHAD, KARD), else the code."""
    name = open_dataset(root).name
    table = dict(NWUCLA_NAMES) if name == "nwucla" else {}
    if name in ("utd_mhad", "kard"):
        from importlib import import_module
        table = dict(import_module(f"engine.datasets.{name}").ACTION_NAMES)
    listed = root / "action_names.txt"
    if listed.is_file():
        table = dict(line.split(None, 1) for line in listed.read_text().splitlines() if line.strip())
    return [table.get(c, c).strip() for c in codes]


@dataclass
class ActionSet:
    x: np.ndarray  # [N, T, 20, 3] float32
    label: np.ndarray  # [N] int
    names: list[str]  # action of each label (readable: "drop trash")
    meta: list[dict]

    def subset(self, keep: np.ndarray) -> "ActionSet":
        keep = np.asarray(keep)
        return ActionSet(self.x[keep], self.label[keep], self.names, [self.meta[i] for i in np.flatnonzero(keep)]
                         if keep.dtype == bool else [self.meta[i] for i in keep])


def read_clips(root: str | Path, progress: bool = True):
    """Each clip of an action dataset as ``(meta, joints [T, 25, 3] canonical, confidence [T, 25],
    fps)``, in the dataset's order; MSR Action3D's 10 sequences outside the usual protocol's 557
    (``files_used.txt``) are left out."""
    ds = open_dataset(root)
    items = [it for it in ds.items if it.meta.get("used", "1") == "1"]
    for it in tqdm(items, desc=f"reading {Path(root).name}", disable=None if progress else True, leave=False):
        seq = ds.read(it.path)
        joints, confidence, _ = to_canonical(seq.joints, seq.confidence, seq.layout)
        yield dict(it.meta, dataset=ds.name), joints, confidence, seq.fps


def load_actions(root: str | Path, frames: int = 64, progress: bool = True) -> ActionSet:
    """Every clip of an action dataset (`read_clips`) resampled to ``frames`` (`action_input`)."""
    codes = sorted(open_dataset(root).values("action"))
    xs, labels, metas = [], [], []
    for meta, joints, confidence, _ in read_clips(root, progress):
        xs.append(action_input(joints, confidence, frames))
        labels.append(codes.index(meta["action"]))
        metas.append(meta)
    return ActionSet(np.stack(xs), np.asarray(labels), action_titles(Path(root), codes), metas)


def _check(dataset: str) -> None:
    if dataset not in PROTOCOLS:
        raise ValueError(f"no action protocol for {dataset!r} (one of {', '.join(PROTOCOLS)})")


def _subject(meta: dict) -> int:
    return int(meta["subject"].lstrip("s"))


def validation_split(train: ActionSet, dataset: str) -> tuple[ActionSet, ActionSet]:
    """(fit, validation) inside a protocol's TRAINING split, for choosing settings without the
    test split: NW-UCLA view v01 -> view v02 (cross-view, as the protocol); MSR Action3D and
    KARD subjects 1, 3, 5 -> 7, 9; UTD-MHAD (4 training subjects) 1, 3, 5 -> 7 (cross-subject)."""
    _check(dataset)
    if dataset == "nwucla":
        val = np.array([m["view"] == "v02" for m in train.meta])
    else:
        val = np.array([_subject(m) >= 7 for m in train.meta])
    return train.subset(~val), train.subset(val)


def test_mask(meta: list[dict], dataset: str) -> np.ndarray:
    """True for the clips of a dataset's test split (`PROTOCOLS`)."""
    _check(dataset)
    if dataset == "nwucla":
        return np.array([m["view"] == "v03" for m in meta], bool)
    return np.array([_subject(m) % 2 == 0 for m in meta], bool)


def protocol_split(data: ActionSet, dataset: str) -> tuple[ActionSet, ActionSet]:
    """(train, test) of the dataset's standard protocol."""
    test = test_mask(data.meta, dataset)
    return data.subset(~test), data.subset(test)


def load_protocol(dataset: str, frames: int, progress: bool = True, split: str = "test",
                  root: str | Path = "") -> tuple[ActionSet, ActionSet]:
    """(train, test) clips of a dataset's protocol (extracted from the shared archive unless
    ``root``); ``split="val"``: (fit, validation) inside its training split."""
    from engine.datasets.cache import extract
    _check(dataset)
    train, test = protocol_split(load_actions(root or extract(DATASETS[dataset], progress=progress), frames,
                                              progress=progress), dataset)
    return validation_split(train, dataset) if split == "val" else (train, test)
