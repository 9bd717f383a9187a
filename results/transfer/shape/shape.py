"""The body-shape candidates of RULE.md: whole-sequence descriptors and their scores. The
adopted ones live in `engine.shape` (``rigid`` is `engine.shape.describe`, ``rigid_z`` its
`engine.shape.shape_scores`); ``sym`` is the descriptor without its rigid distances."""
import numpy as np

from engine import shape as adopted
from engine.shape import scaled_rms, znorm  # noqa: F401  (validate.py's fusion)
from trainers.evaluate.transfer import bone_features

N_RIGID = len(adopted.RIGID)


def describe(seq) -> dict:
    """Per sequence: `bones` (the baseline's), `sym` and `rigid` features (NaN: not given)."""
    rigid = adopted.describe(seq.joints, seq.confidence, seq.layout)  # = sequence_shape(seq).values[0]
    return {"bones": bone_features(seq), "sym": rigid[:-N_RIGID], "rigid": rigid}


def scaled_scores(probe: np.ndarray, gallery: np.ndarray, g_person: np.ndarray, scale: np.ndarray | None) -> np.ndarray:
    """`scaled_rms` after dividing every feature by ``scale``; None: the gallery's spread between
    its people (`engine.shape.shape_scores`)."""
    if scale is None:
        return adopted.shape_scores(probe, gallery, g_person)
    scale = np.where(np.isfinite(scale) & (scale > 1e-6), scale, np.nan)
    return scaled_rms(probe, gallery, np.where(np.isfinite(scale), scale, np.nanmedian(scale)))


def within_spread(feats: np.ndarray, person: np.ndarray) -> np.ndarray:
    """Pooled within-person standard deviation of each feature (KGBD fit walks)."""
    dev = np.concatenate([feats[person == p] - np.nanmean(feats[person == p], 0) for p in np.unique(person)
                          if (person == p).sum() > 1])
    return np.sqrt(np.nanmean(dev ** 2, 0))
