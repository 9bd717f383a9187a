"""A fast gait encoder distilled from a slow one, without labels (results/distill/RULE.md).

``python trainers/run.py distill --config trainers/configs/distill_kgbd.yaml``

The student is A3D's convolutional backbone (`engine.models.a3d`, coordinates and velocities
over a time x body-ordered joint grid) without its agent, with an MLP ``head`` on the map
averaged over time per joint column. It learns to give, for a window, the teacher's matching
feature of that window (the bundled SGE-LA's by default: side-symmetric, whitened, 512 values;
`engine.embed.window_features`), which `trainers.data.TeacherWalkData` computes once per window:

- ``cosine``: 1 - cos(student(x'), target(x)), where x' is the window after joint dropout (other
  sensors' joint sets, as the teacher was trained) and, with probability ``mirror``, mirrored
  left/right. The target stays: a side-symmetric teacher gives a window and its mirror image
  the same feature by construction, so the student learns that invariance instead of paying
  for a second pass per window.
- ``relational`` (RULE.md's addendum 4): a second loss, ``relational_kl``, asks the student's
  cosines within a batch to rank the other windows as the teacher's do (softmax at ``tau``).
- ``limb_noise`` (RULE.md's addendum 2): with that probability, the limbs of one side are
  displaced as a tracker displaces limbs it sees from the side (`side_limb_noise`); the target
  stays the clean window's, so the student learns to see through it.

No identity labels are read, so the student is judged by the same validation rule as every
self-supervised gait default. Its checkpoint (``method: distill``) holds an A3D network
(``architecture`` with ``head``), so the engine, ONNX export and evaluation load it as they load
any A3D checkpoint; ``distillation`` in its metadata names the teacher.
"""

from __future__ import annotations

import dataclasses
from dataclasses import asdict, dataclass

import torch
from torch import nn

from engine.models.a3d import A3D, A3DConfig
from engine.models.sge_la import INPUT_JOINTS, mirror_windows


@dataclass
class DistillConfig:
    """The student's architecture and the distillation's switches (RULE.md's recipe)."""

    teacher: str = ""  # a gait checkpoint (default: the bundled one)
    length: int = 6
    channels: int = 128
    velocity: bool = True
    head: int = 512  # the teacher's matching feature's size
    mirror: float = 0.5  # p a training window is mirrored (same target)
    limb_noise: float = 0.0  # p a window's limbs on one side are tracked badly (same target; `side_limb_noise`)
    relational: float = 0.0  # weight of `relational_kl` (0: the cosine loss alone)
    tau: float = 0.1  # its softmax temperature

    def __post_init__(self):
        if self.relational < 0 or self.tau <= 0:
            raise ValueError(f"relational must be >= 0 and tau > 0, got {self.relational} and {self.tau}")
        for name in ("mirror", "limb_noise"):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"{name} is a probability, got {getattr(self, name)}")
        self.model_config()

    def model_config(self) -> A3DConfig:
        return A3DConfig(length=self.length, channels=self.channels, velocity=self.velocity, attention="none",
                         head=self.head)


LIMB_JOINTS = {side: [INPUT_JOINTS.index(f"{j}{side}") for j in ("Elbow", "Wrist", "Knee", "Ankle")]
               for side in ("Left", "Right")}
FOLLOWERS = {"Hand": "Wrist", "Foot": "Ankle"}  # under the shared joint set these are copies of those


def side_limb_noise(x: torch.Tensor, p: float, generator: torch.Generator | None = None,
                    offset: float = 0.04, jitter: float = 0.02) -> torch.Tensor:
    """Windows ``[B, f, 20, 3]`` where, with probability ``p`` each, the limbs of one side (left or
    right at random: elbow, wrist, knee, ankle, and the hand and foot with their wrist and ankle)
    are displaced as a tracker displaces limbs it half sees: a constant offset N(0, ``offset``) per
    joint and a per-frame jitter N(0, ``jitter``), metres. RULE.md's addendum 2."""
    b, f = x.shape[:2]
    device = generator.device if generator is not None else x.device
    picked = torch.rand(b, generator=generator, device=device) < p
    left = torch.rand(b, generator=generator, device=device) < 0.5
    noise = (torch.randn(b, 1, x.shape[2], 3, generator=generator, device=device) * offset
             + torch.randn(b, f, x.shape[2], 3, generator=generator, device=device) * jitter)
    for side in ("Left", "Right"):
        for follower, leader in FOLLOWERS.items():
            noise[:, :, INPUT_JOINTS.index(follower + side)] = noise[:, :, INPUT_JOINTS.index(leader + side)]
    mask = torch.zeros(b, x.shape[2], dtype=torch.bool, device=device)
    for side, chosen in (("Left", left), ("Right", ~left)):
        cols = LIMB_JOINTS[side] + [INPUT_JOINTS.index(f + side) for f in FOLLOWERS]
        mask[:, cols] = (picked & chosen)[:, None]
    return x + (noise * mask[:, None, :, None]).to(x.device, x.dtype)


def cosine_distance(student: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean of 1 - cos over the batch (the target unit vectors, the student's any length)."""
    return (1 - nn.functional.cosine_similarity(student, target, dim=1)).mean()


def relational_kl(student: torch.Tensor, target: torch.Tensor, tau: float) -> torch.Tensor:
    """Mean over the batch of KL(p_teacher || p_student), where p over the *other* windows of the
    batch is the softmax of their cosines to this one divided by ``tau``: 0 when the student's
    similarities rank and weigh a window's neighbours as the teacher's do."""
    s = nn.functional.normalize(student, dim=1)
    t = nn.functional.normalize(target, dim=1)
    eye = torch.eye(len(s), dtype=torch.bool, device=s.device)
    log_ps = torch.log_softmax((s @ s.T / tau).masked_fill(eye, float("-inf")), dim=1)
    log_pt = torch.log_softmax((t @ t.T / tau).masked_fill(eye, float("-inf")), dim=1)
    return (log_pt.exp() * (log_pt - log_ps)).masked_fill(eye, 0).sum(1).mean()


class Distill(nn.Module):
    """The student network; `forward` returns its named losses (``cosine``, and ``relational`` when on)."""

    data = "teacher"

    def __init__(self, cfg: DistillConfig):
        super().__init__()
        self.cfg = cfg
        self.model = A3D(cfg.model_config())

    @staticmethod
    def configure(cfg: DistillConfig, data) -> DistillConfig:
        """The target's size from the data module's teacher features."""
        dim = int(data.fit_targets.shape[1])
        if dim != cfg.head:
            return dataclasses.replace(cfg, head=dim)
        return cfg

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None,
                target: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        if target is None:
            raise ValueError("distill needs each window's teacher feature (a `teacher` data module)")
        if self.training and self.cfg.mirror > 0:
            flip = torch.rand(len(x), generator=generator, device=generator.device if generator is not None else x.device)
            flip = (flip < self.cfg.mirror).to(x.device)[:, None, None, None]
            x = torch.where(flip, mirror_windows(x), x)
        if self.training and self.cfg.limb_noise > 0:
            x = side_limb_noise(x, self.cfg.limb_noise, generator)
        feature, target = self.model.run(x)["feature"], target.to(x.dtype)
        losses = {"cosine": cosine_distance(feature, target)}
        if self.cfg.relational > 0:
            losses["relational"] = self.cfg.relational * relational_kl(feature, target, self.cfg.tau)
        return losses

    def checkpoints(self, run: dict) -> dict[str, tuple[nn.Module, dict]]:
        from trainers.gait_data import input_meta
        m = self.cfg
        arch = m.model_config().to_dict()
        meta = {"method": "distill", "architecture": arch, "hyperparameters": asdict(m),
                "input": input_meta(run["training"]["config"], m.length),
                "embedding": {"frame": self.model.dim, "sequence": self.model.dim},
                "distillation": {"teacher": run["training"].get("teacher", {}), "loss": "1 - cosine to the teacher's "
                                 "matching feature of the clean window" + (
                                     f" + {m.relational} x KL of the within-batch similarities (tau {m.tau})"
                                     if m.relational else ""), "labels": "none"},
                "training": run["training"], "metrics": run["metrics"]}
        return {"best": (self, meta)}
