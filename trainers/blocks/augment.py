"""Skeleton augmentations as batched tensor ops on the training device (ISC, seed 002, Sec. 3.1).

Every function takes sequences ``x [N, T, J, 3]`` (any device, float) and a ``torch.Generator`` on
the same device, draws one random transform per sequence, and never loops over the batch in
Python.

- `pose_shear` (Eq. 1): x' = x S with S = [[1, s_xy, s_xz], [s_yx, 1, s_yz], [s_zx, s_zy, 1]],
  the off-diagonal elements uniform in [-r, r] (r = 1 in the paper). The same shear for every
  joint and frame of a sequence: a change of viewpoint and distance.
- `joint_jitter` (Eq. 2): |j| joints chosen at random per sequence are multiplied by a random
  3x3 matrix (elements uniform in [-1, 1]), the same at every frame; the other joints stay put.
- `temporal_crop_resize` (Eq. 3): a crop of length ratio in [l_min, 1] at a random start,
  linearly resampled to ``length`` frames; its first and last output frames are the crop's.
- `spatio_temporal` (Eq. 4): crop-resize, then pose shear or joint jitter (fixed or chosen at
  random per sequence).
"""

from __future__ import annotations

import torch


def _uniform(shape, low: float, high: float, gen: torch.Generator, like: torch.Tensor) -> torch.Tensor:
    return torch.rand(shape, generator=gen, device=like.device, dtype=like.dtype) * (high - low) + low


def shear_matrices(n: int, gen: torch.Generator, like: torch.Tensor, amount: float = 1.0) -> torch.Tensor:
    """[n, 3, 3] shear matrices: ones on the diagonal, off-diagonals uniform in [-amount, amount]."""
    s = _uniform((n, 3, 3), -amount, amount, gen, like)
    eye = torch.eye(3, device=like.device, dtype=like.dtype)
    return s * (1 - eye) + eye


def pose_shear(x: torch.Tensor, gen: torch.Generator, amount: float = 1.0) -> torch.Tensor:
    """Eq. 1: one random shear per sequence, applied to every joint at every frame."""
    return torch.einsum("ntjc,ncd->ntjd", x, shear_matrices(len(x), gen, x, amount))


def joint_jitter(x: torch.Tensor, gen: torch.Generator, joints: int = 15,
                 return_mask: bool = False) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """Eq. 2: ``joints`` joints per sequence moved by a random 3x3 matrix (the same at every
    frame); with ``return_mask`` also the [N, J] mask of the moved joints."""
    n, _, j, _ = x.shape
    if not 0 < joints < j:
        raise ValueError(f"joint_jitter: joints must be in 1..{j - 1}, got {joints}")
    order = torch.rand((n, j), generator=gen, device=x.device).argsort(1)
    mask = torch.zeros((n, j), dtype=torch.bool, device=x.device).scatter_(1, order[:, :joints], True)
    jitter = _uniform((n, 3, 3), -1.0, 1.0, gen, x)
    moved = torch.einsum("ntjc,ncd->ntjd", x, jitter)
    out = torch.where(mask[:, None, :, None], moved, x)
    return (out, mask) if return_mask else out


def crop_windows(n: int, frames: int, gen: torch.Generator, device, l_min: float = 0.1) -> tuple[torch.Tensor, torch.Tensor]:
    """(start [n], length [n]) in frames of random crops with length ratio in [l_min, 1]."""
    ratio = torch.rand(n, generator=gen, device=device) * (1 - l_min) + l_min
    length = (ratio * frames).round().clamp(2, frames)
    start = torch.minimum((torch.rand(n, generator=gen, device=device) * (frames - length + 1)).floor(),
                          frames - length)
    return start, length


def temporal_crop_resize(x: torch.Tensor, gen: torch.Generator, length: int = 64, l_min: float = 0.1,
                         return_crop: bool = False):
    """Eq. 3: a random crop per sequence resampled (linear interpolation) to ``length`` frames.
    With ``return_crop`` also (start, crop length) in input frames."""
    n, t = x.shape[:2]
    start, crop = crop_windows(n, t, gen, x.device, l_min)
    pos = start[:, None] + torch.linspace(0, 1, length, device=x.device)[None] * (crop[:, None] - 1)  # [n, L]
    lo = pos.floor().long().clamp(0, t - 1)
    hi = (lo + 1).clamp(max=t - 1)
    w = (pos - lo).to(x.dtype)[..., None, None]
    rows = torch.arange(n, device=x.device)[:, None]
    out = (1 - w) * x[rows, lo] + w * x[rows, hi]
    return (out, (start.long(), crop.long())) if return_crop else out


SPATIAL = ("shear", "jitter", "random")


def spatio_temporal(x: torch.Tensor, gen: torch.Generator, length: int = 64, spatial: str = "random",
                    l_min: float = 0.1, jitter_joints: int = 15, shear: float = 1.0,
                    temporal: bool = True) -> torch.Tensor:
    """Eq. 4: temporal crop-resize (unless ``temporal`` is False), then the spatial augmentation
    ``spatial``: shear, jitter, random (either, per sequence) or none."""
    if temporal:
        x = temporal_crop_resize(x, gen, length, l_min)
    if spatial == "none":
        return x
    if spatial == "shear":
        return pose_shear(x, gen, shear)
    if spatial == "jitter":
        return joint_jitter(x, gen, jitter_joints)
    if spatial != "random":
        raise ValueError(f"spatial augmentation must be one of {SPATIAL} or none, got {spatial!r}")
    pick = torch.rand(len(x), generator=gen, device=x.device) < 0.5
    return torch.where(pick[:, None, None, None], pose_shear(x, gen, shear), joint_jitter(x, gen, jitter_joints))
