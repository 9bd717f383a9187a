"""A3D on skeletons (seed 001, DESIGN.md "A3D on skeletons"): recurrent 3D attention over a
skeleton window, for re-identification.

The paper attends over RGB video; here the same agent runs on gait windows [B, f, 20, 3] (the
SGE-LA windows of `engine.models.sge_la.prepare_windows`: missing joints already filled from
given ones, their stored coordinates never read):

- Two-stream backbone (Tables I-III, scaled to skeletons): the joint coordinates (the "RGB"
  stream) and the joint velocities (the "optical flow" stream, x_{t+1} - x_t), each through the
  same structure: a per-joint linear embedding (`JointEmbedding`), then two 3x3 convolutions over
  a time x body-ordered joint grid (`GRID`: left leg, left arm,
  torso, right arm, right leg, so that neighbouring columns are neighbouring body parts), fused
  by element-wise addition, then the high-level convolutions F_g: a feature map g [B, C, f, J],
  full resolution (no strides). The global feature f_g is its average.
- The recurrent agent (Table IV, Section III): a glimpse is a 3D bin of ``bin_frames`` x
  ``bin_joints`` cells x all C channels; its location is the bin's centre in [-1, 1]^2 (time,
  joint column), quantised to the action pool of the (f - bf + 1)(J - bj + 1) bins inside g.
  F_o pools the bin (average) and fuses it with the location (fc1/fc2 of each, added, ReLU);
  F_h is a 256-unit recurrent layer h_t = tanh(i2h(o_t) + h2h(h_{t-1})) (with ReLU most
  units died within 50 steps on KGBD); F_a gives the mean of a
  Gaussian policy tanh(fc(h_t)) with a fixed variance (the paper: 0.03), sampled in training,
  its mean at test time. The first glimpse is at the centre, h_0 = 0 (Algorithm 1); T glimpses
  make T - 1 decisions.
- Features: [f_g; h_1; ...; h_T] (Eq. 6's input to F_c), what gallery matching uses.
- ``backbone="stgcn"``: each stream is instead the first units of skeleton BYOL's ST-GCN
  (`STGCNStream`), so both can start from a self-supervised ST-GCN checkpoint
  (`trainers.methods.a3d`, ``init=``), as the paper's streams start from ImageNet weights.

Ablations (Table VII) as ``attention``: ``rl`` (the agent), ``none`` (global feature only),
``random`` (uniform random bins; at test time the same seeded bins for every window, so
features are repeatable); ``glimpses=1`` is "w/o RNN" (one glimpse at the centre); ``velocity=False`` drops
the velocity stream; "w/o RL objective" is a training switch (`trainers.methods.a3d`).

``head`` (with ``attention="none"``): the feature is instead an MLP (Linear-ReLU-Linear, ``head``
values) of the map averaged over time per joint column, so it still says which joint did what:
the student of `trainers.methods.distill`, trained without labels to give a teacher's features.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

from engine.models.sge_la import INPUT_JOINTS
from engine.skeleton import BODY_GRID as GRID, BODY_GRID_INDEX as GRID_INDEX

ATTENTIONS = ("rl", "none", "random")


@dataclass(frozen=True)
class A3DConfig:
    """Architecture (what a checkpoint's ``architecture`` records)."""

    length: int = 6
    joints: int = len(INPUT_JOINTS)
    channels: int = 128  # C of the feature map (the paper: 2048 of ResNet-50)
    hidden: int = 256  # F_o, F_h (Table IV)
    glimpses: int = 4  # T
    bin_frames: int = 3  # the bin's extent in time ...
    bin_joints: int = 6  # ... and in joint columns (the paper: about half and a third of the map)
    variance: float = 0.03  # of the Gaussian policy, in the [-1, 1] location units
    attention: str = "rl"  # rl | none | random
    velocity: bool = True
    backbone: str = "conv"  # conv | stgcn (each stream the first `stgcn_blocks` units of an ST-GCN)
    stgcn_width: float = 0.25  # the ST-GCN's width (that of the checkpoint it starts from)
    stgcn_blocks: int = 4  # its units kept (the first four keep the frame rate)
    head: int = 0  # > 0: the feature is an MLP of the map averaged over time per joint column (needs attention=none)

    def __post_init__(self):
        if self.attention not in ATTENTIONS:
            raise ValueError(f"attention must be one of {ATTENTIONS}, got {self.attention!r}")
        if not (1 <= self.bin_frames <= self.length and 1 <= self.bin_joints <= self.joints):
            raise ValueError(f"a bin of {self.bin_frames} x {self.bin_joints} does not fit a "
                             f"{self.length} x {self.joints} feature map")
        if self.glimpses < 1:
            raise ValueError(f"glimpses must be >= 1, got {self.glimpses}")
        if self.backbone not in ("conv", "stgcn"):
            raise ValueError(f"backbone must be conv or stgcn, got {self.backbone!r}")
        if self.backbone == "stgcn" and not 1 <= self.stgcn_blocks <= 4:
            raise ValueError("stgcn_blocks must be 1-4 (later units halve the frames)")
        if self.head < 0 or (self.head and self.attention != "none"):
            raise ValueError(f"head={self.head}: an MLP head (> 0) replaces the global feature, so it needs "
                             f"attention=none (got {self.attention!r})")

    @property
    def dim(self) -> int:
        """Size of the matching feature."""
        if self.head:
            return self.head
        return self.channels + (0 if self.attention == "none" else self.hidden * self.glimpses)

    def to_dict(self) -> dict:
        return asdict(self)


def _stream(inp: int, out: int) -> nn.Sequential:
    mid = out // 2
    return nn.Sequential(nn.Conv2d(inp, mid, 3, padding=1), nn.BatchNorm2d(mid), nn.ReLU(inplace=True),
                         nn.Conv2d(mid, out, 3, padding=1), nn.BatchNorm2d(out), nn.ReLU(inplace=True))


class JointEmbedding(nn.Module):
    """Each joint's own linear map of its 3 values to ``dim`` channels: [B, f, J, 3] -> [B, dim, f, J].
    A convolution shares its weights across the grid; this first layer tells the network which
    joint each column is, so pooled features still say which joints they came from."""

    def __init__(self, joints: int, dim: int):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(joints, 3, dim) / 3 ** 0.5)
        self.bias = nn.Parameter(torch.zeros(joints, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (torch.einsum("bfjc,jcd->bfjd", x, self.weight) + self.bias).permute(0, 3, 1, 2)


class STGCNStream(nn.Module):
    """A stream made of the first ``blocks`` units of skeleton BYOL's ST-GCN
    (`engine.models.action.STGCNEncoder`, joints in `INPUT_JOINTS` order): [B, f, 20, 3] ->
    [B, C, f, 20], columns in `GRID` order. Its weights can come from a self-supervised ST-GCN
    checkpoint (`load_from`)."""

    def __init__(self, width: float, blocks: int):
        super().__init__()
        from engine.models.action import STGCNEncoder
        self.gcn = STGCNEncoder(INPUT_JOINTS, width)
        self.gcn.blocks = self.gcn.blocks[:blocks]
        self.dim = self.gcn.channels[blocks - 1]
        self.register_buffer("grid", torch.tensor(GRID_INDEX), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.gcn.feature_map(x)[..., self.grid]

    def load_from(self, encoder: nn.Module) -> None:
        """Copy an ST-GCN encoder's input norm and first units (same width) into this stream."""
        state = {k: v for k, v in encoder.state_dict().items()
                 if k.startswith("norm.") or (k.startswith("blocks.") and int(k.split(".")[1]) < len(self.gcn.blocks))}
        missing, unexpected = self.gcn.load_state_dict(state, strict=False)
        if unexpected or [k for k in missing if k not in ("adjacency", "parent")]:
            raise ValueError(f"the ST-GCN does not fit this stream (width {self.gcn.width}): missing {missing[:3]}, "
                             f"unexpected {unexpected[:3]}")


def velocities(x: torch.Tensor) -> torch.Tensor:
    """x_{t+1} - x_t of windows [B, f, J, 3]; the last frame repeats the last difference."""
    v = x[:, 1:] - x[:, :-1]
    return torch.cat([v, v[:, -1:]], 1) if x.shape[1] > 1 else torch.zeros_like(x)


class A3D(nn.Module):
    """Backbone and recurrent agent (module doc). ``run`` is the training pass, ``encode`` the
    engine's and evaluation's (the gait-encoder interface of `engine.models.sge_la.SGELA`)."""

    def __init__(self, config: A3DConfig = A3DConfig()):
        super().__init__()
        self.config = c = config
        half = c.channels // 2
        if c.backbone == "stgcn":
            self.coords = STGCNStream(c.stgcn_width, c.stgcn_blocks)
            self.motion = STGCNStream(c.stgcn_width, c.stgcn_blocks) if c.velocity else None
            stream_out = self.coords.dim
        else:
            embed = 32
            self.coords = nn.Sequential(JointEmbedding(c.joints, embed), _stream(embed, half))
            self.motion = nn.Sequential(JointEmbedding(c.joints, embed), _stream(embed, half)) if c.velocity else None
            stream_out = half
        self.high = _stream(stream_out, c.channels)  # F_g
        self.register_buffer("grid", torch.tensor(GRID_INDEX), persistent=False)
        if c.attention != "none":
            h = c.hidden
            self.fo_feature = nn.Sequential(nn.Linear(c.channels, 128), nn.ReLU(inplace=True), nn.Linear(128, h))
            self.fo_location = nn.Sequential(nn.Linear(2, 128), nn.ReLU(inplace=True), nn.Linear(128, h))
            self.i2h, self.h2h = nn.Linear(h, h), nn.Linear(h, h)  # F_h
            self.fa = nn.Linear(h, 2)  # F_a: the policy's mean (through tanh)
        if c.head:  # which joint column a channel came from is kept: the map is averaged over time only
            self.head = nn.Sequential(nn.Linear(c.channels * c.joints, c.head), nn.ReLU(inplace=True),
                                      nn.Linear(c.head, c.head))
        self.whitening = None  # gait-encoder interface (`engine.embed.window_features`)

    @property
    def dim(self) -> int:
        return self.config.dim

    def feature_map(self, x: torch.Tensor) -> torch.Tensor:
        """g [B, C, f, J] of windows x [B, f, 20, 3] (columns in `GRID` order)."""
        if self.config.backbone == "conv":
            x = x[:, :, self.grid]  # the ST-GCN streams read joints in their own order and return grid columns
        g = self.coords(x)
        if self.motion is not None:
            g = g + self.motion(velocities(x))
        return self.high(g)

    def pool_size(self) -> tuple[int, int]:
        c = self.config
        return c.length - c.bin_frames + 1, c.joints - c.bin_joints + 1

    def quantise(self, loc: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Bin start indices (time, column) [B, 2] of locations [B, 2] in [-1, 1], and the
        locations of those bins' centres (what F_o is told)."""
        n = torch.tensor(self.pool_size(), device=loc.device)
        start = torch.round((loc.clamp(-1, 1) + 1) / 2 * (n - 1)).long()
        centre = torch.where(n > 1, start.float() / (n - 1).clamp(min=1) * 2 - 1, torch.zeros_like(loc))
        return start, centre

    def observe(self, pooled: torch.Tensor, start: torch.Tensor, centre: torch.Tensor) -> torch.Tensor:
        """F_o: the bin at ``start`` of the pooled map [B, C, nt, nj], fused with its location."""
        flat = (start[:, 0] * pooled.shape[3] + start[:, 1])[:, None, None].expand(-1, pooled.shape[1], 1)
        feat = pooled.flatten(2).gather(2, flat)[:, :, 0]  # a gather, not fancy indexing: exports to ONNX
        return torch.relu(self.fo_feature(feat) + self.fo_location(centre))

    def run(self, x: torch.Tensor, sample: bool = False, generator: torch.Generator | None = None,
            policy_into_network: bool = False) -> dict:
        """The forward pass of the agent on windows [B, f, 20, 3].

        ``sample``: draw each location from the Gaussian policy (training) instead of its mean.
        F_a reads h_t detached, so the policy gradient trains F_a alone, unless
        ``policy_into_network`` (then it also flows into F_h, F_o and the backbone).
        Returns ``feature`` [B, D], ``starts`` [B, T, 2] (each glimpse's bin), and for the
        policy's T - 1 decisions ``log_prob`` [B, T-1] (of the drawn locations) and ``hidden``
        [B, T-1, H] (the states they were taken in: the value baseline's input).
        """
        c = self.config
        g = self.feature_map(x)
        fg = g.mean((2, 3))
        out = {"global": fg}
        if c.attention == "none":
            feature = self.head(g.mean(2).flatten(1)) if c.head else fg
            return out | {"feature": feature, "starts": x.new_zeros(x.shape[0], 0, 2, dtype=torch.long)}
        pooled = nn.functional.avg_pool2d(g, (c.bin_frames, c.bin_joints), stride=1)
        std = c.variance ** 0.5
        loc = x.new_zeros(x.shape[0], 2)  # the first glimpse: the centre
        h = x.new_zeros(x.shape[0], c.hidden)
        states, starts, log_probs, decided = [], [], [], []
        for t in range(c.glimpses):
            start, centre = self.quantise(loc)
            h = torch.tanh(self.i2h(self.observe(pooled, start, centre)) + self.h2h(h))
            states.append(h)
            starts.append(start)
            if t == c.glimpses - 1:
                break
            if c.attention == "random":
                if sample:  # each window its own bins
                    loc = torch.rand(x.shape[0], 2, generator=generator, device=x.device) * 2 - 1
                else:  # test time: the same seeded bins for every window, whatever the batch
                    fixed = torch.Generator().manual_seed(t)
                    loc = (torch.rand(1, 2, generator=fixed) * 2 - 1).to(x.device).expand(x.shape[0], 2)
                continue
            mean = torch.tanh(self.fa(h if policy_into_network else h.detach()))
            if sample:
                noise = torch.randn(mean.shape, generator=generator, device=x.device)
                loc = (mean + std * noise).detach()
            else:
                loc = mean.detach()
            log_probs.append(torch.distributions.Normal(mean, std, validate_args=False).log_prob(loc).sum(-1))
            decided.append(h)
        out |= {"feature": torch.cat([fg] + states, 1), "starts": torch.stack(starts, 1)}
        if log_probs:
            out |= {"log_prob": torch.stack(log_probs, 1), "hidden": torch.stack(decided, 1)}
        return out

    def glimpse_map(self, starts: torch.Tensor) -> torch.Tensor:
        """Which cells the glimpses covered: [B, f, 20] in `INPUT_JOINTS` order, each cell the
        fraction of the T glimpses whose bin holds it."""
        c = self.config
        t = starts.shape[1]
        frame = torch.arange(c.length, device=starts.device)[None, None, :]  # [1, 1, f]
        column = torch.arange(c.joints, device=starts.device)[None, None, :]  # [1, 1, 20]
        s0, s1 = starts[:, :, :1], starts[:, :, 1:]  # [B, T, 1]
        in_time = ((frame >= s0) & (frame < s0 + c.bin_frames)).float()  # [B, T, f]
        in_grid = ((column >= s1) & (column < s1 + c.bin_joints)).float()  # [B, T, 20]
        cover = torch.einsum("btf,btj->bfj", in_time, in_grid) / max(t, 1)
        return cover[:, :, torch.argsort(self.grid)]  # grid columns back to joints

    @torch.no_grad()
    def encode(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Features of windows x [B, f, 20, 3], in the gait-encoder interface: ``sequence`` [B, D]
        (the matching feature), ``frames`` [B, 1, D] (one unit per window), ``attention`` [1, B, f, 20]
        (`glimpse_map`; all zeros without the agent) and, with the agent, ``glimpses`` [B, T, 2] (each
        bin's first frame and first `GRID` column)."""
        out = self.run(x)
        feat = out["feature"]
        enc = {"sequence": feat, "frames": feat[:, None], "attention": self.glimpse_map(out["starts"])[None]}
        return enc if self.config.attention == "none" else enc | {"glimpses": out["starts"]}  # none: no agent

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The matching feature [B, D] (for export and `engine.embed.encode_batches`)."""
        return self.run(x)["feature"]


def glimpse_joints(config: A3DConfig, start: tuple[int, int]) -> tuple[range, list[str]]:
    """The frames and joint names of the bin that starts at ``start`` (frame, `GRID` column)."""
    t, j = int(start[0]), int(start[1])
    return range(t, t + config.bin_frames), list(GRID[j:j + config.bin_joints])
