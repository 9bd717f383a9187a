"""Body shape: a second identity cue beside the gait encoding.

Bone lengths stay when a person limps, carries something or walks in another direction; gait
dynamics change. The descriptor (`describe`) is, per sequence, the median over its frames of:

- each bone of the canonical tree whose two ends the sensor gives (in at least half the frames),
  a left/right pair measured frame by frame on the side nearer the sensor (arms: the shoulder
  with the smaller depth; legs: the hip): a profile view occludes the far side, whose estimates
  are poor, and which side is far changes with the walking direction. Where the nearer side's
  bone is not given, the other's; where the depth cannot be read, the mean of the two;
- four distances within one rigid part, between joints every sensor gives: shoulder width, hip
  width, neck (SpineShoulder) to the hips' midpoint, head to neck.

Skeleton trackers define joints differently (OpenNI's hips are not Kinect's; MediaPipe's spine
is made from its hips and shoulders), so descriptors compare only within one skeleton family
(`family`: Kinect v1 under any of its file layouts, Kinect v2, OpenNI, MediaPipe, or a custom
layout's own name). Enrollments of another family give no shape evidence (z-score 0 in `fuse`).
A stored canonical skeleton whose layout was not recorded (galleries of schema 1) gets its family
back from what it holds (`infer_family`), or "" (unknown), which compares with nothing.

Two descriptors compare by minus the RMS difference over the features both give, each feature
divided by its spread between the people of the gallery in use (`shape_scores`; the place's own
population, no probe read; unscaled below 3 people). Missing joints are never read: a feature
the sensor does not give is NaN and left out of the comparison.

`fuse` combines gait cosines and shape scores per query: each z-normalised over the gallery's
enrollments, averaged with equal weights (`SHAPE_WEIGHT`). The descriptor and the fusion were
chosen on validation data only (UTD-MHAD, MSR Action3D, KGBD's validation walks), by the rule
written before the runs (``results/transfer/shape/RULE.md``, which fixed the weight); the
near-side pairs later by ``results/transfer/near/RULE.md`` (five validation domains, two of them
across views or sides), and the weight was kept against 0.25 and 0.75 on the same five by
``results/transfer/weight/RULE.md``. docs/RESULTS.md "Transfer" has the figures.
`engine.identity.identify` ranks people by the fused score and keeps the open-set
decision on the gait score, so fusing never accepts a stranger the gait model alone would reject.
"""

from __future__ import annotations

import warnings
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np

from engine.skeleton import BONES, CANONICAL, INDEX, to_canonical

_A = np.array([INDEX[p] for p, _ in BONES])
_B = np.array([INDEX[c] for _, c in BONES])
_NAMES = [f"{a}-{b}" for a, b in BONES]
_PAIRS = [(i, _NAMES.index(n.replace("Left", "Right"))) for i, n in enumerate(_NAMES) if "Left" in n]
_UNPAIRED = [i for i, n in enumerate(_NAMES) if "Left" not in n and "Right" not in n]
_LEFT, _RIGHT = np.array([i for i, _ in _PAIRS]), np.array([j for _, j in _PAIRS])
# pairs whose nearer side is the nearer hip's (legs, and SpineBase-hip); the others the shoulder's
_LEGS = np.array([any(p in _NAMES[i] for p in ("Hip", "Knee", "Ankle", "Foot")) for i in _LEFT])
# (joint, joint or the midpoint of the hips) within one rigid part
RIGID = (("ShoulderLeft", "ShoulderRight"), ("HipLeft", "HipRight"), ("SpineShoulder", "hips"),
         ("Head", "SpineShoulder"))
FEATURES: tuple[str, ...] = tuple([_NAMES[i].replace("Left", "") for i, _ in _PAIRS] + [_NAMES[i] for i in _UNPAIRED]
                                  + [f"{a}-{b}" for a, b in RIGID])


_FAMILIES = {"kinect_v1": "kinect_v1", "kgbd": "kinect_v1", "msr_action3d": "kinect_v1", "utd_mhad": "kinect_v1",
             "kinect_v2": "kinect_v2", "kard": "openni", "mediapipe": "mediapipe"}


def family(layout) -> str:
    """The skeleton family of a `Layout` (or layout name): whose joint definitions it has."""
    name = layout if isinstance(layout, str) else layout.name
    return _FAMILIES.get(name, name)


@dataclass(frozen=True)
class Shapes:
    """Descriptors ``values [N, len(FEATURES)]`` (NaN: not given) and their skeleton ``family [N]``."""

    values: np.ndarray
    family: np.ndarray

    @staticmethod
    def one(values: np.ndarray, family: str) -> "Shapes":
        return Shapes(np.asarray(values, np.float32)[None], np.array([family]))

    def comparable(self, other: str) -> np.ndarray:
        """[N] bool: which of these compare with a descriptor of family ``other`` (an unknown
        family, "", compares with nothing)."""
        return (self.family == other) & (self.family != "")


def infer_family(joints: np.ndarray, confidence: np.ndarray) -> str:
    """The family of a canonical skeleton ``joints [T, 25, 3]`` / ``confidence [T, 25]`` whose
    layout was not recorded, from the joints it gives: Kinect v1's 20 or OpenNI's 15 say so; all
    25 (in at least half the frames) are MediaPipe's when its SpineBase is exactly the hips'
    midpoint (how that layout derives it), else Kinect v2's (as are the 18 of a Kinect v2 export); "" otherwise."""
    from engine.missing import SENSOR_JOINTS
    given = {CANONICAL[i] for i in np.flatnonzero((confidence > 0).mean(0) >= 0.5)}  # a lost frame or two
    for sensor, fam in (("kinect_v1", "kinect_v1"), ("openni15", "openni"), ("export18", "kinect_v2")):
        if given == set(SENSOR_JOINTS[sensor]):
            return fam
    if given == set(SENSOR_JOINTS["kinect_v2"]):
        mid = (joints[:, INDEX["HipLeft"]] + joints[:, INDEX["HipRight"]]) / 2
        both = (confidence[:, [INDEX["SpineBase"], INDEX["HipLeft"], INDEX["HipRight"]]] > 0).all(1)
        off = np.abs(joints[both, INDEX["SpineBase"]] - mid[both])
        return "mediapipe" if both.any() and off.max() < 1e-4 else "kinect_v2"
    return ""


def frame_lengths(joints: np.ndarray, confidence: np.ndarray) -> np.ndarray:
    """Per frame, every bone's length, the rigid distances and each left/right pair's length on
    the side nearer the sensor, ``[T, len(BONES) + len(RIGID) + pairs]`` from canonical ``joints
    [T, 25, 3]`` and ``confidence [T, 25]``; NaN where an end is not given."""
    given = confidence > 0
    bones = np.linalg.norm(joints[:, _B] - joints[:, _A], axis=-1)
    bones = np.where(given[:, _A] & given[:, _B], bones, np.nan)
    left, right = bones[:, _LEFT], bones[:, _RIGHT]
    near = np.where(np.isnan(left), right, np.where(np.isnan(right), left, (left + right) / 2))  # depth unknown
    for cols, (a, b) in ((~_LEGS, ("ShoulderLeft", "ShoulderRight")), (_LEGS, ("HipLeft", "HipRight"))):
        known = given[:, INDEX[a]] & given[:, INDEX[b]]  # depth read only from given joints
        left_near = (joints[:, INDEX[a], 2] <= joints[:, INDEX[b], 2])[:, None]
        pick = np.where(left_near, np.where(np.isnan(left[:, cols]), right[:, cols], left[:, cols]),
                        np.where(np.isnan(right[:, cols]), left[:, cols], right[:, cols]))
        near[:, cols] = np.where(known[:, None], pick, near[:, cols])
    extra = []
    for a, b in RIGID:
        if b == "hips":
            pb = (joints[:, INDEX["HipLeft"]] + joints[:, INDEX["HipRight"]]) / 2
            ok_b = given[:, INDEX["HipLeft"]] & given[:, INDEX["HipRight"]]
        else:
            pb, ok_b = joints[:, INDEX[b]], given[:, INDEX[b]]
        d = np.linalg.norm(joints[:, INDEX[a]] - pb, axis=-1)
        extra.append(np.where(given[:, INDEX[a]] & ok_b, d, np.nan))
    return np.concatenate([bones, np.stack(extra, 1), near], 1).astype(np.float32)


def median_lengths(rows: np.ndarray) -> np.ndarray:
    """Per column of ``rows [T, K]``, the median of its given (finite) values when given in at
    least half the frames, else NaN. One sort for all columns (NaN sorts last)."""
    out = np.full(rows.shape[1], np.nan)
    if len(rows) == 0:
        return out
    n = np.isfinite(rows).sum(0)
    srt = np.sort(np.where(np.isfinite(rows), rows, np.nan), axis=0)
    cols = np.flatnonzero((n >= 0.5 * len(rows)) & (n > 0))
    lo, hi = (n[cols] - 1) // 2, n[cols] // 2
    out[cols] = (srt[lo, cols].astype(np.float64) + srt[hi, cols]) / 2
    return out


def describe_rows(rows: np.ndarray) -> np.ndarray:
    """The descriptor ``[len(FEATURES)]`` of `frame_lengths` rows (NaN: not given)."""
    med = median_lengths(rows)
    n = len(BONES) + len(RIGID)
    return np.concatenate([med[n:], med[:len(BONES)][_UNPAIRED], med[len(BONES):n]]).astype(np.float32)


def describe(joints: np.ndarray, confidence: np.ndarray, layout) -> np.ndarray:
    """The descriptor of a sequence's joints ``[T, J, 3]`` and confidence ``[T, J]`` of ``layout``."""
    j, c, _ = to_canonical(joints, confidence, layout)
    return describe_rows(frame_lengths(j, c))


def sequence_shape(seq) -> Shapes:
    """The descriptor of a `SkeletonSequence`, with its family."""
    return Shapes.one(describe(seq.joints, seq.confidence, seq.layout), family(seq.layout))


def rms_scores(probe: np.ndarray, gallery: np.ndarray) -> np.ndarray:
    """Minus the RMS difference over the features both give, ``[P, G]`` (-inf: none shared)."""
    d = probe[:, None, :].astype(np.float64) - gallery[None, :, :]
    shared = np.isfinite(d)
    rms = np.sqrt((np.where(shared, d, 0.0) ** 2).sum(-1) / np.maximum(shared.sum(-1), 1))
    return np.where(shared.any(-1), -rms, -np.inf)


def scaled_rms(probe: np.ndarray, gallery: np.ndarray, scale: np.ndarray | None) -> np.ndarray:
    """`rms_scores` with every feature divided by ``scale`` (None: unscaled)."""
    return rms_scores(probe, gallery) if scale is None else rms_scores(probe / scale, gallery / scale)


def gallery_scale(gallery: np.ndarray, names: list[str] | np.ndarray) -> np.ndarray | None:
    """Each feature's spread between the gallery's people (std of their mean descriptors; a
    feature with none, the median spread); None below 3 people or without any spread."""
    names = np.asarray(names)
    people = np.unique(names)
    if len(people) < 3:
        return None
    with _quiet():
        means = np.stack([np.nanmean(gallery[names == p], 0) for p in people])
        scale = np.nanstd(means, 0)
    scale = np.where(np.isfinite(scale) & (scale > 1e-6), scale, np.nan)
    if not np.isfinite(scale).any():
        return None
    return np.where(np.isfinite(scale), scale, np.nanmedian(scale))


def shape_scores(probe: np.ndarray, gallery: np.ndarray, names: list[str] | np.ndarray) -> np.ndarray:
    """Similarity ``[P, G]`` of descriptors, scaled by `gallery_scale` of the enrolled people."""
    return scaled_rms(probe, gallery, gallery_scale(gallery, names))


def znorm(scores: np.ndarray) -> np.ndarray:
    """Scores ``[P, G]`` z-normalised per row; a -inf entry (no feature shared) takes the row's
    lowest finite score; a NaN entry (no evidence: another skeleton family) is left out of the
    row's statistics and gets 0, as does a row without any finite score."""
    finite = np.isfinite(scores)
    evidence = ~np.isnan(scores)
    low = np.where(finite, scores, np.inf).min(1, keepdims=True)
    s = np.where(finite, scores, np.where(evidence, low, 0.0))  # -inf -> the row's lowest
    n = np.maximum(evidence.sum(1, keepdims=True), 1)
    mean = np.where(evidence, s, 0.0).sum(1, keepdims=True) / n
    std = np.sqrt(np.where(evidence, (s - mean) ** 2, 0.0).sum(1, keepdims=True) / n)
    z = (s - mean) / (std + 1e-9)
    return np.where(evidence & np.isfinite(z) & finite.any(1, keepdims=True), z, 0.0)


SHAPE_WEIGHT = 0.5  # body shape's weight in the fused ranking (see the module doc)


def fuse(gait: np.ndarray, shape: np.ndarray, weight: float = SHAPE_WEIGHT) -> np.ndarray:
    """The fused score ``[P, G]``: ``(1 - weight) * z(gait) + weight * z(shape)`` per query
    (`znorm`: NaN shape scores give no evidence)."""
    return (1 - weight) * znorm(gait) + weight * znorm(shape)


class ShapeGallery:
    """The enrollments' shapes with their names, for one query at a time (`evidence`); the
    per-family spread of the gallery's people is computed once per family and kept."""

    def __init__(self, shapes: Shapes, names: list[str] | np.ndarray):
        self.shapes, self.names = shapes, np.asarray(names)
        self._by_family: dict[str, tuple[np.ndarray, np.ndarray | None, bool]] = {}

    def _of(self, fam: str):
        if fam not in self._by_family:
            ok = self.shapes.comparable(fam)
            enough = len(np.unique(self.names[ok])) >= 2
            scale = gallery_scale(self.shapes.values[ok], self.names[ok]) if enough else None
            self._by_family[fam] = (ok, scale, enough)
        return self._by_family[fam]

    def evidence(self, query: Shapes) -> np.ndarray | None:
        """Shape scores ``[G]`` of one query against the enrollments of its family (NaN for the
        others: `fuse` takes them as no evidence); None when fewer than 2 people are comparable
        or the query gives no feature."""
        ok, scale, enough = self._of(str(query.family[0]))
        if not enough or not np.isfinite(query.values).any():
            return None
        out = np.full(len(self.names), np.nan)
        out[ok] = scaled_rms(query.values, self.shapes.values[ok], scale)[0]
        return out


@contextmanager
def _quiet():
    """NaN-aware reductions over all-NaN slices warn; here an all-NaN slice is expected."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        yield
