"""ISC: inter-skeleton contrastive pretraining (Thoker et al., seed 002), offline.

``python -m trainers.isc [key=value ...]`` (keys of `ISCConfig`). For each representation
(``reps``: seq, graph, image) a query encoder with a projection head is trained and a key encoder
follows it as a moving average (MoCo), with one queue of keys per representation. Two
spatio-temporal augmentations of each sequence make the positive pair. Losses, as switched:
- intra (Eq. 5): a representation's queries against its own keys and queue;
- inter (Eq. 6-8): one representation's queries against the OTHER representation's keys and
  queue (both projected to the same space), both ways.
The run evaluates each representation's frozen query encoder (kNN and linear;
`trainers.evaluate.action`) and writes it as a checkpoint OUT/REP.safetensors + OUT/REP.json
(`engine.checkpoint.load_action`; `skelstream eval action OUT/REP` for the other protocols), and
OUT/isc.json (config, losses per epoch, results).
"""

from __future__ import annotations

import json
import shlex
import sys
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from engine.checkpoint import load_action, save
from engine.models.action import make_encoder
from trainers.blocks.augment import spatio_temporal
from trainers.blocks.contrast import Queue, info_nce, momentum_update
from trainers.config import build
from trainers.trainer import pick_device


LIVE_SECONDS = 1.0  # the engine's action window: NW-UCLA's clips last 0.7-2 s at 30 Hz, median 1 s
PROTOCOLS = {"nwucla": "cross-view: pretraining on views v01+v02 (no labels), test view v03",
             "msr": "cross-subject: pretraining on odd subjects (no labels), test even subjects"}


@dataclass
class ISCConfig:
    dataset: str = "nwucla"
    data_root: str = ""
    out: str = "runs/isc_nwucla"
    # defaults: the recipe chosen on the validation split (docs/RESULTS.md); the paper's inter
    # model is reps=seq,graph intra=false, which learned here only from intra encoders (init=)
    reps: tuple[str, ...] = ("seq",)
    intra: bool = True
    inter: bool = False
    spatial: str = "shear"  # shear, jitter, random (either, per sequence), none
    temporal: bool = True
    jitter_joints: int = 4  # of the 20 joints (the paper jitters 15 of 25)
    l_min: float = 0.5  # the paper: 0.1
    frames: int = 32  # the paper's 64 doubles the cost on a CPU
    queue: int = 512  # the datasets here are small (NW-UCLA: 1020 training sequences)
    temperature: float = 0.07
    momentum: float = 0.99  # the paper's 0.999 suits NTU's 600 steps per epoch, not 16
    optimizer: str = "sgd"  # sgd (the paper: momentum 0.9) | adam
    lr: float = 0.01
    weight_decay: float = 1e-4
    shear: float = 0.5  # off-diagonal range of the pose shear (the paper: 1)
    epochs: int = 60
    batch: int = 64
    proj: int = 128
    seq_hidden: int = 128  # the paper: 1024
    seq_motion: bool = True  # the BiGRU also sees each joint's frame-to-frame motion
    graph_channels: tuple[int, ...] = (64, 64, 128, 128)  # A-GCN's 10 blocks up to 256 in the paper
    init: str = ""  # comma list of REP=CHECKPOINT: start that representation's encoders from it
    seed: int = 0
    device: str = "auto"


def encoder_kwargs(cfg: ISCConfig, kind: str) -> dict:
    return {"seq": {"hidden": cfg.seq_hidden, "motion": cfg.seq_motion}, "graph": {"channels": tuple(cfg.graph_channels)},
            "image": {"dim": 512}}[kind]


class Branch(nn.Module):
    """A representation's encoder with its projection head."""

    def __init__(self, kind: str, proj: int, **kwargs):
        super().__init__()
        self.encoder = make_encoder(kind, **kwargs)
        d = self.encoder.dim
        self.head = nn.Sequential(nn.Linear(d, d), nn.ReLU(), nn.Linear(d, proj))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.head(self.encoder(x)), dim=1)


def _has_batchnorm(module: nn.Module) -> bool:
    return any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in module.modules())


class ISC(nn.Module):
    def __init__(self, cfg: ISCConfig):
        super().__init__()
        self.cfg = cfg
        gen = torch.Generator().manual_seed(cfg.seed)
        self.query = nn.ModuleDict({r: Branch(r, cfg.proj, **encoder_kwargs(cfg, r)) for r in cfg.reps})
        self.key = nn.ModuleDict({r: Branch(r, cfg.proj, **encoder_kwargs(cfg, r)) for r in cfg.reps})
        self.key.load_state_dict(self.query.state_dict())
        for p in self.key.parameters():
            p.requires_grad_(False)
        self.queues = nn.ModuleDict({r: Queue(cfg.proj, cfg.queue, gen) for r in cfg.reps})

    @staticmethod
    def _keys(branch: nn.Module, x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        """The key branch on ``x``. With BatchNorm (the graph encoder), MoCo's shuffle BN on one
        device: the keys are computed in two halves of a shuffled batch, so their batch
        statistics differ from the queries' and cannot leak which sample is the positive."""
        if not _has_batchnorm(branch) or len(x) < 4:
            return branch(x)
        perm = torch.randperm(len(x), generator=gen, device=x.device)
        half = len(x) // 2
        out = torch.cat([branch(x[perm[:half]]), branch(x[perm[half:]])])
        return out[perm.argsort()]

    def losses(self, x: torch.Tensor, gen: torch.Generator, augment=None) -> dict[str, torch.Tensor]:
        """The loss terms of a batch ``x [N, T, 20, 3]``; ``augment`` (default: the configured
        spatio-temporal augmentation on x's device) makes each of the two views."""
        c = self.cfg
        if augment is None:
            aug = dict(length=c.frames, spatial=c.spatial, l_min=c.l_min, jitter_joints=c.jitter_joints,
                       temporal=c.temporal, shear=c.shear)
            augment = lambda v: spatio_temporal(v, gen, **aug)  # noqa: E731
        v1, v2 = augment(x), augment(x)
        q = {r: self.query[r](v1) for r in c.reps}
        with torch.no_grad():
            momentum_update(self.key, self.query, c.momentum)
            k = {r: self._keys(self.key[r], v2, gen) for r in c.reps}
        terms = {}
        for r in c.reps:
            if c.intra:
                terms[f"intra_{r}"] = info_nce(q[r], k[r], self.queues[r].keys.clone(), c.temperature)
            if c.inter:
                for o in c.reps:
                    if o != r:  # cross-contrast: r's queries against o's keys and queue
                        terms[f"inter_{r}_{o}"] = info_nce(q[r], k[o], self.queues[o].keys.clone(), c.temperature)
        for r in c.reps:
            self.queues[r].enqueue(k[r])
        return terms


def init_checkpoints(spec: str) -> dict[str, str]:
    """``"seq=runs/a/seq,image=runs/b/image"`` -> {rep: checkpoint}."""
    out = {}
    for item in filter(None, spec.split(",")):
        rep, sep, path = item.partition("=")
        if not sep or not path:
            raise ValueError(f"init: expected REP=CHECKPOINT items, got {item!r}")
        out[rep] = path
    return out


def checkpoint_meta(cfg: ISCConfig, rep: str, command: str, history: list, result: dict, minutes: float,
                    device: str) -> dict:
    """The JSON half of one representation's checkpoint (`engine.checkpoint.load_action`)."""
    from engine.models.action import SKELETON_JOINTS
    kwargs = encoder_kwargs(cfg, rep)
    return {
        "method": "isc",
        "architecture": {"kind": rep, **{k: list(v) if isinstance(v, tuple) else v for k, v in kwargs.items()}},
        "input": {"joints": list(SKELETON_JOINTS), "frames": cfg.frames, "seconds": LIVE_SECONDS,
                  "view": "`engine.models.action.action_view` (first-frame SpineBase at the origin, "
                          "mean torso axis upright, mean facing direction -z)"},
        "embedding": {"dim": make_encoder(rep, **kwargs).dim, "normalise": "L2"},
        "training": {"dataset": cfg.dataset, "protocol": PROTOCOLS[cfg.dataset], "command": command,
                     "config": asdict(cfg) | {"reps": list(cfg.reps), "graph_channels": list(cfg.graph_channels)},
                     "history": history, "minutes": minutes, "device": device},
        "metrics": {"frozen": {cfg.dataset: result}},
    }


def train(cfg: ISCConfig, progress: bool = True, command: str = "") -> dict:
    from engine.datasets.cache import extract
    from trainers.action_data import load_actions, protocol_split, validation_split
    from trainers.evaluate.action import evaluate_features

    if not cfg.intra and not cfg.inter:
        raise ValueError("turn on intra, inter or both")
    if cfg.inter and len(cfg.reps) < 2:
        raise ValueError("inter-skeleton contrast needs two representations (reps=seq,graph)")
    torch.manual_seed(cfg.seed)
    device = pick_device(cfg.device)
    root = cfg.data_root or extract({"nwucla": "nwucla", "msr": "msr_action3d"}[cfg.dataset], progress=progress)
    data = load_actions(root, cfg.frames, progress=progress)
    train_set, test_set = protocol_split(data, cfg.dataset)
    model = ISC(cfg)
    for rep, path in init_checkpoints(cfg.init).items():
        if rep not in cfg.reps:
            raise ValueError(f"init names {rep!r}, which is not among reps {cfg.reps}")
        encoder, meta = load_action(path)
        if meta["architecture"]["kind"] != rep:
            raise ValueError(f"init {path}: a {meta['architecture']['kind']!r} encoder, not {rep!r}")
        for branch in (model.query[rep], model.key[rep]):
            branch.encoder.load_state_dict(encoder.state_dict())
    model = model.to(device)
    if cfg.optimizer not in ("sgd", "adam"):
        raise ValueError(f"optimizer must be sgd or adam, got {cfg.optimizer!r}")
    opt = (torch.optim.SGD(model.query.parameters(), lr=cfg.lr, momentum=0.9, weight_decay=cfg.weight_decay)
           if cfg.optimizer == "sgd" else
           torch.optim.Adam(model.query.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay))
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, cfg.epochs)
    x_all = torch.from_numpy(train_set.x).to(device)  # pretraining sees the training split, no labels
    gen = torch.Generator(device=device).manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    history, start = [], time.time()
    bar = tqdm(range(cfg.epochs), desc="isc", disable=not progress)
    for epoch in bar:
        order = rng.permutation(len(x_all))
        total, steps, seen, parts = 0.0, 0, 0, {}
        t0 = time.time()
        for s in range(0, len(order) - cfg.batch + 1, cfg.batch):
            terms = model.losses(x_all[order[s:s + cfg.batch]], gen)
            loss = sum(terms.values())
            opt.zero_grad()
            loss.backward()
            opt.step()
            total, steps, seen = total + float(loss.detach()), steps + 1, seen + cfg.batch
            for name, term in terms.items():
                parts[name] = parts.get(name, 0.0) + float(term.detach())
        sched.step()
        history.append({"epoch": epoch + 1, "loss": total / max(steps, 1), "seq_per_s": seen / (time.time() - t0),
                        **{name: v / max(steps, 1) for name, v in parts.items()}})
        bar.set_postfix(loss=f"{history[-1]['loss']:.3f}", seq_s=f"{history[-1]['seq_per_s']:.0f}")
    model.eval()
    command = command or "python -m trainers.isc " + " ".join(f"{k}={v}" for k, v in asdict(cfg).items())
    results = {}
    for r in cfg.reps:
        enc = model.query[r].encoder
        results[r] = evaluate_features(lambda x, enc=enc: enc(x), train_set, test_set, device)
        results[r]["val"] = evaluate_features(lambda x, enc=enc: enc(x), *validation_split(train_set, cfg.dataset), device)
        save(out / r, enc, checkpoint_meta(cfg, r, command, history, results[r], (time.time() - start) / 60, str(device)))
    meta = {"method": "isc", "config": asdict(cfg) | {"reps": list(cfg.reps), "graph_channels": list(cfg.graph_channels)},
            "history": history, "minutes": (time.time() - start) / 60, "results": results, "device": str(device),
            "command": command, "checkpoints": [str(out / r) for r in cfg.reps]}
    (out / "isc.json").write_text(json.dumps(meta, indent=2))
    return meta


def parse(argv: list[str]) -> ISCConfig:
    """``key=value`` items into the config (the trainers' own coercion and unknown-key errors);
    ``reps`` and ``graph_channels`` take comma lists such as seq,graph."""
    values = {}
    for item in argv:
        if "=" not in item:
            raise SystemExit(f"expected key=value, got {item!r}")
        key, value = item.split("=", 1)
        if key == "reps":
            value = tuple(v for v in value.split(",") if v)
        elif key == "graph_channels":
            value = tuple(int(v) for v in value.split(",") if v)
        values[key] = value
    try:
        return build(ISCConfig, values, "isc")
    except ValueError as exc:
        raise SystemExit(str(exc)) from None


def main(argv: list[str] | None = None) -> dict | None:
    argv = sys.argv[1:] if argv is None else argv
    if any(a in ("-h", "--help") for a in argv):
        print(__doc__ + "\nkeys (default):\n" + "\n".join(f"  {f.name}={getattr(ISCConfig(), f.name)}"
                                                          for f in fields(ISCConfig)))
        return
    meta = train(parse(argv), command="python -m trainers.isc " + shlex.join(argv))
    for r, res in meta["results"].items():
        print(f"{r}: kNN {res['knn']:.1f}  linear {res['linear']:.1f}  (validation inside the training split: "
              f"kNN {res['val']['knn']:.1f}  linear {res['val']['linear']:.1f})")
    return meta


if __name__ == "__main__":
    main()
