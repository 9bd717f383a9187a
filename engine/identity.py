"""Open-set identification: a gait embedding against the gallery's enrollments.

A person's score is their best enrollment's cosine similarity to the query (embeddings are
L2-normalised). The decision is the best person's name when that score clears the threshold,
else "unknown". With body-shape descriptors (`engine.shape`), people are ranked by the fused gait
and shape score, and the first is named when their gait score clears the threshold.

A threshold in raw cosine units does not survive a new sensor, room or population: every score
shifts (people all look alike through a sensor with fewer joints). So the threshold is set
against the gallery in use (`open_set_threshold`): its enrolled people are the impostor cohort
of the place, sensor and population the system runs in. Their cross-person scores (each pair of
people: their most alike enrollments) give a mean and spread (`gallery_cohort`); the checkpoint
stores, calibrated on its training data only (``skelstream eval calibrate``), where a stranger's
score to one person lies in those units (the upper tail of ``(impostor - mean) / spread`` per
query length), and the threshold is ``mean + spread * z`` with z the tail quantile that keeps
the false-accept rate for a gallery of P people. The mean is always the gallery's (a new sensor
shifts it); while the gallery has few pairs of people, the spread is shrunk towards the training
data's (`PRIOR_PAIRS` pseudo pairs, on the pairs' n - 1 degrees of freedom), and widened by
sqrt(1 + 1/n) because the mean itself is estimated from n pairs (`Cohort.predictive_std`: with
two people, one pair, the mean is one score); with one person enrolled both are the training data's
(``Cohort.source``: "training", shown by the engine and the app). A checkpoint without this calibration uses its raw threshold
(`threshold_of`), and ``--threshold`` overrides both.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from statistics import NormalDist

import numpy as np

from engine.embed import unit
from engine.shape import ShapeGallery, Shapes, fuse

UNKNOWN = "unknown"


@dataclass
class Match:
    """A decision, the gait score it was taken on, the top people (in the ranking's order, with
    their gait scores) and the cue that ranked them ("gait", or "gait+shape": `engine.shape`)."""

    decision: str
    score: float
    top: list[tuple[str, float]] = field(default_factory=list)
    cue: str = "gait"

    def to_dict(self) -> dict:
        return {"decision": self.decision, "score": round(self.score, 4), "cue": self.cue,
                "top": [{"name": n, "score": round(s, 4)} for n, s in self.top]}


def _per_person(names: list[str], scores: np.ndarray) -> dict[str, float]:
    """Each person's best score over their enrollments (``scores`` in the order of ``names``)."""
    best: dict[str, float] = {}
    for name, s in zip(names, scores.tolist()):
        best[name] = max(best.get(name, -np.inf), s)
    return best


def person_scores(query: np.ndarray, names: list[str], embeddings: np.ndarray) -> list[tuple[str, float]]:
    """Each enrolled person's best cosine similarity to ``query`` [D], best first."""
    if not names:
        return []
    best = _per_person(names, embeddings @ unit(np.asarray(query, np.float32)))
    return sorted(best.items(), key=lambda kv: -kv[1])


def identify(query: np.ndarray, names: list[str], embeddings: np.ndarray, threshold: float, k: int = 5,
             shape: Shapes | None = None, shapes: Shapes | ShapeGallery | None = None) -> Match:
    """The open-set decision for one query embedding, with the top ``k`` people.

    With the query's body ``shape`` and the enrollments' ``shapes`` (rows in the order of
    ``names``, or a `ShapeGallery` of them), and at least two people of the query's skeleton
    family enrolled with one, people are ranked by the fused gait and shape score
    (`engine.shape.fuse`); the named person is the first of that ranking, accepted when *their
    gait score* clears ``threshold``. So the calibrated open-set rule is unchanged, and fusion
    can only turn an accepted stranger into an unknown, never the reverse."""
    if not names:
        return Match(UNKNOWN, 0.0, [])
    sims = embeddings @ unit(np.asarray(query, np.float32))
    gait_of = _per_person(names, sims)
    rank_of, cue = gait_of, "gait"
    if shape is not None and shapes is not None and len(gait_of) >= 2:
        gallery = shapes if isinstance(shapes, ShapeGallery) else ShapeGallery(shapes, names)
        evidence = gallery.evidence(shape)
        if evidence is not None:
            rank_of, cue = _per_person(names, fuse(sims[None], evidence[None])[0]), "gait+shape"
    ranked = [(n, gait_of[n]) for n in sorted(rank_of, key=lambda n: -rank_of[n])]
    name, score = ranked[0]
    return Match(name if score >= threshold else UNKNOWN, score, ranked[:k], cue)


def threshold_of(meta: dict, seconds: float | None = None, people: int | None = None) -> float:
    """The checkpoint's calibrated threshold for a query of ``seconds`` of walking (the longest
    calibrated length not above it; the shortest when None or shorter), for a gallery of
    ``people`` people: a stranger scores above it against any of them with probability FAR,
    i.e. above each one with p = 1 - (1 - FAR)^(1/people), read off the calibrated tail of
    per-person impostor scores (None: the calibration gallery's own threshold). A clear error
    when the checkpoint has none."""
    ident = meta.get("identity")
    if not ident or "threshold" not in ident:
        raise ValueError(f"checkpoint {meta.get('name', '')!r} has no calibrated threshold: run "
                         "`skelstream eval calibrate CHECKPOINT --write`, or pass --threshold")
    rows = sorted(ident.get("by_seconds", []), key=lambda r: r["seconds"])
    fitting = [r for r in rows if seconds is not None and r["seconds"] <= seconds]
    row = fitting[-1] if fitting else (rows[0] if rows else ident)
    tail = row.get("impostor_tail")
    if not people or not tail:
        return float(row["threshold"])
    p = 1 - (1 - float(ident["far"])) ** (1 / max(people, 1))
    logp, score = np.log(tail["p"])[::-1], np.asarray(tail["score"])[::-1]  # increasing log p
    return float(np.interp(np.log(p), logp, score))


PRIOR_PAIRS = 1  # the training data's spread counts as this many pairs of people


@dataclass(frozen=True)
class Cohort:
    """Cross-person scores of a gallery: mean, spread, the pairs of people they come from, and
    where they come from ("gallery", "gallery+training" while few pairs, "training")."""

    mean: float
    std: float
    pairs: int
    source: str

    @property
    def predictive_std(self) -> float:
        """The spread of a stranger's score about ``mean`` when the mean itself is estimated from
        ``pairs`` scores: std * sqrt(1 + 1 / pairs) (a prediction interval's; the training data's
        statistics, with no pair, are taken as known)."""
        return self.std * (np.sqrt(1 + 1 / self.pairs) if self.pairs else 1.0)

    def to_dict(self) -> dict:
        return {"mean": round(self.mean, 4), "std": round(self.std, 4), "pairs": self.pairs, "source": self.source}


def cross_person_scores(names: list[str], embeddings: np.ndarray) -> np.ndarray:
    """For each pair of distinct people, the similarity of their most alike enrollments, [P(P-1)/2]."""
    people = sorted(set(names))
    if len(people) < 2:
        return np.zeros(0)
    idx = np.asarray([people.index(n) for n in names])
    sims = embeddings @ embeddings.T
    best = np.full((len(people), len(people)), -np.inf)
    np.maximum.at(best, (idx[:, None].repeat(len(idx), 1), idx[None, :].repeat(len(idx), 0)), sims)
    return best[np.triu_indices(len(people), 1)]


def gallery_cohort(names: list[str], embeddings: np.ndarray, prior: dict | None = None,
                   prior_pairs: int = PRIOR_PAIRS) -> Cohort | None:
    """The cohort statistics of a gallery: the mean of its cross-person scores (the prior's
    ({mean, std}, the training data's) with no pair yet), and their spread shrunk towards the
    prior's by ``prior_pairs`` pseudo pairs (a spread needs more pairs than a mean; a new
    sensor shifts the mean, so it is never borrowed); None without pairs and without a prior."""
    c = cross_person_scores(names, embeddings)
    n = len(c)
    if prior is None:
        return Cohort(float(c.mean()), float(max(c.std(), 1e-6)), n, "gallery") if n >= 2 else None
    k = prior_pairs
    mean = float(c.mean()) if n else prior["mean"]  # a new sensor shifts the mean: never borrow it
    # the n pairs give n - 1 degrees of freedom about their own mean (one pair says nothing of a spread)
    var = ((((c - mean) ** 2).sum() if n else 0.0) + k * prior["std"] ** 2) / (max(n - 1, 0) + k)
    source = "training" if n == 0 else "gallery+training" if n < 4 * k else "gallery"
    return Cohort(float(mean), float(max(np.sqrt(var), 1e-6)), n, source)


def cohort_of(meta: dict, names: list[str], embeddings: np.ndarray) -> Cohort | None:
    """The gallery's cohort with the checkpoint's training prior; None when the checkpoint was
    calibrated before gallery normalisation (its raw thresholds apply)."""
    cal = (meta.get("identity") or {}).get("cohort")
    return gallery_cohort(names, embeddings, cal["prior"]) if cal else None


def open_set_threshold(meta: dict, seconds: float | None, people: int, cohort: Cohort | None) -> float:
    """The threshold for a query of ``seconds`` of walking against a gallery of ``people``
    people with this ``cohort`` (`cohort_of`); see the module doc. Without a cohort, the
    checkpoint's raw threshold (`threshold_of`)."""
    if cohort is None:
        return threshold_of(meta, seconds, people)
    cal = meta["identity"]["cohort"]
    rows = sorted(cal["by_seconds"], key=lambda r: r["seconds"])
    fitting = [r for r in rows if seconds is not None and r["seconds"] <= seconds]
    tail = (fitting[-1] if fitting else rows[0])["impostor_z_tail"]
    p = 1 - (1 - float(cal["far"])) ** (1 / max(people, 1))
    logp, z = np.log(tail["p"])[::-1], np.asarray(tail["z"])[::-1]  # increasing log p
    if p >= tail["p"][-1]:
        zq = float(np.interp(np.log(p), logp, z))
    else:  # beyond the stored tail (huge galleries): extend it as a normal tail would
        zq = float(z[0] + NormalDist().inv_cdf(1 - p) - NormalDist().inv_cdf(1 - tail["p"][-1]))
    return cohort.mean + cohort.predictive_std * zq
