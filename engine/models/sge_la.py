"""SGE-LA / CAGE gait encoder (Rao et al., seed 000): one encoder-decoder per coordinate axis.

Per axis d in (X, Y, Z) the input is the [f, J] series of that coordinate. The Gait Encoder is
a 2-layer LSTM (Eq. 1); the Gait Decoder a 2-layer LSTM whose input at step t is the previous
auxiliary skeleton x_{t-1} and the previous attentional state (input feeding, Eq. 2),
followed by Luong attention over the encoder states (BAS, Eq. 4; MBAS, Eq. 6), the
attentional state tanh(W_att [c_t; h_t]) (Eq. 9) and an FC layer to the J coordinates
(Eq. 10). The three axes have separate weights but run as one batched computation
(grouped matrix products), not a Python loop over axes.

Encodings (AGEs, CAGEs once trained with LCL) are the context vectors c_t of the three axes:
skeleton-level v_t = [c^X_t; c^Y_t; c^Z_t] (Eq. 11), sequence-level V = [v_1; ...; v_f] (Eq. 12).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import nn

from engine.missing import SHARED_JOINTS, fill_missing, reduce_joints
from engine.skeleton import (CANONICAL, FLIP, INDEX, KINECT_V1, center, common_spine, face_forward, to_canonical,
                             upright as make_upright, upright_rotation)

ATTENTIONS = ("none", "bas", "mbas", "las")
# The model reads the 20 joints that Kinect v1, KGBD and MSR share, in canonical names.
INPUT_JOINTS: tuple[str, ...] = KINECT_V1.joints


@dataclass(frozen=True)
class SGEConfig:
    """Architecture; defaults are those of the authors' code (2 x 256 LSTMs, f = 6)."""

    length: int = 6
    joints: int = len(INPUT_JOINTS)
    hidden: int = 256
    layers: int = 2
    attention: str = "las"
    axes: int = 3
    reverse: bool = True  # the locality mask follows reverse reconstruction (p_t = f - t + 1)

    def __post_init__(self):
        if self.attention not in ATTENTIONS:
            raise ValueError(f"attention must be one of {ATTENTIONS}, got {self.attention!r}")

    def to_dict(self) -> dict:
        return asdict(self)


def locality_mask(length: int, reverse: bool = True, window: int | None = None) -> torch.Tensor:
    """The Gaussian locality mask l_t(j) of Eq. 5 as an [f, f] tensor (rows t, columns j).

    Centred at p_t = f - t + 1 (1-based) for reverse reconstruction, else p_t = t; sigma = D / 2
    with D = ``window`` (default f, as the authors' code); 1 outside the window [p_t - D, p_t + D].
    """
    d = length if window is None else window
    t = torch.arange(length, dtype=torch.float32)
    p = (length - 1 - t) if reverse else t
    dist = torch.arange(length, dtype=torch.float32)[None, :] - p[:, None]
    mask = torch.exp(-dist ** 2 / (2 * (d / 2) ** 2))
    return torch.where(dist.abs() <= d, mask, torch.ones_like(mask))


class GroupedLinear(nn.Module):
    """G independent linear maps applied at once: [G, N, in] -> [G, N, out]."""

    def __init__(self, groups: int, inp: int, out: int, bias: bool = True, init: float | None = None):
        super().__init__()
        bound = init if init is not None else 1.0 / math.sqrt(inp)
        self.weight = nn.Parameter(torch.empty(groups, inp, out).uniform_(-bound, bound))
        self.bias = nn.Parameter(torch.zeros(groups, 1, out)) if bias else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.baddbmm(self.bias, x, self.weight) if self.bias is not None else torch.bmm(x, self.weight)


class PerGroupLinear(nn.Module):
    """A `GroupedLinear` as one 2-D matrix product per group: the same values, for export. ONNX
    Runtime packs a constant 2-D weight once, at load; a 3-D one it packs again at every call of a
    batch of two or more rows, which made two windows cost twice one (docs/RESULTS.md, issue 17)."""

    def __init__(self, grouped: GroupedLinear):
        super().__init__()
        self.weight = nn.ParameterList(nn.Parameter(w.detach().clone()) for w in grouped.weight)
        self.bias = (None if grouped.bias is None
                     else nn.ParameterList(nn.Parameter(b[0].detach().clone()) for b in grouped.bias))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.stack([x[g] @ w if self.bias is None else torch.addmm(self.bias[g], x[g], w)
                            for g, w in enumerate(self.weight)])


def per_group(model: nn.Module) -> nn.Module:
    """A copy of ``model`` with every `GroupedLinear` as a `PerGroupLinear` (same outputs), the
    form `engine.runtime.export_onnx` writes; other models come back as copies, unchanged."""
    import copy
    out = copy.deepcopy(model)
    for mod in list(out.modules()):
        for name, child in list(mod.named_children()):
            if isinstance(child, GroupedLinear):
                setattr(mod, name, PerGroupLinear(child))
    return out


class GroupedLSTMCell(nn.Module):
    """A stack of LSTM cells with separate weights per group: state [G, B, H] per layer."""

    def __init__(self, groups: int, inp: int, hidden: int, layers: int):
        super().__init__()
        # uniform(-0.1, 0.1) initialisation as in the authors' code
        self.ih = nn.ModuleList(GroupedLinear(groups, inp if k == 0 else hidden, 4 * hidden, init=0.1)
                                for k in range(layers))
        self.hh = nn.ModuleList(GroupedLinear(groups, hidden, 4 * hidden, bias=False, init=0.1)
                                for k in range(layers))
        self.hidden = hidden

    def forward(self, x: torch.Tensor, state: list[tuple[torch.Tensor, torch.Tensor]],
                x_proj: torch.Tensor | None = None):
        """One step: x [G, B, in] (or its layer-0 projection ``x_proj``) -> top output, new state."""
        new = []
        inp = x
        for k, (ih, hh) in enumerate(zip(self.ih, self.hh)):
            h, c = state[k]
            gates = (x_proj if (k == 0 and x_proj is not None) else ih(inp)) + hh(h)
            i, f, g, o = gates.chunk(4, dim=-1)
            c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
            h = torch.sigmoid(o) * torch.tanh(c)
            new.append((h, c))
            inp = h
        return inp, new


class SGELA(nn.Module):
    """The per-axis encoder-decoder with (locality-aware) attention; see the module doc."""

    def __init__(self, config: SGEConfig = SGEConfig()):
        super().__init__()
        self.config = c = config
        g, h = c.axes, c.hidden
        self.encoder = GroupedLSTMCell(g, c.joints, h, c.layers)
        dec_in = c.joints + (h if c.attention != "none" else 0)
        self.decoder = GroupedLSTMCell(g, dec_in, h, c.layers)
        if c.attention != "none":
            self.keys = GroupedLinear(g, h, h, bias=False)  # Luong "general" score
            self.att = GroupedLinear(g, 2 * h, h, bias=False)  # W_att of Eq. 9
        self.out = GroupedLinear(g, h, c.joints)  # W_F of Eq. 10
        self.register_buffer("mask", locality_mask(c.length, c.reverse), persistent=False)

    def encode_states(self, x: torch.Tensor) -> tuple[torch.Tensor, list]:
        """Encoder states h_1..h_f [G, B, f, H] and the final state, for x [G, B, f, J]."""
        g, b, f, _ = x.shape
        state = [(x.new_zeros(g, b, self.config.hidden),) * 2 for _ in range(self.config.layers)]
        proj = self.encoder.ih[0](x.reshape(g, b * f, -1)).reshape(g, b, f, -1)
        outs = []
        for t in range(f):
            top, state = self.encoder(None, state, x_proj=proj[:, :, t])
            outs.append(top)
        return torch.stack(outs, 2), state

    def forward(self, x: torch.Tensor, aux: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """Decode x [G, B, f, J] with attention.

        ``aux`` [G, B, f, J] are the auxiliary inputs x_t (teacher forcing: the targets); when
        None, each step feeds back the previous output (the testing phase). Returns
        ``output`` [G, B, f, J], ``scores`` [G, B, f, f] (BAS a_t(j); rows t, columns j),
        ``weights`` (the alignment used for c_t: BAS, or MBAS for "mbas"), ``context``
        [G, B, f, H] (c_t; the encoder states when attention is "none").
        """
        cfg = self.config
        enc, state = self.encode_states(x)
        g, b, f, _ = x.shape
        prev_x = x.new_zeros(g, b, cfg.joints)  # x_1 = Z, the all-zero skeleton
        prev_att = x.new_zeros(g, b, cfg.hidden)
        keys = self.keys(enc.reshape(g, b * f, -1)).reshape(g, b, f, -1) if cfg.attention != "none" else None
        outputs, scores, weights, contexts = [], [], [], []
        for t in range(f):
            dec_in = prev_x if cfg.attention == "none" else torch.cat([prev_x, prev_att], -1)
            top, state = self.decoder(dec_in, state)
            if cfg.attention == "none":
                hidden = top
            else:
                a = torch.softmax(torch.einsum("gbh,gbjh->gbj", top, keys), -1)
                w = a * self.mask[t] if cfg.attention == "mbas" else a
                ctx = torch.einsum("gbj,gbjh->gbh", w, enc)
                hidden = torch.tanh(self.att(torch.cat([ctx, top], -1)))
                scores.append(a)
                weights.append(w)
                contexts.append(ctx)
                prev_att = hidden
            y = self.out(hidden)
            outputs.append(y)
            prev_x = aux[:, :, t] if aux is not None else y
        out = {"output": torch.stack(outputs, 2)}
        if cfg.attention == "none":
            out["context"] = enc
        else:
            out |= {"scores": torch.stack(scores, 2), "weights": torch.stack(weights, 2),
                    "context": torch.stack(contexts, 2)}
        return out

    @torch.no_grad()
    def encode(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Encodings of windows x [B, f, J, 3] (prepared by `prepare_windows`).

        Returns ``frames`` [B, f, 3H] (skeleton-level v_t), ``sequence`` [B, f * 3H] (V) and
        ``attention`` [3, B, f, f].
        """
        out = self(to_axes(x))
        ctx = out["context"]  # [G, B, f, H]
        frames = ctx.permute(1, 2, 0, 3).reshape(ctx.shape[1], ctx.shape[2], -1)
        att = out["weights"] if "weights" in out else ctx.new_zeros(*ctx.shape[:3], ctx.shape[2])
        return {"frames": frames, "sequence": frames.flatten(1), "attention": att}


def prepare_last_windows(joints: np.ndarray, confidence: np.ndarray, length: int, upright: bool = False,
                         common_joints: bool = False, shared_joints: bool = False) -> np.ndarray:
    """The last model window of each of K canonical contexts, batched: ``joints [K, n, 25, 3]``
    (n a multiple of ``length``), confidence [K, n, 25] -> [K, f, 20, 3]. Equal to
    ``prepare_windows(context, ...)[-1]`` for each context, without a loop over K. Missing
    joints are filled from given ones (`engine.missing.fill_missing`), never read."""
    if shared_joints:
        confidence = reduce_joints(confidence, SHARED_JOINTS)
    if upright and common_joints and (confidence[:, :, _TORSO] > 0).any(1).all():
        # the live path: the context's hips and shoulders (each given in some frame: filled in
        # time only, as below) level the window, the rest is filled in the last window only;
        # the same values as below in less time
        torso, _ = fill_missing(joints[:, :, _TORSO], confidence[:, :, _TORSO], TORSO_NAMES)
        rot = upright_rotation(_common_torso(torso)).astype(np.float32)
        last, _ = fill_missing(joints, confidence, last=length)
        joints = np.einsum("...ij,...tkj->...tki", rot, common_spine(last))
    else:
        joints, _ = fill_missing(joints, confidence)
        if common_joints:
            joints = common_spine(joints)
        if upright:
            joints = make_upright(joints)  # every joint has coordinates now (given or filled)
    w = center(joints[:, -length:], per_frame=False)
    w = face_forward(w)
    return np.ascontiguousarray(w[:, :, [INDEX[j] for j in INPUT_JOINTS]], np.float32)


TORSO_NAMES = ("HipLeft", "HipRight", "ShoulderLeft", "ShoulderRight")
_TORSO = [INDEX[j] for j in TORSO_NAMES]


def _common_torso(t: np.ndarray) -> np.ndarray:
    """`common_spine`'s SpineBase-to-SpineShoulder vector per frame from the `TORSO_NAMES` joints,
    ``[K, n, 4, 3] -> [K, n, 3]``."""
    return (t[:, :, 2] + t[:, :, 3]) / 2 - (t[:, :, 0] + t[:, :, 1]) / 2


def to_axes(x: torch.Tensor) -> torch.Tensor:
    """[B, f, J, 3] -> [3, B, f, J]: one series per coordinate axis."""
    return x.permute(3, 0, 1, 2).contiguous()


WINDOW_OPTIONS = ("upright", "common_joints", "shared_joints")


def window_options(input_meta: dict) -> dict[str, bool]:
    """The `prepare_windows` options a checkpoint was trained with (its ``input`` metadata;
    absent ones were off)."""
    return {k: bool(input_meta.get(k, False)) for k in WINDOW_OPTIONS}


def prepare_windows(joints: np.ndarray, confidence: np.ndarray, layout, length: int,
                    step: int | None = None, trim: int = 0, upright: bool = False,
                    common_joints: bool = False, shared_joints: bool = False) -> np.ndarray:
    """Cut one sequence into model windows [N, f, 20, 3] (float32).

    The sequence is mapped onto the canonical joints and the 20 model joints are kept; each
    window is translated so that its first frame's SpineBase is at the origin and rotated about
    y so that the body faces -z on average over the window (walking direction and sensor
    placement removed, body size and within-window motion kept). ``trim`` frames are dropped
    at both ends first; windows start every ``step`` frames (default: no overlap).
    ``upright`` first levels the whole sequence (`engine.skeleton.upright`: the mean torso axis
    becomes +y), which removes the sensor's tilt and roll. ``common_joints`` replaces the spine
    joints by ones every sensor can make (`engine.skeleton.common_spine`), so that Kinect and
    MediaPipe skeletons agree. Joints the sensor did not give (confidence 0) are filled from
    the ones it did (`engine.missing.fill_missing`); their stored coordinates are never read.
    ``shared_joints`` keeps only the joints every supported sensor gives
    (`engine.missing.SHARED_JOINTS`; hands at the wrists, feet at the ankles) and fills the rest
    the same way, so a sensor with fewer joints gives the model the same window as a Kinect.
    """
    joints, conf, _ = to_canonical(joints, confidence, layout)
    if shared_joints:
        conf = reduce_joints(conf, SHARED_JOINTS)
    joints, _ = fill_missing(joints, conf)
    if common_joints:
        joints = common_spine(joints)
    if upright:
        joints = make_upright(joints)  # every joint has coordinates now (given or filled)
    if trim:
        joints = joints[trim:len(joints) - trim]
    step = step or length
    starts = range(0, len(joints) - length + 1, step)
    if not len(starts):
        return np.zeros((0, length, len(INPUT_JOINTS), 3), np.float32)
    idx = np.array([INDEX[j] for j in INPUT_JOINTS])
    w = np.stack([joints[s:s + length] for s in starts])  # [N, f, 25, 3]
    w = center(w, per_frame=False)
    w = face_forward(w)
    return np.ascontiguousarray(w[:, :, idx], np.float32)


# each model joint's mirror partner (left <-> right, `engine.skeleton.FLIP`) in INPUT_JOINTS order
MIRROR = tuple(INPUT_JOINTS.index(CANONICAL[FLIP[INDEX[j]]]) for j in INPUT_JOINTS)


def mirror_windows(x: torch.Tensor) -> torch.Tensor:
    """Prepared windows ``[B, f, 20, 3]`` as their mirror images: x negated, left and right
    joints swapped. Mirroring commutes with `prepare_windows` (centring, levelling and turning to
    face -z are all mirror-symmetric), so this is the window of the mirrored sequence."""
    sign = torch.tensor([-1.0, 1.0, 1.0], dtype=x.dtype, device=x.device)
    return x[:, :, list(MIRROR)] * sign


class SymmetricGait(nn.Module):
    """A gait encoder blind to which side of the body the sensor sees: each window is encoded
    with its mirror image (one batch of twice the windows), and ``sequence`` holds both
    encodings side by side ``[B, 2D]``; `engine.embed.window_features` whitens each half and
    takes their normalised sum. Seen from the side, a tracker gets the near limbs right and the
    far ones wrong, and which side is near changes with the walking direction and the view.
    Chosen by rule on validation data (docs/RESULTS.md, "Side-symmetric gait embeddings").
    ``frames``, ``attention`` (and A3D's ``glimpses``) are the windows' own."""

    symmetric = True

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model
        self.config = model.config
        self.whitening = getattr(model, "whitening", None)
        if hasattr(model, "glimpse_map"):
            self.glimpse_map = model.glimpse_map

    @torch.no_grad()
    def encode(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        k = x.shape[0]
        both = self.model.encode(torch.cat([x, mirror_windows(x)]))
        out = {"sequence": torch.cat([both["sequence"][:k], both["sequence"][k:]], 1),
               "frames": both["frames"][:k], "attention": both["attention"][:, :k]}
        if "glimpses" in both:
            out["glimpses"] = both["glimpses"][:k]
        return out
