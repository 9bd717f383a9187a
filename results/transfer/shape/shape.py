"""The body-shape candidates of RULE.md: whole-sequence descriptors and their scores."""
import numpy as np

from engine.skeleton import BONES, INDEX, to_canonical
from trainers.evaluate.transfer import bone_features, bone_scores

# left/right bone pairs of the canonical tree, by index into BONES
_NAMES = [f"{a}-{b}" for a, b in BONES]
PAIRS = [(i, _NAMES.index(n.replace("Left", "Right"))) for i, n in enumerate(_NAMES) if "Left" in n]
UNPAIRED = [i for i, n in enumerate(_NAMES) if "Left" not in n and "Right" not in n]
# distances within one rigid part, between joints every sensor gives (Neck: SpineShoulder)
RIGID = [("ShoulderLeft", "ShoulderRight"), ("HipLeft", "HipRight"), ("SpineShoulder", "hips"), ("Head", "SpineShoulder")]


def describe(seq) -> dict:
    """Per sequence: `bones` (the baseline's), `sym` and `rigid` features (NaN: not given)."""
    bones = bone_features(seq)
    sym = np.array([np.nanmean(bones[[i, j]]) if np.isfinite(bones[[i, j]]).any() else np.nan for i, j in PAIRS]
                   + [bones[i] for i in UNPAIRED])
    joints, conf, _ = to_canonical(seq.joints, seq.confidence, seq.layout)
    given = conf > 0
    extra = []
    for a, b in RIGID:
        if b == "hips":
            pb = (joints[:, INDEX["HipLeft"]] + joints[:, INDEX["HipRight"]]) / 2
            okb = given[:, INDEX["HipLeft"]] & given[:, INDEX["HipRight"]]
        else:
            pb, okb = joints[:, INDEX[b]], given[:, INDEX[b]]
        ok = given[:, INDEX[a]] & okb
        d = np.linalg.norm(joints[:, INDEX[a]] - pb, axis=-1)
        extra.append(np.median(d[ok]) if ok.mean() >= 0.5 else np.nan)
    return {"bones": bones, "sym": sym, "rigid": np.concatenate([sym, extra])}


def scaled_scores(probe: np.ndarray, gallery: np.ndarray, g_person: np.ndarray, scale: np.ndarray | None) -> np.ndarray:
    """`bone_scores` after dividing every feature by ``scale``; scale "gallery" is computed from
    the gallery's per-person means (spread between the enrolled people) when ``scale`` is None."""
    if scale is None:
        people = np.unique(g_person)
        if len(people) < 3:
            return bone_scores(probe, gallery)
        means = np.stack([np.nanmean(gallery[g_person == p], 0) for p in people])
        scale = np.nanstd(means, 0)
    scale = np.where(np.isfinite(scale) & (scale > 1e-6), scale, np.nan)
    scale = np.where(np.isfinite(scale), scale, np.nanmedian(scale))
    return bone_scores(probe / scale, gallery / scale)


def within_spread(feats: np.ndarray, person: np.ndarray) -> np.ndarray:
    """Pooled within-person standard deviation of each feature (KGBD fit walks)."""
    dev = np.concatenate([feats[person == p] - np.nanmean(feats[person == p], 0) for p in np.unique(person)
                          if (person == p).sum() > 1])
    return np.sqrt(np.nanmean(dev ** 2, 0))


def znorm(s: np.ndarray) -> np.ndarray:
    """Scores z-normalised per probe (row) over the gallery; -inf (nothing shared) -> the row's minimum."""
    s = np.where(np.isfinite(s), s, np.nan)
    s = np.where(np.isnan(s), np.nanmin(s, 1, keepdims=True), s)
    return (s - s.mean(1, keepdims=True)) / (s.std(1, keepdims=True) + 1e-9)
