"""Skeleton BYOL (Moliner et al., seed 004): bootstrap your own latent on skeleton sequences.

``python trainers/run.py byol --config trainers/configs/byol_nwucla.yaml [key=value ...]``.
- Online network: an ST-GCN encoder (`engine.models.action.STGCNEncoder`: joints and bones
  joined on the channels, channels times ``width``), a projector and a predictor (MLPs with
  BatchNorm, 4096 hidden, 256 out). Target network: encoder and projector as an exponential
  moving average of the online ones, lambda from 0.99 to 1 by a cosine over the run (Eq. 3), with
  momentum BatchNorm (Eq. 4): its BN layers normalise with running statistics that follow the
  online network's batch statistics of each step (alpha ``bn_momentum``), no SyncBN needed.
- Loss (Eq. 1-2): the normalised L2 distance between the online prediction of one view and the
  target projection of the other, symmetrised.
- Views: ``pipelines`` asymmetric (the first view from the aggressive pipeline: resampling
  0.7-1.3, Savitzky-Golay filter p 0.5, shear [-1, 1], cyclic temporal shift, left/right drop p
  0.5; the second from the conservative one: resampling only), or both aggressive, or both
  conservative (`trainers.blocks.augment.byol_view`; ``without=shear,...`` drops parts). With
  the run key ``multi_view=true`` the second view starts from another camera's recording of the
  same action instance (Sec. 3.4; `trainers.data.ClipData`).
The online encoder of the LAST epoch is what is kept (OUT/byol; ``keep``), judged with
``skelstream eval action``.
"""

from __future__ import annotations

import copy
import math
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from engine.models.action import SKELETON_JOINTS, STGCNEncoder
from trainers.blocks.augment import AGGRESSIVE, byol_view
from trainers.methods.isc import LIVE_SECONDS

PIPELINES = {"asymmetric": ("aggressive", "conservative"), "aggressive": ("aggressive", "aggressive"),
             "conservative": ("conservative", "conservative")}


@dataclass
class BYOLConfig:
    width: float = 0.25  # channel multiplier of ST-GCN (the paper: 1; 0.25 fits a 2-core CPU)
    frames: int = 50  # the paper crops to 150 frames of NTU; the clips here are ~1-2 s
    pipelines: str = "asymmetric"  # asymmetric | aggressive | conservative
    without: tuple[str, ...] = ()  # aggressive parts left out: resample, filter, shear, shift, drop
    shear: float = 1.0
    proj_hidden: int = 4096
    proj_dim: int = 256
    ema: float = 0.99  # the target's starting lambda, raised to 1 by a cosine over the run
    bn_momentum: float = 0.9  # alpha of the target's momentum BatchNorm
    momentum_bn: bool = True  # false: the target normalises with its own batch statistics (BYOL's original)

    def __post_init__(self):
        if isinstance(self.without, str):
            self.without = tuple(w for w in self.without.split(",") if w)
        self.without = tuple(self.without)
        if self.pipelines not in PIPELINES:
            raise ValueError(f"pipelines must be one of {', '.join(PIPELINES)}, got {self.pipelines!r}")
        bad = [w for w in self.without if w not in AGGRESSIVE]
        if bad:
            raise ValueError(f"without: parts of the aggressive pipeline ({', '.join(AGGRESSIVE)}), got {bad}")


def head(d: int, hidden: int, out: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(d, hidden), nn.BatchNorm1d(hidden), nn.ReLU(), nn.Linear(hidden, out))


def ema_coefficient(base: float, progress: float) -> float:
    """lambda at ``progress`` in [0, 1] of the run: 1 - (1 - base) (cos(pi progress) + 1) / 2."""
    return 1 - (1 - base) * (math.cos(math.pi * min(max(progress, 0.0), 1.0)) + 1) / 2


def byol_loss(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Eq. 1 per sample, averaged: ||p/|p| - z/|z| ||^2 = 2 - 2 cos(p, z)."""
    return (2 - 2 * F.cosine_similarity(prediction, target.detach(), dim=1)).mean()


class BatchStats:
    """Records the batch mean and (unbiased) variance that each BatchNorm layer of a module saw
    in training mode since the last `take`."""

    def __init__(self, module: nn.Module):
        self.layers = [m for m in module.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
        self.seen: dict[int, list[tuple[torch.Tensor, torch.Tensor]]] = {}
        for i, layer in enumerate(self.layers):
            layer.register_forward_hook(self._hook(i))

    def _hook(self, i: int):
        def hook(layer, inputs, _out):
            if layer.training:
                x = inputs[0].detach().float()
                dims = [d for d in range(x.dim()) if d != 1]
                self.seen.setdefault(i, []).append((x.mean(dims), x.var(dims, unbiased=True)))
        return hook

    def take(self) -> dict[int, tuple[torch.Tensor, torch.Tensor]]:
        """Per layer, the statistics averaged over the forward passes since the last call."""
        out = {i: (torch.stack([m for m, _ in s]).mean(0), torch.stack([v for _, v in s]).mean(0))
               for i, s in self.seen.items()}
        self.seen = {}
        return out


@torch.no_grad()
def momentum_bn_update(target: nn.Module, stats: dict[int, tuple[torch.Tensor, torch.Tensor]], alpha: float) -> None:
    """Eq. 4 on the target's BatchNorm layers (in the order of `BatchStats.layers`)."""
    layers = [m for m in target.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    for i, (mean, var) in stats.items():
        layers[i].running_mean.mul_(alpha).add_(mean.to(layers[i].running_mean), alpha=1 - alpha)
        layers[i].running_var.mul_(alpha).add_(var.to(layers[i].running_var), alpha=1 - alpha)


class BYOL(nn.Module):
    data = "clips"
    # BYOL's loss is no measure of the representation: it fell to its lowest here (epoch 21 of 60 on
    # NW-UCLA) where the features had nearly collapsed (effective rank 1.8), and rose as the target
    # settled. The run keeps its last weights, as the paper, which trains its whole schedule.
    keep = "last"

    def __init__(self, cfg: BYOLConfig):
        super().__init__()
        self.cfg = cfg
        encoder = STGCNEncoder(width=cfg.width)
        self.online = nn.ModuleDict({"encoder": encoder, "projector": head(encoder.dim, cfg.proj_hidden, cfg.proj_dim)})
        self.predictor = head(cfg.proj_dim, cfg.proj_hidden, cfg.proj_dim)
        self.target = copy.deepcopy(self.online).requires_grad_(False)
        self.stats = BatchStats(self.online)
        self.register_buffer("lam", torch.tensor(cfg.ema))

    def train(self, mode: bool = True):
        super().train(mode)
        if self.cfg.momentum_bn:
            self.target.eval()  # momentum BN: the target always normalises with its running statistics
        return self

    def _project(self, net: nn.ModuleDict, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return net["projector"](net["encoder"](x, mask))

    def forward(self, x: torch.Tensor, gen: torch.Generator, second: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        c = self.cfg
        first, other = PIPELINES[c.pipelines]
        opts = dict(without=c.without, shear=c.shear)
        v1, m1 = byol_view(x, gen, SKELETON_JOINTS, first, **opts)
        v2, m2 = byol_view(x if second is None else second, gen, SKELETON_JOINTS, other, **opts)
        p1 = self.predictor(self._project(self.online, v1, m1))
        p2 = self.predictor(self._project(self.online, v2, m2))
        with torch.no_grad():
            z1, z2 = self._project(self.target, v1, m1), self._project(self.target, v2, m2)
        if not self.training:
            self.stats.take()  # validation's batches do not move the target
        return {"byol": byol_loss(p1, z2) + byol_loss(p2, z1)}

    @torch.no_grad()
    def after_step(self, progress: float) -> None:
        """After each optimiser step: target <- lambda target + (1 - lambda) online (Eq. 3),
        lambda by the cosine schedule; its BN statistics by momentum BN (Eq. 4)."""
        lam = ema_coefficient(self.cfg.ema, progress)
        self.lam.fill_(lam)
        for pt, po in zip(self.target.parameters(), self.online.parameters()):
            pt.mul_(lam).add_(po.detach(), alpha=1 - lam)
        stats = self.stats.take()
        if self.cfg.momentum_bn:
            momentum_bn_update(self.target, stats, self.cfg.bn_momentum)

    def encoders(self) -> dict[str, nn.Module]:
        return {"byol": self.online["encoder"]}

    def checkpoints(self, run: dict) -> dict[str, tuple[nn.Module, dict]]:
        enc = self.online["encoder"]
        return {"byol": (enc, {
            "method": "byol", "architecture": {"kind": "stgcn", "width": self.cfg.width},
            "input": {"joints": list(SKELETON_JOINTS), "frames": self.cfg.frames, "seconds": LIVE_SECONDS,
                      "view": "`engine.models.action.action_view` (first-frame SpineBase at the origin, "
                              "mean torso axis upright, mean facing direction -z)"},
            "embedding": {"dim": enc.dim, "normalise": "L2"},
            "hyperparameters": asdict(self.cfg), "training": run["training"], "metrics": run["metrics"]})}
