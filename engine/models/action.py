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


def bone_parents(joints: tuple[str, ...] = SKELETON_JOINTS) -> np.ndarray:
    """For each joint of ``joints``, the index of its nearest ancestor among them (itself at the root)."""
    pos = {INDEX[name]: i for i, name in enumerate(joints)}
    out = np.arange(len(joints))
    for i, name in enumerate(joints):
        p = int(PARENT[INDEX[name]])
        while p not in pos and PARENT[p] != p:
            p = int(PARENT[p])
        out[i] = pos.get(p, i)
    return out


def bone_graph(joints: tuple[str, ...] = SKELETON_JOINTS) -> np.ndarray:
    """The bone graph's adjacency with self-loops (A + I) ``[J, J]``."""
    a = np.eye(len(joints), dtype=np.float32)
    for i, p in enumerate(bone_parents(joints)):
        a[i, p] = a[p, i] = 1.0
    return a


def graph_adjacency(joints: tuple[str, ...] = SKELETON_JOINTS) -> np.ndarray:
    """Symmetrically normalised adjacency D^-1/2 (A + I) D^-1/2 [J, J] of the bone graph of
    ``joints``: each joint is linked to its nearest ancestor among them in the canonical tree."""
    a = bone_graph(joints)
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
    feature keeps when in the clip things happen (dimension ``segments`` x 2 ``hidden``). A list
    of span counts is a pyramid: each level's span means, joined in order (``[1, 4]``: the
    whole-clip mean, then the 4 span means; dimension 5 x 2 ``hidden``)."""

    def __init__(self, joints: int = len(SKELETON_JOINTS), hidden: int = 1024, layers: int = 3, motion: bool = False,
                 segments: int | list[int] = 1, dropout: float = 0.0):
        super().__init__()
        levels = [segments] if isinstance(segments, int) else list(segments)
        if not levels or any(not isinstance(k, int) or k < 1 for k in levels):
            raise ValueError(f"segments must be a span count of at least 1 or a list of them, got {segments!r}")
        self.motion, self.segments, self.levels = motion, segments, levels
        self.gru = nn.GRU(joints * (6 if motion else 3), hidden, num_layers=layers, batch_first=True, bidirectional=True,
                          dropout=dropout if layers > 1 else 0.0)
        self.dim = 2 * hidden * sum(levels)

    def states(self, x: torch.Tensor) -> torch.Tensor:
        """The top layer's outputs at every frame ``[N, T, 2 hidden]`` (CRRL's h)."""
        return self.gru((with_motion(x) if self.motion else x).flatten(2))[0]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.states(x)
        if self.levels == [1]:
            return out.mean(1)
        return torch.cat([span.mean(1) for k in self.levels for span in out.tensor_split(k, dim=1)], 1)


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


def partition_adjacency(joints: tuple[str, ...] = SKELETON_JOINTS, centre: str = "SpineMid") -> np.ndarray:
    """ST-GCN's spatial-configuration partitioning ``[3, J, J]`` of the bone graph of ``joints``
    (each joint linked to its nearest ancestor among them): the root subset (the joint itself),
    the centripetal subset (neighbours nearer the body's ``centre`` in hops) and the centrifugal
    one (farther); each subset normalised by the in-degree of the whole graph (A D^-1)."""
    n = len(joints)
    a = bone_graph(joints)
    hops = np.full(n, np.inf)  # breadth-first hop distance to the centre joint
    hops[joints.index(centre)], frontier = 0, [joints.index(centre)]
    while frontier:
        nxt = []
        for i in frontier:
            for j in np.flatnonzero(a[i]):
                if hops[j] == np.inf:
                    hops[j] = hops[i] + 1
                    nxt.append(j)
        frontier = nxt
    norm = a / a.sum(0, keepdims=True)  # column-normalised (normalize_digraph: A D^-1)
    parts = np.zeros((3, n, n), np.float32)
    for i in range(n):
        for j in np.flatnonzero(a[:, i]):  # j is a neighbour of i (or i itself)
            k = 0 if hops[j] == hops[i] else (1 if hops[j] < hops[i] else 2)
            parts[k, j, i] = norm[j, i]
    return parts


class _STGCNBlock(nn.Module):
    """One ST-GCN unit: a partitioned spatial graph convolution (edge importance learned), then
    BN-ReLU-temporal convolution (kernel 9)-BN, a residual, ReLU."""

    def __init__(self, cin: int, cout: int, parts: int, joints: int, stride: int = 1, residual: bool = True):
        super().__init__()
        self.gcn = nn.Conv2d(cin, cout * parts, 1)
        self.importance = nn.Parameter(torch.ones(parts, joints, joints))
        self.tcn = nn.Sequential(nn.BatchNorm2d(cout), nn.ReLU(), nn.Conv2d(cout, cout, (9, 1), (stride, 1), (4, 0)),
                                 nn.BatchNorm2d(cout))
        self.residual = (None if not residual else nn.Identity() if cin == cout and stride == 1 else
                         nn.Sequential(nn.Conv2d(cin, cout, 1, (stride, 1)), nn.BatchNorm2d(cout)))
        self.parts, self.cout = parts, cout

    def forward(self, x: torch.Tensor, adjacency: torch.Tensor) -> torch.Tensor:  # x [N, C, T, J]
        n, _, t, j = x.shape
        y = self.gcn(x).view(n, self.parts, self.cout, t, j)
        y = torch.einsum("nkctv,kvw->nctw", y, adjacency * self.importance)
        y = self.tcn(y)
        return F.relu(y if self.residual is None else y + self.residual(x))


STGCN_CHANNELS = (64, 64, 64, 64, 128, 128, 128, 256, 256, 256)  # Yan et al.'s ten units; strides 2 at 128, 256


class STGCNEncoder(nn.Module):
    """ST-GCN (Yan et al.), skeleton BYOL's encoder (seed 004): ten spatial-temporal graph units
    over the spatial-configuration partitions of the bone graph, channels times ``width``, global
    average pooling. Input per joint: its coordinates, its bone (joint minus its parent) and a
    visibility flag (7 channels, after a BatchNorm over joints x channels). ``forward(x, mask)``:
    joints with ``mask`` False (dropped by an augmentation) give zeros and flag 0, and so do the
    bones that touch them; without a mask every joint is visible."""

    def __init__(self, joints: tuple[str, ...] = SKELETON_JOINTS, width: float = 1.0):
        super().__init__()
        self.register_buffer("adjacency", torch.from_numpy(partition_adjacency(joints)))
        self.register_buffer("parent", torch.from_numpy(bone_parents(joints)))
        j, cin = len(joints), 7
        self.norm = nn.BatchNorm1d(j * cin)
        chans = [max(8, int(round(c * width))) for c in STGCN_CHANNELS]
        blocks = []
        for i, c in enumerate(chans):
            blocks.append(_STGCNBlock(cin, c, 3, j, stride=2 if i in (4, 7) else 1, residual=i > 0))
            cin = c
        self.blocks = nn.ModuleList(blocks)
        self.width, self.dim, self.channels = width, chans[-1], tuple(chans)

    def inputs(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """``x [N, T, J, 3]`` (and ``mask [N, T, J]``) -> ``[N, T, J, 7]``: joint, bone, visible."""
        vis = torch.ones_like(x[..., :1]) if mask is None else mask.unsqueeze(-1).to(x.dtype)
        x = x * vis
        bone_vis = vis * vis[:, :, self.parent]
        bones = (x - x[:, :, self.parent]) * bone_vis
        return torch.cat([x, bones, vis], -1)

    def feature_map(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """The units' output before pooling: [N, C, T', J]."""
        x = self.inputs(x, mask)
        n, t, j, c = x.shape
        x = self.norm(x.flatten(2).transpose(1, 2)).view(n, j, c, t).permute(0, 2, 3, 1)  # [N, C, T, J]
        for block in self.blocks:
            x = block(x, self.adjacency)
        return x

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        return self.feature_map(x, mask).mean((2, 3))


ENCODERS = {"seq": SequenceEncoder, "graph": GraphEncoder, "image": ImageEncoder, "stgcn": STGCNEncoder}


def make_encoder(kind: str, **kwargs) -> nn.Module:
    if kind not in ENCODERS:
        raise ValueError(f"encoder kind must be one of {sorted(ENCODERS)}, got {kind!r}")
    return ENCODERS[kind](**kwargs)


class RawFused(nn.Module):
    """An encoder's feature beside the clip's raw trajectory: ``[sqrt(w) unit(f(x)), sqrt(1 - w)
    unit(flat(x))]``, where ``flat(x)`` is the input exactly as the raw-coordinate baseline takes it
    (resampled, centred, viewed, flattened). The result has norm 1 and the cosine of two is
    ``w cos(learned) + (1 - w) cos(raw)``. ``architecture.raw = {"weight": w, "size": T*J*3}`` in a
    checkpoint (issue 14's rule, ninth addendum); the weights are the inner encoder's (`inner`)."""

    def __init__(self, inner: nn.Module, weight: float, size: int):
        super().__init__()
        if not 0.0 < weight <= 1.0:
            raise ValueError(f"architecture.raw.weight must be in (0, 1], got {weight!r}")
        self.inner, self.weight, self.size = inner, float(weight), int(size)
        self.dim = inner.dim + self.size

    def forward(self, x: torch.Tensor, *args) -> torch.Tensor:
        flat = x.flatten(1)
        if flat.shape[1] != self.size:
            raise ValueError(f"RawFused: a clip of {flat.shape[1]} values (frames x joints x 3), the checkpoint "
                             f"says architecture.raw.size {self.size}")
        learned = F.normalize(self.inner(x, *args), dim=1) * self.weight ** 0.5
        return torch.cat([learned, F.normalize(flat, dim=1) * (1.0 - self.weight) ** 0.5], 1)


def encoder_from(architecture: dict) -> nn.Module:
    """A freshly initialised encoder from a checkpoint's ``architecture`` ({kind, arguments};
    JSON lists become tuples; ``raw`` wraps it in `RawFused`)."""
    arch = dict(architecture)
    kind = arch.pop("kind")
    raw = arch.pop("raw", None)
    if raw is not None and not (isinstance(raw, dict) and isinstance(raw.get("weight"), (int, float))
                                and isinstance(raw.get("size"), int) and raw["size"] > 0):
        raise ValueError(f"architecture.raw must be {{\"weight\": w in (0, 1], \"size\": frames x joints x 3}}, got {raw!r}")
    model = make_encoder(kind, **{k: tuple(v) if isinstance(v, list) else v for k, v in arch.items()})
    return RawFused(model, raw["weight"], raw["size"]) if raw else model


def weights_module(model: nn.Module) -> nn.Module:
    """The module whose state dict a checkpoint's weights file holds (the inner encoder of a `RawFused`)."""
    return model.inner if isinstance(model, RawFused) else model
