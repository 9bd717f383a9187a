"""Open-set identification: a gait embedding against the gallery's enrollments.

A person's score is their best enrollment's cosine similarity to the query (embeddings are
L2-normalised). The decision is the best person's name when that score clears the threshold,
else "unknown". The threshold comes from the checkpoint (``identity.threshold``, calibrated by
``skelstream eval calibrate`` on held-out training walks for a stated false-accept rate) unless
one is given.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from engine.embed import unit

UNKNOWN = "unknown"


@dataclass
class Match:
    decision: str
    score: float
    top: list[tuple[str, float]] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"decision": self.decision, "score": round(self.score, 4),
                "top": [{"name": n, "score": round(s, 4)} for n, s in self.top]}


def person_scores(query: np.ndarray, names: list[str], embeddings: np.ndarray) -> list[tuple[str, float]]:
    """Each enrolled person's best cosine similarity to ``query`` [D], best first."""
    if not names:
        return []
    sims = embeddings @ unit(np.asarray(query, np.float32))
    best: dict[str, float] = {}
    for name, s in zip(names, sims.tolist()):
        best[name] = max(best.get(name, -1.0), s)
    return sorted(best.items(), key=lambda kv: -kv[1])


def identify(query: np.ndarray, names: list[str], embeddings: np.ndarray, threshold: float, k: int = 5) -> Match:
    """The open-set decision for one query embedding, with the top ``k`` people."""
    ranked = person_scores(query, names, embeddings)
    if not ranked:
        return Match(UNKNOWN, 0.0, [])
    name, score = ranked[0]
    return Match(name if score >= threshold else UNKNOWN, score, ranked[:k])


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
