"""Action encoders for the three skeleton representations of ISC (seed 002, Sec. 4) and the
methods after it. Each maps sequences ``x [N, T, J, 3]`` (canonical joints, metres) to a feature
vector; ``dim`` says how long.

- `SequenceEncoder` (X^SEQ): a 3-layer bidirectional GRU over the flattened skeleton of each
  frame (optionally with each joint's motion since the previous frame); the feature is the
  time-average of the top layer's outputs (2H values).
- `GraphEncoder` (X^STG): an adaptive graph-convolution network in the A-GCN way: each block is a
  spatial graph convolution over the skeleton (normalised bone adjacency, plus a learned
  adjacency added to it) and a temporal convolution, with residual connections; global average
  pooling over time and joints.
- `ImageEncoder` (X^IMG): an HCN-style CNN over the T x J pseudo-image: point-level convolutions
  per joint, then the joints become channels (global co-occurrence), for the positions and for
  their frame-to-frame motion; the two streams are joined and pooled.

`SKELETON_JOINTS` are the 20 joints Kinect v1, MSR Action3D and NW-UCLA share (canonical names);
`graph_adjacency` builds their bone graph from the canonical kinematic tree. `action_view` is the
input every action encoder sees, in training and live alike.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from engine.missing import fill_missing
from engine.skeleton import INDEX, KINECT_V1, PARENT, center, face_forward, upright

SKELETON_JOINTS: tuple[str, ...] = KINECT_V1.joints
PICK = np.array([INDEX[n] for n in SKELETON_JOINTS])


def action_view(joints: np.ndarray, confidence: np.ndarray | None = None) -> np.ndarray:
    """Canonical ``joints [T, 25, 3]`` to the action encoders' input ``[T, 20, 3]``: centred on
    the first frame's SpineBase (the trajectory is kept), the mean torso axis turned upright and
    the mean facing direction turned to -z (one rotation per sequence, so turns within it stay),
    then the 20 shared joints. Removing the camera's viewpoint this way is what makes cross-view
    protocols (NW-UCLA view 3) work: on flattened coordinates alone it lifts 1-NN accuracy from
    61 % to 77 % (docs/RESULTS.md). Missing joints (``confidence`` 0) are filled from given ones
    first (`engine.missing.fill_missing`); their stored coordinates are never read."""
    if confidence is not None:
        joints, _ = fill_missing(joints, confidence)
    x = face_forward(upright(center(joints, per_frame=False)))  # every joint has coordinates now
    return np.ascontiguousarray(x[:, PICK], dtype=np.float32)


def graph_adjacency(joints: tuple[str, ...] = SKELETON_JOINTS) -> np.ndarray:
    """Symmetrically normalised adjacency D^-1/2 (A + I) D^-1/2 [J, J] of the bone graph of
    ``joints``: each joint is linked to its nearest ancestor among them in the canonical tree."""
    pos = {INDEX[n]: i for i, n in enumerate(joints)}
    a = np.eye(len(joints), dtype=np.float32)
    for name in joints:
        c = INDEX[name]
        p = int(PARENT[c])
        while p not in pos and PARENT[p] != p:
            p = int(PARENT[p])
        if p in pos and p != c:
            a[pos[c], pos[p]] = a[pos[p], pos[c]] = 1.0
    d = 1.0 / np.sqrt(a.sum(1))
    return (a * d[:, None] * d[None, :]).astype(np.float32)


def resample_frames(x: np.ndarray, frames: int) -> np.ndarray:
    """``[T, ...] -> [frames, ...]``, linear interpolation over the whole length."""
    pos = np.linspace(0, len(x) - 1, frames)
    lo = np.floor(pos).astype(int)
    hi = np.minimum(lo + 1, len(x) - 1)
    w = (pos - lo).reshape(-1, *([1] * (x.ndim - 1)))
    return ((1 - w) * x[lo] + w * x[hi]).astype(np.float32)


def action_input(joints: np.ndarray, confidence: np.ndarray, frames: int) -> np.ndarray:
    """A clip of canonical ``joints [T, 25, 3]`` as the encoders take it: resampled over its
    whole length to ``frames`` frames, then `action_view` (the engine's live windows come
    resampled already, and take the view the same way)."""
    joints, _ = fill_missing(joints, confidence)  # before resampling blends frames
    return action_view(resample_frames(joints, frames))


MOTION_SCALE = 10.0  # frame-to-frame motion (~0.03 m at 32 frames a clip) to the positions' scale


def with_motion(x: torch.Tensor) -> torch.Tensor:
    """``x [N, T, J, 3]`` -> ``[N, T, J, 6]``: each joint's position and its motion since the
    previous frame (zero at the first), times `MOTION_SCALE`."""
    motion = torch.cat([torch.zeros_like(x[:, :1]), x[:, 1:] - x[:, :-1]], 1) * MOTION_SCALE
    return torch.cat([x, motion], -1)


class SequenceEncoder(nn.Module):
    """With ``motion`` each frame's input holds the joints' frame-to-frame motion beside their
    positions (`with_motion`), computed inside the encoder from the same ``[N, T, J, 3]`` input,
    so augmentations and the live engine stay as they are. Trained with labels on NW-UCLA's
    validation split, the same BiGRU goes from 70.6 to 75.6 % with it, and self-supervised ISC
    from 74.1 to 84.1 % linear on the test view (docs/RESULTS.md). The outputs are averaged over
    time (``segments`` 1), or over each of ``segments`` equal spans of the clip and joined, so the
    feature keeps when in the clip things happen (dimension ``segments`` x 2 ``hidden``)."""

    def __init__(self, joints: int = len(SKELETON_JOINTS), hidden: int = 1024, layers: int = 3, motion: bool = False,
                 segments: int = 1):
        super().__init__()
        if segments < 1:
            raise ValueError(f"segments must be at least 1, got {segments}")
        self.motion, self.segments = motion, segments
        self.gru = nn.GRU(joints * (6 if motion else 3), hidden, num_layers=layers, batch_first=True, bidirectional=True)
        self.dim = 2 * hidden * segments

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.gru((with_motion(x) if self.motion else x).flatten(2))
        if self.segments == 1:
            return out.mean(1)
        return torch.cat([span.mean(1) for span in out.tensor_split(self.segments, dim=1)], 1)


class _GraphBlock(nn.Module):
    def __init__(self, cin: int, cout: int, joints: int, stride: int = 1, kernel: int = 9):
        super().__init__()
        self.spatial = nn.Conv2d(cin, cout, 1)
        self.adaptive = nn.Parameter(torch.zeros(joints, joints))  # B of A-GCN, learned, starts at 0
        self.temporal = nn.Sequential(nn.BatchNorm2d(cout), nn.ReLU(),
                                      nn.Conv2d(cout, cout, (kernel, 1), (stride, 1), (kernel // 2, 0)),
                                      nn.BatchNorm2d(cout))
        self.residual = (nn.Identity() if cin == cout and stride == 1 else
                         nn.Sequential(nn.Conv2d(cin, cout, 1, (stride, 1)), nn.BatchNorm2d(cout)))

    def forward(self, x: torch.Tensor, adjacency: torch.Tensor) -> torch.Tensor:  # x [N, C, T, J]
        y = torch.einsum("nctj,jk->nctk", self.spatial(x), adjacency + self.adaptive)
        return F.relu(self.temporal(y) + self.residual(x))


class GraphEncoder(nn.Module):
    def __init__(self, joints: tuple[str, ...] = SKELETON_JOINTS, channels: tuple[int, ...] = (64, 64, 128, 128, 256, 256)):
        super().__init__()
        self.register_buffer("adjacency", torch.from_numpy(graph_adjacency(joints)))
        self.norm = nn.BatchNorm1d(len(joints) * 3)
        blocks, cin = [], 3
        for i, c in enumerate(channels):
            blocks.append(_GraphBlock(cin, c, len(joints), stride=2 if i > 0 and c != channels[i - 1] else 1))
            cin = c
        self.blocks = nn.ModuleList(blocks)
        self.dim = channels[-1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, t, j, _ = x.shape
        x = self.norm(x.flatten(2).transpose(1, 2)).view(n, j, 3, t).permute(0, 2, 3, 1)  # [N, 3, T, J]
        for block in self.blocks:
            x = block(x, self.adjacency)
        return x.mean((2, 3))


class ImageEncoder(nn.Module):
    def __init__(self, joints: int = len(SKELETON_JOINTS), width: int = 64, dim: int = 512):
        super().__init__()

        def stream() -> nn.ModuleDict:
            return nn.ModuleDict({
                "point": nn.Sequential(nn.Conv2d(3, width, 1), nn.ReLU(), nn.Conv2d(width, width // 2, (3, 1), padding=(1, 0))),
                "cooc": nn.Sequential(nn.Conv2d(joints, width // 2, 3, padding=1), nn.MaxPool2d(2), nn.ReLU(),
                                      nn.Conv2d(width // 2, width, 3, padding=1), nn.MaxPool2d(2), nn.Dropout(0.1)),
            })
        self.position, self.motion = stream(), stream()
        self.head = nn.Sequential(nn.Conv2d(2 * width, 2 * width, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                                  nn.Conv2d(2 * width, 4 * width, 3, padding=1), nn.ReLU(),
                                  nn.AdaptiveMaxPool2d(1), nn.Flatten(), nn.Linear(4 * width, dim))
        self.dim = dim

    @staticmethod
    def _run(s: nn.ModuleDict, x: torch.Tensor) -> torch.Tensor:  # x [N, 3, T, J]
        y = s["point"](x)  # [N, C, T, J]
        return s["cooc"](y.permute(0, 3, 2, 1))  # joints as channels: [N, J, T, C] -> [N, C', T/4, C/4]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        img = x.permute(0, 3, 1, 2)  # [N, 3, T, J]
        motion = torch.cat([img[:, :, 1:] - img[:, :, :-1], torch.zeros_like(img[:, :, :1])], 2)
        return self.head(torch.cat([self._run(self.position, img), self._run(self.motion, motion)], 1))


ENCODERS = {"seq": SequenceEncoder, "graph": GraphEncoder, "image": ImageEncoder}


def make_encoder(kind: str, **kwargs) -> nn.Module:
    if kind not in ENCODERS:
        raise ValueError(f"encoder kind must be one of {sorted(ENCODERS)}, got {kind!r}")
    return ENCODERS[kind](**kwargs)


def encoder_from(architecture: dict) -> nn.Module:
    """A freshly initialised encoder from a checkpoint's ``architecture`` ({kind, arguments};
    JSON lists become tuples)."""
    arch = dict(architecture)
    kind = arch.pop("kind")
    return make_encoder(kind, **{k: tuple(v) if isinstance(v, list) else v for k, v in arch.items()})
