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

import functools

import torch
import torch.nn.functional as F


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


# Skeleton BYOL's augmentations (seed 004, Sec. 3.2-3.3 and 4.2). Each returns the same shape.

def resample_rate(x: torch.Tensor, gen: torch.Generator, low: float = 0.7, high: float = 1.3) -> torch.Tensor:
    """Speed up or slow down each sequence by a rate uniform in [low, high]: it is resampled to
    round(T * rate) frames (linear interpolation), then a random T-frame window of it is kept,
    or, when shorter than T, it is repeated to T frames (as the paper pads short clips)."""
    n, t = x.shape[:2]
    rate = _uniform(n, low, high, gen, x)
    length = (rate * t).round().clamp(2, None)  # [n]
    start = (torch.rand(n, generator=gen, device=x.device) * (length - t + 1).clamp(min=1)).floor()
    k = torch.arange(t, device=x.device, dtype=x.dtype)[None]  # output frame
    frame = torch.where(length[:, None] >= t, start[:, None] + k, torch.remainder(k, length[:, None]))
    pos = frame * (t - 1) / (length[:, None] - 1)  # position in the input
    lo = pos.floor().long().clamp(0, t - 1)
    hi = (lo + 1).clamp(max=t - 1)
    w = (pos - lo).to(x.dtype)[..., None, None]
    rows = torch.arange(n, device=x.device)[:, None]
    return (1 - w) * x[rows, lo] + w * x[rows, hi]


@functools.lru_cache(maxsize=8)
def _savgol_kernel(window: int, order: int):
    from scipy.signal import savgol_coeffs
    return savgol_coeffs(window, order, use="conv").copy()


def savgol_filter(x: torch.Tensor, gen: torch.Generator, p: float = 0.5, window: int = 15, order: int = 2) -> torch.Tensor:
    """Low-pass each sequence with probability ``p``: a Savitzky-Golay filter (``order``,
    ``window`` frames; coefficients from scipy.signal.savgol_coeffs) along time, the ends padded
    by repeating the first and last frames."""
    n, t, j, c = x.shape
    window = min(window, t if t % 2 else t - 1)
    if window <= order:
        return x
    kernel = torch.as_tensor(_savgol_kernel(window, order), dtype=x.dtype, device=x.device)
    seq = x.permute(0, 2, 3, 1).reshape(n * j * c, 1, t)
    seq = F.pad(seq, (window // 2, window // 2), mode="replicate")
    smooth = F.conv1d(seq, kernel.flip(0).view(1, 1, -1)).view(n, j, c, t).permute(0, 3, 1, 2)
    pick = torch.rand(n, generator=gen, device=x.device) < p
    return torch.where(pick[:, None, None, None], smooth, x)


def temporal_shift(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Shift each sequence cyclically along time by a random offset in [0, T)."""
    n, t = x.shape[:2]
    offset = (torch.rand(n, generator=gen, device=x.device) * t).floor().long()
    idx = torch.remainder(torch.arange(t, device=x.device)[None] + offset[:, None], t)
    return x[torch.arange(n, device=x.device)[:, None], idx]


def side_joints(joints: tuple[str, ...]) -> tuple[torch.Tensor, torch.Tensor]:
    """Boolean [J] masks of the left and the right limbs' joints (names with Left / Right)."""
    return (torch.tensor(["Left" in n for n in joints]), torch.tensor(["Right" in n for n in joints]))


def side_drop(x: torch.Tensor, gen: torch.Generator, joints: tuple[str, ...], p: float = 0.5,
              mask: torch.Tensor | None = None) -> torch.Tensor:
    """Left/right drop: with probability ``p`` a sequence loses its left or its right limbs (each
    side equally likely) for its whole length. Returns the visibility mask ``[N, T, J]`` (the
    coordinates are left alone: a masked joint is never read as a position)."""
    n, t, j = x.shape[:3]
    left, right = (m.to(x.device) for m in side_joints(joints))
    drop = torch.rand(n, generator=gen, device=x.device) < p
    use_left = torch.rand(n, generator=gen, device=x.device) < 0.5
    lost = drop[:, None] & torch.where(use_left[:, None], left[None], right[None])  # [N, J]
    keep = (~lost)[:, None, :].expand(n, t, j)
    return keep if mask is None else keep & mask


AGGRESSIVE = ("resample", "filter", "shear", "shift", "drop")


def byol_view(x: torch.Tensor, gen: torch.Generator, joints: tuple[str, ...], pipeline: str = "aggressive",
              without: tuple[str, ...] = (), shear: float = 1.0, rate: tuple[float, float] = (0.7, 1.3),
              filter_p: float = 0.5, drop_p: float = 0.5) -> tuple[torch.Tensor, torch.Tensor]:
    """One augmented view and its visibility mask ``[N, T, J]``. ``conservative``: random
    resampling only. ``aggressive``: resampling, Savitzky-Golay filtering (p 0.5), shear,
    cyclic temporal shift, left/right drop (p 0.5); ``without`` leaves some out (ablations)."""
    if pipeline not in ("aggressive", "conservative"):
        raise ValueError(f"pipeline must be aggressive or conservative, got {pipeline!r}")
    steps = ("resample",) if pipeline == "conservative" else tuple(s for s in AGGRESSIVE if s not in without)
    if "resample" in steps:
        x = resample_rate(x, gen, *rate)
    if "filter" in steps:
        x = savgol_filter(x, gen, filter_p)
    if "shear" in steps:
        x = pose_shear(x, gen, shear)
    if "shift" in steps:
        x = temporal_shift(x, gen)
    mask = torch.ones(x.shape[:3], dtype=torch.bool, device=x.device)
    if "drop" in steps:
        mask = side_drop(x, gen, joints, drop_p, mask)
    return x, mask
