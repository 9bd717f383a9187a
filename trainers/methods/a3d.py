"""A3D (seed 001) on skeleton windows: supervised re-identification with recurrent 3D attention
learned by REINFORCE (the network: `engine.models.a3d`).

Per batch of P people x K windows (`trainers.data.IdentityWalkData`):
- ``ce``: cross-entropy of F_c (one fc layer over [f_g; h_1..h_T], Eq. 6) against the training
  people (Eq. 15);
- ``triplet``: the hybrid loss's triplet term (Eq. 14, margin 0.3) on squared Euclidean distances
  of the L2-normalised features, over all the batch's triplets that violate the margin
  (``mining=hard``: each anchor's hardest positive and negative, which collapsed every feature
  onto one point on KGBD within 50 steps: the loss sat at the margin);
- ``reinforce``: -sum_t log pi(a_t | s_t) (R - b_t) (Eq. 13), R = 1 when F_c names the right person
  (Eq. 7; gamma = 1, so every decision gets the final reward), b_t the learned value baseline;
  By default (``policy_gradient=head``) that gradient trains the locating module F_a only (it
  reads h_t detached); with ``network`` it also flows into F_h, F_o and the backbone, which on
  KGBD slowed the supervised training by half (training cross-entropy 2.06 after 30 epochs,
  against 1.11-1.38 for the variants without a learned policy);
- ``value``: (b_t - R)^2, the baseline's regression; b_t = fc(h_t) on the state BEFORE the action
  and detached from it, so it cannot bias the policy gradient (tests check this numerically).

The classifier and the value head are training-only; a checkpoint keeps them, `engine.checkpoint
.load_gait` takes only the network (``model.``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import asdict, dataclass

import torch
from torch import nn

from engine.models.a3d import A3D, A3DConfig


@dataclass
class A3DMethodConfig:
    """Hyper-parameters; defaults from the paper (Sec. III-D) where it gives them."""

    length: int = 6  # frames per clip (the paper: 6)
    channels: int = 128
    hidden: int = 256
    glimpses: int = 4
    bin_frames: int = 3
    bin_joints: int = 6
    variance: float = 0.03
    attention: str = "rl"  # rl | none | random (Table VII)
    velocity: bool = True  # False: "w/o optical flow"
    reinforce: bool = True  # False: "w/o RL objective" (the policy stays as initialised)
    backbone: str = "conv"  # conv | stgcn (init= a self-supervised ST-GCN checkpoint, e.g. skeleton BYOL's)
    stgcn_width: float = 0.25
    stgcn_blocks: int = 4
    policy_gradient: str = "head"  # head: REINFORCE trains F_a only | network: also F_h, F_o and the backbone
    clips: int = 4  # K windows per person in a batch; P = batch / K (the paper: 4 x 4)
    margin: float = 0.3
    mining: str = "all"  # all | hard: which triplets of the batch (hard ones collapsed the features on KGBD)
    classes: int = 0  # the training people; set from the data

    def __post_init__(self):
        if self.policy_gradient not in ("head", "network"):
            raise ValueError(f"policy_gradient must be head or network, got {self.policy_gradient!r}")
        if self.mining not in ("all", "hard"):
            raise ValueError(f"mining must be all or hard, got {self.mining!r}")
        self.model_config()

    def model_config(self) -> A3DConfig:
        """The architecture: every A3DConfig field this config shares (the rest are training's)."""
        return A3DConfig(**{f.name: getattr(self, f.name) for f in dataclasses.fields(A3DConfig) if hasattr(self, f.name)})


def triplet_loss(features: torch.Tensor, labels: torch.Tensor, margin: float, mining: str = "all") -> torch.Tensor:
    """Eq. 14 on squared Euclidean distances of L2-normalised features, over the batch's triplets:
    ``all`` averages [d(a, p) - d(a, n) + m]_+ over the triplets where it is positive (every
    anchor, positive and negative of the batch); ``hard`` takes each anchor's hardest positive
    and negative. Anchors without a positive or a negative give nothing."""
    f = nn.functional.normalize(features, dim=1)
    d = (2 - 2 * f @ f.T).clamp(min=0)
    same = labels[:, None] == labels[None, :]
    eye = torch.eye(len(f), dtype=torch.bool, device=f.device)
    pos, neg = same & ~eye, ~same
    if mining == "hard":
        ok = pos.any(1) & neg.any(1)
        if not ok.any():
            return d.sum() * 0
        hardest_pos = d.masked_fill(~pos, float("-inf")).amax(1)
        hardest_neg = d.masked_fill(~neg, float("inf")).amin(1)
        return torch.relu(hardest_pos - hardest_neg + margin)[ok].mean()
    loss = torch.relu(d[:, :, None] - d[:, None, :] + margin)  # [anchor, positive, negative]
    valid = pos[:, :, None] & neg[:, None, :]
    loss = loss * valid
    active = (loss > 1e-12).sum()
    return loss.sum() / active.clamp(min=1)


def reinforce_terms(log_prob: torch.Tensor, baseline: torch.Tensor, reward: torch.Tensor) -> dict[str, torch.Tensor]:
    """REINFORCE with a baseline for decisions [B, T-1]: the policy term (its gradient is
    -mean_b sum_t grad log pi (R - b_t)) and the baseline's squared error."""
    advantage = reward[:, None] - baseline.detach()
    return {"reinforce": -(log_prob * advantage).sum(1).mean(),
            "value": ((baseline - reward[:, None]) ** 2).sum(1).mean()}


class A3DMethod(nn.Module):
    """The network, F_c and the value baseline; `losses` returns the named terms."""

    data = "identities"

    def __init__(self, cfg: A3DMethodConfig):
        super().__init__()
        if cfg.classes < 2:
            raise ValueError("a3d needs the number of training people (classes >= 2; set from the data)")
        self.cfg = cfg
        self.model = A3D(cfg.model_config())
        self.classifier = nn.Linear(self.model.dim, cfg.classes)  # F_c
        self.value = nn.Linear(cfg.hidden, 1) if cfg.attention == "rl" else None

    @staticmethod
    def configure(cfg: A3DMethodConfig, data) -> A3DMethodConfig:
        """The method config completed from the data module (the number of training people)."""
        return dataclasses.replace(cfg, classes=len(data.people))

    def init_from(self, spec: str) -> None:
        """Start from a checkpoint: an A3D one (its network, ``model.`` weights), or a
        self-supervised ST-GCN action encoder (skeleton BYOL's; ``backbone=stgcn`` of the same
        width), whose input norm and first units start both streams."""
        from pathlib import Path

        from safetensors.torch import load_file

        from engine.checkpoint import load_action, read_meta
        from engine.models.action import weights_module
        meta = read_meta(spec)
        if meta.get("architecture", {}).get("kind") == "stgcn":
            if self.cfg.backbone != "stgcn":
                raise ValueError(f"init={spec}: an ST-GCN checkpoint starts backbone=stgcn only")
            encoder, _ = load_action(spec)
            for stream in (self.model.coords, self.model.motion):
                if stream is not None:
                    stream.load_from(weights_module(encoder))
            return
        state = load_file(str(Path(spec).with_suffix("").with_suffix(".safetensors")))
        net = {k.removeprefix("model."): v.float() for k, v in state.items() if k.startswith("model.")}
        missing, unexpected = self.model.load_state_dict(net, strict=False)
        if unexpected or not net:
            raise ValueError(f"init={spec}: not an A3D network of this architecture (unexpected {unexpected[:3]})")

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None,
                labels: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        return self.losses(x, labels, generator)

    def losses(self, x: torch.Tensor, labels: torch.Tensor, generator: torch.Generator | None = None
               ) -> dict[str, torch.Tensor]:
        if labels is None:
            raise ValueError("a3d is supervised: its batches need labels")
        out = self.model.run(x, sample=self.training, generator=generator,
                             policy_into_network=self.cfg.policy_gradient == "network")
        logits = self.classifier(out["feature"])
        terms = {"ce": nn.functional.cross_entropy(logits, labels),
                 "triplet": triplet_loss(out["feature"], labels, self.cfg.margin, self.cfg.mining)}
        if self.value is not None and "log_prob" in out:
            reward = (logits.argmax(1) == labels).float().detach()
            baseline = self.value(out["hidden"].detach()).squeeze(-1)
            rl = reinforce_terms(out["log_prob"], baseline, reward)
            terms["value"] = rl["value"]
            if self.cfg.reinforce:
                terms["reinforce"] = rl["reinforce"]
        return terms

    def checkpoints(self, run: dict) -> dict[str, tuple[nn.Module, dict]]:
        from trainers.gait_data import input_meta
        m = self.cfg
        return {"best": (self, {
            "method": "a3d", "architecture": m.model_config().to_dict(), "hyperparameters": asdict(m),
            "input": input_meta(run["training"]["config"], m.length),
            "embedding": {"frame": self.model.dim, "sequence": self.model.dim},
            "training": run["training"], "metrics": run["metrics"]})}
