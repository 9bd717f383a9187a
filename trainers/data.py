"""Data modules of the one trainer (`trainers.trainer.Trainer`): what a method trains on.

A data module loads its training data once, carves a validation share from it for early
stopping, and hands the trainer batches of index arrays and their tensors:

- `WalkData` (gait methods): windows of walks (`trainers.gait_data`), the protocol's held-out
  walks never loaded into fit or validation; batches of consecutive windows of one person
  (LCL's batches); optional joint dropout (the input loses another sensor's joints, the clean
  window stays the target).
- `IdentityWalkData` (supervised gait methods): the same walks with their people as labels, in
  batches of P people x K windows.
- `TeacherWalkData` (distillation): the same walks in random batches of windows, each with a
  teacher checkpoint's matching feature of the clean window as its ``target`` (no labels).
- `ClipData` (action methods): whole clips resampled to ``frames`` (`trainers.action_data`) of
  one or several datasets (``dataset: nwucla,msr,utd_mhad,kard``): the union of their
  protocols' TRAINING splits, no labels used; their test splits are dropped before anything
  else. A random ``val_fraction`` of each dataset's training clips is kept for the validation
  loss. With ``multi_view`` (BYOL's multi-viewpoint sampling, seed 004 Sec. 3.4) each training
  clip comes with a ``pair``: a clip drawn at random, with replacement, among the training
  viewpoints of the same action instance (`instance_key`: NW-UCLA's action, subject and session
  seen by its cameras); a clip no other camera saw is its own pair.

Every module gives ``fit_size``, ``batches(seed, rank, world)`` (this rank's share; every rank
the same count, so DDP stays in step), ``val_batches()``, ``tensors(idx, train, rng)`` (a dict
with ``x`` and, for joint dropout, ``clean``), ``info`` (what the checkpoint records) and
``describe()``.
"""

from __future__ import annotations

import numpy as np
from tqdm import tqdm

from trainers.config import TrainConfig


def _shard(batches: list, rank: int, world: int) -> list:
    return batches[: len(batches) // world * world][rank::world]


class WalkData:
    kind = "walks"

    def __init__(self, cfg: TrainConfig, length: int, progress: bool = True):
        from trainers.gait_data import PROTOCOLS, load_walks, protocol_walks, validation_split, walk_dataset
        if cfg.protocol not in PROTOCOLS:
            raise ValueError(f"protocol must be one of {', '.join(PROTOCOLS)}, got {cfg.protocol!r}")
        ds = walk_dataset(cfg.dataset, cfg.data_root, cfg.limit_people, progress)
        walks = load_walks(ds, length, progress=progress, upright=cfg.upright, common_joints=cfg.common_joints,
                           shared_joints=cfg.shared_joints)
        train_ids = protocol_walks(walks, cfg.protocol, cfg.split_seed)[0]
        held_ids = sorted(set(range(len(walks.walk_person))) - set(train_ids))  # never loaded into fit or validation
        train = walks.subset(train_ids)
        fit_ids, val_ids = validation_split(train, cfg.split_seed, cfg.val_fraction)
        self.cfg = cfg
        self.fit, self.val = train.subset(fit_ids), train.subset(val_ids)
        self.info = {"dataset": cfg.dataset, "root": str(ds.root), "protocol": cfg.protocol,
                     "split_seed": cfg.split_seed, "limit_people": cfg.limit_people, "train_walks": len(train_ids),
                     "held_out_walks": len(held_ids), "validation_walks": len(val_ids),
                     "held_out": [walks.walk_id[w] for w in held_ids]}
        self.fit_size = len(self.fit.windows)

    def describe(self) -> str:
        return (f"{len(self.fit.windows)} training windows from {len(self.fit.walk_person)} walks, "
                f"{len(self.val.windows)} validation windows")

    def batches(self, seed: int, rank: int = 0, world: int = 1) -> list[np.ndarray]:
        from trainers.gait_data import consecutive_batches
        return _shard(list(consecutive_batches(self.fit, self.cfg.batch, np.random.default_rng(seed))), rank, world)

    def val_batches(self) -> list[np.ndarray]:
        from trainers.gait_data import consecutive_batches
        return list(consecutive_batches(self.val, self.cfg.batch, np.random.default_rng(12345)))

    def tensors(self, idx: np.ndarray, train: bool, rng: np.random.Generator | None = None) -> dict[str, np.ndarray]:
        from trainers.gait_data import drop_sensor_joints
        clean = (self.fit if train else self.val).windows[idx]
        if train and self.cfg.joint_dropout:
            return {"x": drop_sensor_joints(clean, rng, self.cfg.joint_dropout), "clean": clean}
        return {"x": clean}


class IdentityWalkData(WalkData):
    """Walks with their people as labels (supervised gait methods: A3D): batches of P people x K
    windows (``batch`` = P x K, K = the method's ``clips``); ``tensors`` adds ``label`` (the
    index of the window's person among `people`, the training people). Validation walks are
    other walks of training people (`trainers.gait_data.validation_split`)."""

    kind = "identities"

    def __init__(self, cfg: TrainConfig, length: int, clips: int, progress: bool = True):
        super().__init__(cfg, length, progress)
        if clips < 2 or cfg.batch % clips or cfg.batch // clips < 2:
            raise ValueError(f"batch={cfg.batch} must be P x K with P >= 2 people and K = clips = {clips} >= 2")
        self.clips, self.per_batch = clips, cfg.batch // clips
        self.people = sorted(set(self.fit.walk_person))
        index = {p: k for k, p in enumerate(self.people)}
        self.fit_labels = np.array([index[p] for p in self.fit.person], np.int64)
        self.val_labels = np.array([index.get(p, -1) for p in self.val.person], np.int64)
        if (self.val_labels < 0).any():  # `validation_split` leaves everyone a walk to fit on
            raise ValueError("validation walks of a person with no training walk: the split is broken")
        self.info["people"] = len(self.people)

    def describe(self) -> str:
        return super().describe() + f"; {len(self.people)} people, batches of {self.per_batch} x {self.clips}"

    def batches(self, seed: int, rank: int = 0, world: int = 1) -> list[np.ndarray]:
        from trainers.gait_data import pk_batches
        count = max(1, len(self.fit.windows) // self.cfg.batch)
        return _shard(list(pk_batches(self.fit, self.per_batch, self.clips, count, np.random.default_rng(seed))),
                      rank, world)

    def val_batches(self) -> list[np.ndarray]:
        from trainers.gait_data import pk_batches
        count = min(50, max(1, len(self.val.windows) // self.cfg.batch))
        return list(pk_batches(self.val, self.per_batch, self.clips, count, np.random.default_rng(12345)))

    def tensors(self, idx: np.ndarray, train: bool, rng: np.random.Generator | None = None) -> dict[str, np.ndarray]:
        x = super().tensors(idx, train, rng)["x"]  # with joint dropout when asked (no clean target needed)
        return {"x": x, "label": (self.fit_labels if train else self.val_labels)[idx]}


class TeacherWalkData(WalkData):
    """Walks for distillation (`trainers.methods.distill`): the fit windows in a random order each
    epoch, in whole batches of ``batch`` (the last partial batch left out); ``tensors`` adds
    ``target``, the teacher gait checkpoint's matching feature of the clean window
    (`engine.embed.window_features`), computed once here for every fit and validation window (on
    each DDP rank: they are deterministic). The input keeps joint dropout (``x``); no labels are read."""

    kind = "teacher"

    def __init__(self, cfg: TrainConfig, length: int, teacher: str, progress: bool = True):
        super().__init__(cfg, length, progress)
        import os

        import torch

        from engine.checkpoint import load_gait
        from engine.embed import encode_batches, window_features
        from engine.models.sge_la import window_options
        from trainers.gait_data import FPS
        device = "cuda" if cfg.device == "cuda" or (cfg.device == "auto" and torch.cuda.is_available()) else "cpu"
        if device == "cuda":  # this rank's GPU under DDP (the trainer sets it only later)
            device = f"cuda:{int(os.environ.get('LOCAL_RANK', 0))}"
        model, meta = load_gait(teacher or None, device)
        if int(meta["input"]["window"]) != length or float(meta["input"].get("fps", FPS)) != FPS:
            raise ValueError(f"teacher {meta['name']}: windows of {meta['input']['window']} frames at "
                             f"{meta['input'].get('fps', FPS)} Hz, the student's {length} at {FPS}")
        mine = {"upright": cfg.upright, "common_joints": cfg.common_joints, "shared_joints": cfg.shared_joints}
        theirs = window_options(meta["input"])
        if mine != theirs:  # the student must see the windows the teacher was given
            raise ValueError(f"teacher {meta['name']} takes windows with {theirs}; this run's are {mine}")
        device = next(model.parameters()).device
        encode = lambda x: model.encode(x)["sequence"]  # noqa: E731
        targets = {}
        for role, walks in (("fit", self.fit), ("val", self.val)):
            chunks = range(0, len(walks.windows), 1024)
            bar = tqdm(chunks, desc=f"teacher features ({role})", unit=" x1024 windows",
                       disable=None if progress else True)
            targets[role] = np.concatenate([window_features(model, encode_batches(encode, walks.windows[s:s + 1024],
                                                                                  device, 256))
                                            for s in bar] or [np.zeros((0, 1), np.float32)]).astype(np.float32)
        self.fit_targets, self.val_targets = targets["fit"], targets["val"]
        self.info["teacher"] = {"name": meta["name"], "fingerprint": meta["fingerprint"]}

    def batches(self, seed: int, rank: int = 0, world: int = 1) -> list[np.ndarray]:
        order = np.random.default_rng(seed).permutation(len(self.fit.windows))
        b = self.cfg.batch
        return _shard([order[s:s + b] for s in range(0, len(order) - b + 1, b)], rank, world)

    def val_batches(self) -> list[np.ndarray]:
        b = self.cfg.batch
        return [np.arange(s, min(s + b, len(self.val.windows))) for s in range(0, len(self.val.windows), b)]

    def tensors(self, idx: np.ndarray, train: bool, rng: np.random.Generator | None = None) -> dict[str, np.ndarray]:
        x = super().tensors(idx, train, rng)["x"]  # with joint dropout when asked
        return {"x": x, "target": (self.fit_targets if train else self.val_targets)[idx]}


def dataset_names(spec: str) -> list[str]:
    """``"nwucla,msr"`` -> ["nwucla", "msr"], each a known action protocol, no repeats."""
    from trainers.action_data import PROTOCOLS
    names = [n.strip() for n in spec.split(",") if n.strip()]
    bad = [n for n in names if n not in PROTOCOLS]
    if not names or bad or len(set(names)) != len(names):
        raise ValueError(f"dataset: expected a comma list of distinct action datasets of {', '.join(PROTOCOLS)}, "
                         f"got {spec!r}")
    return names


class ClipData:
    kind = "clips"

    def __init__(self, cfg: TrainConfig, frames: int, progress: bool = True, sets: dict | None = None):
        """``sets``: {dataset: ActionSet of ALL its clips} instead of reading them (tests)."""
        from trainers.action_data import DATASETS, load_actions, protocol_split
        from engine.datasets.cache import extract
        self.cfg, self.names = cfg, dataset_names(cfg.dataset)
        if cfg.data_root and len(self.names) > 1:
            raise ValueError("data_root names one dataset's folder; leave it empty with several datasets")
        rng = np.random.default_rng(cfg.split_seed + 7919)
        fit, val, keys, self.info = [], [], [], {"dataset": cfg.dataset, "datasets": {}, "protocol": "training splits, no labels"}
        for name in self.names:
            data = (sets or {}).get(name) or load_actions(cfg.data_root or extract(DATASETS[name], progress=progress),
                                                           frames, progress=progress)
            train, test = protocol_split(data, name)  # the test split goes no further
            n = len(train.x)
            val_idx = np.sort(rng.permutation(n)[: max(1, int(round(n * cfg.val_fraction)))])
            keep = np.setdiff1d(np.arange(n), val_idx)
            fit.append(train.x[keep])
            keys += [instance_key(train.meta[i], name) for i in keep]
            val.append(train.x[val_idx])
            self.info["datasets"][name] = {"train_clips": int(n), "test_clips_left_out": int(len(test.x)),
                                           "validation_clips": int(len(val_idx))}
        self.fit_x, self.val_x = np.concatenate(fit), np.concatenate(val)
        self.source = np.concatenate([np.full(len(f), k) for k, f in enumerate(fit)])  # dataset index per fit clip
        self.fit_size = len(self.fit_x)
        groups: dict[tuple, list[int]] = {}
        for i, key in enumerate(keys):
            groups.setdefault(key, []).append(i)
        self.views = [np.array(groups[key]) for key in keys]  # per fit clip: the fit clips of its instance
        self.info["multi_view_instances"] = int(sum(len(g) > 1 for g in groups.values()))

    def describe(self) -> str:
        multi = (f"; multi-view pairs from {self.info['multi_view_instances']} instances seen by several cameras"
                 if self.cfg.multi_view else "")
        parts = ", ".join(f"{n}: {d['train_clips'] - d['validation_clips']}" for n, d in self.info["datasets"].items())
        return f"{len(self.fit_x)} training clips ({parts}), {len(self.val_x)} validation clips{multi}"

    def batches(self, seed: int, rank: int = 0, world: int = 1) -> list[np.ndarray]:
        order = np.random.default_rng(seed).permutation(len(self.fit_x))
        b = self.cfg.batch
        return _shard([order[s:s + b] for s in range(0, len(order) - b + 1, b)], rank, world)

    def val_batches(self) -> list[np.ndarray]:
        b = self.cfg.batch
        return [np.arange(s, min(s + b, len(self.val_x))) for s in range(0, len(self.val_x), b)
                if min(s + b, len(self.val_x)) - s >= 2]

    def pair_indices(self, idx: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """For each fit clip of ``idx``, one clip of the same instance (possibly itself)."""
        return np.array([self.views[i][rng.integers(len(self.views[i]))] for i in idx])

    def tensors(self, idx: np.ndarray, train: bool, rng: np.random.Generator | None = None) -> dict[str, np.ndarray]:
        if train and self.cfg.multi_view:
            rng = rng if rng is not None else np.random.default_rng()
            return {"x": self.fit_x[idx], "pair": self.fit_x[self.pair_indices(idx, rng)]}
        return {"x": (self.fit_x if train else self.val_x)[idx]}


def instance_key(meta: dict, dataset: str) -> tuple:
    """Which recordings are one action instance seen by several cameras: NW-UCLA's clips of one
    action, subject and session (views v01-v03); every other dataset here has one camera, so
    each clip is an instance of its own."""
    if dataset == "nwucla":
        return (dataset, meta["action"], meta["subject"], meta.get("session"))
    return (dataset, meta.get("source") or id(meta))


def make_data(kind: str, cfg: TrainConfig, method_cfg, progress: bool = True):
    """The data module a method asks for (its class's ``data``: walks or clips)."""
    if kind == "walks":
        return WalkData(cfg, method_cfg.length, progress)
    if kind == "clips":
        return ClipData(cfg, method_cfg.frames, progress)
    if kind == "identities":
        return IdentityWalkData(cfg, method_cfg.length, method_cfg.clips, progress)
    if kind == "teacher":
        return TeacherWalkData(cfg, method_cfg.length, method_cfg.teacher, progress)
    raise ValueError(f"unknown data kind {kind!r}")
