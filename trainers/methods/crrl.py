"""CRRL: contrast-reconstruction representation learning (Wang et al., seed 003).

``python trainers/run.py crrl --config trainers/configs/crrl_cml_nwucla.yaml`` (step 1), then
``... --config trainers/configs/crrl_nwucla.yaml`` (step 2, ``teacher=`` the step-1 checkpoint).
Three parts, every encoder a 2-layer bidirectional GRU (256 units, dropout 0.2) whose feature is
the temporal average (TAP) of its outputs, 512 values (`engine.models.action.SequenceEncoder`):

- Contrastive Motion Learner (CML, Eq. 2-6): a query encoder on the coordinates, a key encoder
  (its moving average, momentum 0.999) on the velocities v_t = x_{t+1} - x_t (the last repeated),
  MLP heads 512-512-512, InfoNCE against a queue of 64 keys (temperature 0.1). No augmentation:
  the coordinates and the velocities of one clip are the positive pair.
- Sequence Reconstructor (SER, Eq. 1): the student encoder's outputs h; a 2-layer GRU decoder
  (256 units) fed h_1 repeated T times reconstructs the clip forwards, fed h_T repeated T times
  reconstructs it backwards; mean squared error of both.
- Information Fuser (Eq. 7-8): the frozen CML query encoder is the teacher; the student's TAP(h)
  goes through a 2-layer projection (512-512-512) to h_s, and ||h_t - h_s||^2 (mean squared) is
  added with weight 0.1 to the reconstruction loss.

``fusion`` switches between the rows of the paper's Table VI (``teacher``: the checkpoint the
variant starts from or distils; step 1 writes OUT/cml or OUT/ser):

| fusion | trains | loss | teacher | kept encoder (OUT/NAME) |
|---|---|---|---|---|
| cml | CML | L_c | - | cml |
| ser | SER | L_r | - | ser |
| joint | one encoder as CML query and SER encoder | L_c + L_r | - | joint |
| cml_pretrain_ser | SER starting from the CML query encoder | L_r | a cml checkpoint | cml_pretrain_ser |
| ser_pretrain_cml | CML starting from the SER encoder | L_c | a ser checkpoint | ser_pretrain_cml |
| ser_distill_cml | CML, the frozen SER encoder distilled into its query | L_c + 0.1 L_d | a ser checkpoint | ser_distill_cml |
| crrl | SER, the frozen CML query encoder distilled into it (Algorithm 1, step 2) | L_r + 0.1 L_d | a cml checkpoint | crrl |
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from engine.checkpoint import load_action
from engine.models.action import SKELETON_JOINTS, SequenceEncoder, weights_module
from trainers.blocks.contrast import Queue, info_nce, momentum_update
from trainers.methods.isc import LIVE_SECONDS

FUSIONS = {  # name: (trains CML, trains SER, what the teacher checkpoint is, how it is used)
    "cml": (True, False, None, None),
    "ser": (False, True, None, None),
    "joint": (True, True, None, None),
    "cml_pretrain_ser": (False, True, "cml", "init"),
    "ser_pretrain_cml": (True, False, "ser", "init"),
    "ser_distill_cml": (True, False, "ser", "distill"),
    "crrl": (False, True, "cml", "distill"),
}


@dataclass
class CRRLConfig:
    """CRRL's hyper-parameters; defaults from the paper and the authors' public code."""

    fusion: str = "crrl"  # a row of Table VI (module docstring)
    teacher: str = ""  # the previous step's checkpoint (cml or ser), for the variants that need one
    frames: int = 50  # NW-UCLA's clips downsampled to at most 50 frames in the paper
    hidden: int = 256
    layers: int = 2
    dropout: float = 0.2
    decoder_layers: int = 2
    mlp: int = 512
    queue: int = 64
    momentum: float = 0.999
    temperature: float = 0.1
    distill_weight: float = 0.1
    velocity_scale: float = 1.0  # the velocities as the paper takes them (raw frame differences)
    motion: bool = False  # not the paper's: the encoders also see each joint's frame-to-frame motion (ISC's input)

    def __post_init__(self):
        if self.fusion not in FUSIONS:
            raise ValueError(f"fusion must be one of {', '.join(FUSIONS)}, got {self.fusion!r}")
        needs = FUSIONS[self.fusion][2]
        if needs and not self.teacher:
            raise ValueError(f"fusion={self.fusion} starts from a {needs} checkpoint: give teacher=RUN/{needs}")
        if not needs and self.teacher:
            raise ValueError(f"fusion={self.fusion} uses no teacher, got teacher={self.teacher!r}")


def velocity(x: torch.Tensor, scale: float = 1.0) -> torch.Tensor:
    """Eq. 2: v_t = x_{t+1} - x_t for t < T, v_T = v_{T-1}; ``x [N, T, J, 3]``."""
    v = x[:, 1:] - x[:, :-1]
    return torch.cat([v, v[:, -1:]], 1) * scale


def mlp(d: int, hidden: int, out: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(d, hidden), nn.ReLU(), nn.Linear(hidden, out))


class Decoder(nn.Module):
    """SER's decoder: a unidirectional GRU fed one hidden state repeated T times, a linear read-out."""

    def __init__(self, dim: int, hidden: int, layers: int, dropout: float, joints: int):
        super().__init__()
        self.gru = nn.GRU(dim, hidden, num_layers=layers, batch_first=True, dropout=dropout if layers > 1 else 0.0)
        self.out = nn.Linear(hidden, joints * 3)

    def forward(self, hint: torch.Tensor, frames: int) -> torch.Tensor:  # hint [N, D] -> [N, T, J, 3]
        y, _ = self.gru(hint[:, None].expand(-1, frames, -1).contiguous())
        return self.out(y).view(len(hint), frames, -1, 3)


def reconstruction_loss(x: torch.Tensor, h: torch.Tensor, decoder: Decoder) -> torch.Tensor:
    """Eq. 1: the clip forwards from h_1 and backwards (time reversed) from h_T, mean squared."""
    t = x.shape[1]
    forwards, backwards = decoder(h[:, 0], t), decoder(h[:, -1], t)
    return F.mse_loss(forwards, x) + F.mse_loss(backwards, x.flip(1))


def distillation_loss(teacher: torch.Tensor, student: torch.Tensor) -> torch.Tensor:
    """Eq. 7: ||h_t - h_s||^2, averaged over the values of the batch."""
    return F.mse_loss(student, teacher)


class CRRL(nn.Module):
    data = "clips"

    def __init__(self, cfg: CRRLConfig):
        super().__init__()
        self.cfg = cfg
        self.trains_cml, self.trains_ser, self.teacher_kind, self.teacher_use = FUSIONS[cfg.fusion]
        enc = dict(hidden=cfg.hidden, layers=cfg.layers, dropout=cfg.dropout, motion=cfg.motion)
        d = 2 * cfg.hidden
        gen = torch.Generator().manual_seed(int(torch.randint(0, 2 ** 31, (1,))))
        if self.trains_cml:
            self.query, self.key = SequenceEncoder(**enc), SequenceEncoder(**enc)
            self.query_head, self.key_head = mlp(d, cfg.mlp, cfg.mlp), mlp(d, cfg.mlp, cfg.mlp)
            self.queue = Queue(cfg.mlp, cfg.queue, gen)
        if self.trains_ser:
            # joint training: one encoder is both the CML query and the SER encoder
            self.student = self.query if cfg.fusion == "joint" else SequenceEncoder(**enc)
            self.decoder = Decoder(d, cfg.hidden, cfg.decoder_layers, cfg.dropout, len(SKELETON_JOINTS))
        self.teacher = None
        if cfg.teacher:
            loaded, meta = load_action(cfg.teacher)
            loaded = weights_module(loaded)  # the encoder itself, never a feature fused with raw coordinates
            if meta.get("method") != "crrl" or meta["architecture"]["kind"] != "seq":
                raise ValueError(f"teacher {cfg.teacher}: not a CRRL sequence encoder "
                                 f"(method {meta.get('method')!r}, kind {meta['architecture']['kind']!r})")
            target = self.student if self.trains_ser else self.query
            if self.teacher_use == "init":
                target.load_state_dict(loaded.state_dict())
            else:
                self.teacher = loaded.requires_grad_(False).eval()
                self.project = mlp(loaded.dim, cfg.mlp, loaded.dim)  # h_s = MLP(TAP(h)), to the teacher's space
        if self.trains_cml:
            self.key.load_state_dict(self.query.state_dict())
            self.key_head.load_state_dict(self.query_head.state_dict())
            for p in list(self.key.parameters()) + list(self.key_head.parameters()):
                p.requires_grad_(False)

    def train(self, mode: bool = True):
        super().train(mode)
        if self.teacher is not None:
            self.teacher.eval()  # frozen: no dropout, no statistics
        return self

    def forward(self, x: torch.Tensor, gen: torch.Generator, second: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        c, terms = self.cfg, {}
        h = self.student.states(x) if self.trains_ser else None
        if self.trains_cml:  # Eq. 3-6; in eval mode (validation) the key side and the queue stay put
            feats = h.mean(1) if self.cfg.fusion == "joint" else self.query(x)  # joint: one encoder, run once
            q = F.normalize(self.query_head(feats), dim=1)
            with torch.no_grad():
                if self.training:
                    momentum_update(nn.ModuleList([self.key, self.key_head]),
                                    nn.ModuleList([self.query, self.query_head]), c.momentum)
                k = F.normalize(self.key_head(self.key(velocity(x, c.velocity_scale))), dim=1)
            terms["contrast"] = info_nce(q, k, self.queue.keys.clone(), c.temperature)
            if self.training:
                self.queue.enqueue(k)
        if self.trains_ser:
            terms["reconstruct"] = reconstruction_loss(x, h, self.decoder)
            student_feat = h.mean(1)
        else:
            student_feat = feats
        if self.teacher is not None:
            with torch.no_grad():
                target = self.teacher(x)
            terms["distill"] = c.distill_weight * distillation_loss(target, self.project(student_feat))
        return terms

    def encoder(self) -> SequenceEncoder:
        """What the variant keeps: the SER encoder when it trains one, else the CML query encoder."""
        return self.student if self.trains_ser else self.query

    def encoders(self) -> dict[str, nn.Module]:
        return {self.cfg.fusion: self.encoder()}

    def checkpoints(self, run: dict) -> dict[str, tuple[nn.Module, dict]]:
        enc, c = self.encoder(), self.cfg
        return {c.fusion: (enc, {
            "method": "crrl", "fusion": c.fusion,
            "architecture": {"kind": "seq", "hidden": c.hidden, "layers": c.layers, "dropout": c.dropout,
                             "motion": c.motion},
            "input": {"joints": list(SKELETON_JOINTS), "frames": c.frames, "seconds": LIVE_SECONDS,
                      "view": "`engine.models.action.action_view` (first-frame SpineBase at the origin, "
                              "mean torso axis upright, mean facing direction -z)"},
            "embedding": {"dim": enc.dim, "normalise": "L2"},
            "hyperparameters": asdict(c), "training": run["training"], "metrics": run["metrics"]})}
