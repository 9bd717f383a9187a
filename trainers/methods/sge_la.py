"""SGE-LA / CAGE pretraining (seed 000): pretext reconstruction + L_A + LCL + L2.

L = lambda_S L_S + lambda_A L_A + lambda_C L_C + beta ||Theta||^2 (Eq. 16), with the authors'
scales: L_S and L_A halved sums over the batch, L_C the mean over the 2n-2 views, L2 the halved
sum of squared weights (biases excluded) times beta.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

from engine.models.sge_la import SGELA, SGEConfig, to_axes
from trainers.blocks.losses import alignment_loss, consecutive_contrastive_loss, l2_penalty

PRETEXTS = ("rev_rec", "prediction", "sorting")


@dataclass
class SGELAConfig:
    """Hyper-parameters; defaults from the paper and the authors' code (KGBD: tau 0.5)."""

    length: int = 6
    hidden: int = 256
    layers: int = 2
    attention: str = "las"  # none | bas | mbas | las
    pretext: str = "rev_rec"  # rev_rec | prediction | sorting
    lcl: bool = True
    temperature: float = 0.5
    lambda_s: float = 1.0
    lambda_a: float = 1.0
    lambda_c: float = 1.0
    l2: float = 0.02

    def __post_init__(self):
        if self.pretext not in PRETEXTS:
            raise ValueError(f"pretext must be one of {PRETEXTS}, got {self.pretext!r}")
        if self.attention == "mbas" and self.pretext != "rev_rec":
            raise ValueError("the locality mask (mbas) only fits reverse reconstruction")
        self.model_config()  # validates the architecture

    def model_config(self) -> SGEConfig:
        return SGEConfig(length=self.length, hidden=self.hidden, layers=self.layers,
                         attention=self.attention, reverse=self.pretext == "rev_rec")


class GroupedMLP(nn.Module):
    """LCL's projection f_C (Eq. 13) per axis: V [G, n, f*H] -> z [G, n, H]."""

    def __init__(self, groups: int, inp: int, hidden: int):
        super().__init__()
        self.w1 = nn.Parameter(torch.randn(groups, inp, hidden) / inp ** 0.5)
        self.b1 = nn.Parameter(torch.zeros(groups, 1, hidden))
        self.w2 = nn.Parameter(torch.randn(groups, hidden, hidden) / hidden ** 0.5)
        self.b2 = nn.Parameter(torch.zeros(groups, 1, hidden))

    def forward(self, v: torch.Tensor) -> torch.Tensor:
        return torch.baddbmm(self.b2, torch.relu(torch.baddbmm(self.b1, v, self.w1)), self.w2)


class SGELAMethod(nn.Module):
    """The encoder-decoder plus LCL's projection; `losses` returns the named loss terms."""

    data = "walks"
    summed_losses = True  # the authors' scales: sums over the batch

    def __init__(self, cfg: SGELAConfig):
        super().__init__()
        self.cfg = cfg
        self.model = SGELA(cfg.model_config())
        self.projection = GroupedMLP(3, cfg.length * cfg.hidden, cfg.hidden) if cfg.lcl else None

    def pretext(self, windows: torch.Tensor, generator: torch.Generator | None = None,
                clean: torch.Tensor | None = None):
        """(input, target, teacher) of the pretext task for consecutive windows [n, f, J, 3];
        ``clean`` (same shape) is what to reconstruct when the input lost joints (default: the input).

        rev_rec: input S, target S reversed, teacher forcing with the targets; prediction:
        target the next window (the last one predicts itself, as the authors' code);
        sorting: input a random shuffle of S, target S. Prediction and sorting feed back the
        decoder's own outputs.
        """
        x = to_axes(windows)  # [3, n, f, J]
        y = x if clean is None else to_axes(clean)
        if self.cfg.pretext == "rev_rec":
            return x, y.flip(2), y.flip(2)
        if self.cfg.pretext == "prediction":
            return x, torch.cat([y[:, 1:], y[:, -1:]], 1), None
        device = generator.device if generator is not None else x.device
        perm = torch.stack([torch.randperm(x.shape[2], generator=generator, device=device) for _ in range(x.shape[1])])
        shuffled = torch.gather(x, 2, perm.to(x.device)[None, :, :, None].expand_as(x))
        return shuffled, y, None

    def forward(self, windows: torch.Tensor, generator: torch.Generator | None = None,
                clean: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        return self.losses(windows, generator, clean)

    def losses(self, windows: torch.Tensor, generator: torch.Generator | None = None,
               clean: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """Named, weighted loss terms for one batch of consecutive windows [n, f, J, 3]
        (``clean``: the full windows when the input lost joints; the reconstruction target)."""
        cfg = self.cfg
        inp, target, teacher = self.pretext(windows, generator, clean)
        out = self.model(inp, aux=teacher)
        terms = {"rec": cfg.lambda_s * 0.5 * ((out["output"] - target) ** 2).sum()}
        if cfg.attention == "las":
            terms["align"] = cfg.lambda_a * alignment_loss(out["scores"], self.model.mask)
        if self.projection is not None:
            g, n, f, h = out["context"].shape
            z = self.projection(out["context"].reshape(g, n, f * h))
            terms["contrast"] = cfg.lambda_c * sum(
                consecutive_contrastive_loss(z[k], cfg.temperature) for k in range(g))
        if cfg.l2:
            terms["l2"] = cfg.l2 * l2_penalty(self)
        return terms

    def checkpoints(self, run: dict) -> dict[str, tuple[nn.Module, dict]]:
        """{"best": (the whole method, metadata)}, written at the best validation loss (`Trainer`);
        `trainers.export` keeps the encoder."""
        from trainers.gait_data import input_meta
        m = self.cfg
        return {"best": (self, {
            "method": "sge_la", "architecture": m.model_config().to_dict(), "hyperparameters": asdict(m),
            "input": input_meta(run["training"]["config"], m.length),
            "embedding": {"frame": 3 * m.hidden, "sequence": 3 * m.hidden * m.length},
            "training": run["training"], "metrics": run["metrics"]})}
