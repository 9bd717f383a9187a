"""ISC: inter-skeleton contrastive pretraining (Thoker et al., seed 002).

``python trainers/run.py isc --config trainers/configs/isc_nwucla.yaml [key=value ...]``: run keys
(datasets, epochs, optimiser...) are the trainer's (`trainers.config.TrainConfig`), ISC's own are
``method.key=value`` (`ISCConfig`). For each representation (``reps``: seq, graph, image) a query
encoder with a projection head is trained and a key encoder follows it as a moving average
(MoCo), with one queue of keys per representation. Two spatio-temporal augmentations of each
clip make the positive pair. Losses, as switched:
- intra (Eq. 5): a representation's queries against its own keys and queue;
- inter (Eq. 6-8): one representation's queries against the OTHER representation's keys and
  queue (both projected to the same space), both ways.
Each representation's frozen query encoder is written as a checkpoint OUT/REP (at the best
validation loss; `engine.checkpoint.load_action`), judged with `skelstream eval action OUT/REP`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from engine.checkpoint import load_action
from engine.models.action import weights_module
from engine.models.action import make_encoder
from trainers.blocks.augment import spatio_temporal
from trainers.blocks.contrast import Queue, info_nce, momentum_update

LIVE_SECONDS = 1.0  # the engine's action window: NW-UCLA's clips last 0.7-2 s at 30 Hz, median 1 s


@dataclass
class ISCConfig:
    """ISC's own hyper-parameters. Defaults: the recipe chosen on the validation split
    (docs/RESULTS.md); the paper's inter model is reps=seq,graph intra=false, which learned
    here only from intra encoders (init=)."""

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
    shear: float = 0.5  # off-diagonal range of the pose shear (the paper: 1)
    proj: int = 128
    seq_hidden: int = 128  # the paper: 1024
    seq_motion: bool = True  # the BiGRU also sees each joint's frame-to-frame motion
    seq_segments: int = 1  # the BiGRU's outputs averaged over this many spans of the clip, joined
    graph_channels: tuple[int, ...] = (64, 64, 128, 128)  # A-GCN's 10 blocks up to 256 in the paper

    def __post_init__(self):
        if isinstance(self.reps, str):
            self.reps = tuple(r for r in self.reps.split(",") if r)
        if isinstance(self.graph_channels, (str, int)):
            self.graph_channels = tuple(int(v) for v in str(self.graph_channels).split(",") if v)
        self.reps, self.graph_channels = tuple(self.reps), tuple(self.graph_channels)
        bad = [r for r in self.reps if r not in ("seq", "graph", "image")]
        if not self.reps or bad:
            raise ValueError(f"reps: a comma list of seq, graph, image, got {self.reps!r}")
        if not self.intra and not self.inter:
            raise ValueError("turn on intra, inter or both")
        if self.inter and len(self.reps) < 2:
            raise ValueError("inter-skeleton contrast needs two representations (reps=seq,graph)")


def encoder_kwargs(cfg: ISCConfig, kind: str) -> dict:
    seq = {"hidden": cfg.seq_hidden, "motion": cfg.seq_motion} | ({"segments": cfg.seq_segments} if cfg.seq_segments > 1 else {})
    return {"seq": seq, "graph": {"channels": tuple(cfg.graph_channels)},
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
    """ISC's query/key branches and queues per representation; `losses` returns the named terms."""

    data = "clips"

    def __init__(self, cfg: ISCConfig):
        super().__init__()
        self.cfg = cfg
        gen = torch.Generator().manual_seed(int(torch.randint(0, 2 ** 31, (1,))))  # the run's seed
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

    def forward(self, x: torch.Tensor, gen: torch.Generator, clean: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        return self.losses(x, gen)

    def losses(self, x: torch.Tensor, gen: torch.Generator, augment=None) -> dict[str, torch.Tensor]:
        """The loss terms of a batch ``x [N, T, 20, 3]``; ``augment`` (default: the configured
        spatio-temporal augmentation on x's device) makes each of the two views. In eval mode
        (validation) the key encoders do not move and nothing is enqueued."""
        c = self.cfg
        if augment is None:
            aug = dict(length=c.frames, spatial=c.spatial, l_min=c.l_min, jitter_joints=c.jitter_joints,
                       temporal=c.temporal, shear=c.shear)
            augment = lambda v: spatio_temporal(v, gen, **aug)  # noqa: E731
        v1, v2 = augment(x), augment(x)
        q = {r: self.query[r](v1) for r in c.reps}
        with torch.no_grad():
            if self.training:  # validation leaves the key encoders and the queues as they are
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
        if self.training:
            for r in c.reps:
                self.queues[r].enqueue(k[r])
        return terms

    def init_from(self, spec: str) -> None:
        """``init``: a comma list of REP=CHECKPOINT; that representation's query and key
        encoders start from the checkpoint's encoder."""
        for rep, path in init_checkpoints(spec).items():
            if rep not in self.cfg.reps:
                raise ValueError(f"init names {rep!r}, which is not among reps {self.cfg.reps}")
            encoder, meta = load_action(path)
            if meta["architecture"]["kind"] != rep:
                raise ValueError(f"init {path}: a {meta['architecture']['kind']!r} encoder, not {rep!r}")
            for branch in (self.query[rep], self.key[rep]):
                branch.encoder.load_state_dict(weights_module(encoder).state_dict())  # a fused one: its weights

    def encoders(self) -> dict[str, nn.Module]:
        """What is kept: each representation's query encoder."""
        return {r: self.query[r].encoder for r in self.cfg.reps}

    def checkpoints(self, run: dict) -> dict[str, tuple[nn.Module, dict]]:
        """{name: (module, metadata)} written at the best validation loss (`Trainer`)."""
        from engine.models.action import SKELETON_JOINTS
        out = {}
        for rep, enc in self.encoders().items():
            kwargs = encoder_kwargs(self.cfg, rep)
            out[rep] = (enc, {
                "method": "isc",
                "architecture": {"kind": rep, **{k: list(v) if isinstance(v, tuple) else v for k, v in kwargs.items()}},
                "input": {"joints": list(SKELETON_JOINTS), "frames": self.cfg.frames, "seconds": LIVE_SECONDS,
                          "view": "`engine.models.action.action_view` (first-frame SpineBase at the origin, "
                                  "mean torso axis upright, mean facing direction -z)"},
                "embedding": {"dim": enc.dim, "normalise": "L2"},
                "hyperparameters": asdict(self.cfg),
                "training": run["training"], "metrics": run["metrics"]})
        return out


def init_checkpoints(spec: str) -> dict[str, str]:
    """``"seq=runs/a/seq,image=runs/b/image"`` -> {rep: checkpoint}."""
    out = {}
    for item in filter(None, spec.split(",")):
        rep, sep, path = item.partition("=")
        if not sep or not path:
            raise ValueError(f"init: expected REP=CHECKPOINT items, got {item!r}")
        out[rep] = path
    return out
