"""Typed run configs: a YAML file and ``key=value`` overrides onto dataclasses."""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass, field
from pathlib import Path

import yaml


@dataclass
class TrainConfig:
    """Everything about a run except the method's own hyper-parameters (``method``)."""

    dataset: str = "kgbd"  # walks: kgbd; clips: a comma list of nwucla, msr, utd_mhad, kard
    data_root: str = ""  # default: the extracted shared archive (one dataset only)
    protocol: str = "holdout"  # walks: holdout (paper, one walk per person held out) | open (people split) | tracklets
    split_seed: int = 0
    val_fraction: float = 0.1
    limit_people: int = 0  # train on the first N people only (0 = all); for quick runs
    upright: bool = False  # level each walk first (mean torso axis -> +y): sensor tilt/roll removed
    common_joints: bool = False  # spine joints from hips and shoulders, as every sensor has them
    shared_joints: bool = False  # only the joints every sensor gives (engine.missing.SHARED_JOINTS)
    joint_dropout: float = 0.0  # p a training window loses another sensor's missing joints (filled)
    epochs: int = 150
    steps_per_epoch: int = 0  # cap on the batches of an epoch (0: every batch; for quick runs and tests)
    batch: int = 128
    lr: float = 5e-4
    optimizer: str = "adam"  # adam | sgd (momentum 0.9)
    weight_decay: float = 0.0
    schedule: str = "none"  # none | cosine (annealed to 0 over `epochs`) | step (times `gamma` at `milestones`)
    milestones: str = ""  # step schedule: comma list of epochs, e.g. "18,50"
    gamma: float = 0.1  # step schedule: the factor at each milestone
    warmup: int = 0  # epochs of linear warm-up (from lr/warmup) before the schedule
    multi_view: bool = False  # clips: a second viewpoint of the same action instance as each clip's pair
    clip: float = 5.0  # gradient value clipping (0: off)
    patience: int = 10
    snapshots: str = ""  # comma list of epochs whose model is also kept as OUT/epochN/ (a schedule's trajectory)
    seed: int = 0
    device: str = "auto"  # auto | cpu | cuda
    amp: bool = True  # bfloat16 autocast on CUDA
    out: str = "runs/run"
    init: str = ""  # start from a checkpoint's weights (fine-tuning; ISC: REP=CHECKPOINT,...)
    method: dict = field(default_factory=dict)

    def __post_init__(self):
        if self.optimizer not in ("adam", "sgd"):
            raise ValueError(f"optimizer must be adam or sgd, got {self.optimizer!r}")
        if self.schedule not in ("none", "cosine", "step"):
            raise ValueError(f"schedule must be none, cosine or step, got {self.schedule!r}")
        try:
            self.milestone_epochs = [int(m) for m in str(self.milestones).split(",") if m.strip()]
        except ValueError:
            raise ValueError(f"milestones: a comma list of epochs, got {self.milestones!r}") from None
        try:
            self.snapshot_epochs = {int(m) for m in str(self.snapshots).split(",") if m.strip()}
        except ValueError:
            raise ValueError(f"snapshots: a comma list of epochs, got {self.snapshots!r}") from None
        if self.schedule == "step" and not self.milestone_epochs:
            raise ValueError("schedule=step needs milestones (e.g. milestones=18,50)")
        if self.warmup < 0:
            raise ValueError(f"warmup must be >= 0 epochs, got {self.warmup}")

    def lr_factor(self, epoch: int) -> float:
        """The learning rate of ``epoch`` (0-based) over ``lr``: warm-up, then the schedule."""
        import math
        if epoch < self.warmup:
            return (epoch + 1) / self.warmup
        if self.schedule == "cosine":
            return 0.5 * (1 + math.cos(math.pi * epoch / max(self.epochs, 1)))
        if self.schedule == "step":
            return self.gamma ** sum(epoch >= m for m in self.milestone_epochs)
        return 1.0


def _coerce(value: str, kind):
    if kind is bool or kind == "bool":
        if value.lower() in ("1", "true", "yes", "on"):
            return True
        if value.lower() in ("0", "false", "no", "off"):
            return False
        raise ValueError(f"not a boolean: {value!r}")
    for t in (int, float, str):
        if kind is t or kind == t.__name__:
            return t(value)
    return yaml.safe_load(value)


def build(cls, values: dict, where: str):
    """Instantiate dataclass ``cls`` from ``values``; unknown keys are an error naming them."""
    names = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - set(names))
    if unknown:
        raise ValueError(f"{where}: unknown key(s) {unknown}; known: {sorted(names)}")
    hints = typing.get_type_hints(cls)
    out = {}
    for key, value in values.items():
        kind = hints[key]
        out[key] = _coerce(value, kind) if isinstance(value, str) and kind is not str else value
    return cls(**out)


def load(path: str | None, overrides: list[str], method_cls) -> tuple[TrainConfig, object]:
    """The run config and the method config from a YAML file plus ``key=value`` overrides
    (``method.key=value`` for the method's own keys; a bare key that is not the run's but is
    the method's goes to the method)."""
    run_keys = {f.name for f in dataclasses.fields(TrainConfig)}
    method_keys = {f.name for f in dataclasses.fields(method_cls)}
    raw = yaml.safe_load(Path(path).read_text()) if path else {}
    raw = raw or {}
    method_raw = dict(raw.pop("method", {}) or {})
    for item in overrides:
        if "=" not in item:
            raise ValueError(f"override {item!r} is not key=value")
        key, value = item.split("=", 1)
        if key.startswith("method."):
            method_raw[key[len("method."):]] = value
        elif key not in run_keys and key in method_keys:
            method_raw[key] = value
        else:
            raw[key] = value
    train = build(TrainConfig, raw, path or "overrides")
    train.method = method_raw
    return train, build(method_cls, method_raw, f"{path or 'overrides'} (method)")
