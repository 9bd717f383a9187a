"""Re-ID metrics: CMC, Rank-k, nAUC and mAP."""

from __future__ import annotations

import numpy as np


def cmc(scores: np.ndarray, labels: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """Cumulative matching curve [C]: the fraction of probes whose true class is within the top
    k, for k = 1..C. ``scores`` [P, C] (higher = more alike), ``labels`` [P] among ``classes`` [C].

    Ties are broken pessimistically (a tie with the true class counts as ranked above it).
    """
    truth = np.array([np.flatnonzero(classes == y)[0] for y in labels])
    true_score = scores[np.arange(len(scores)), truth]
    rank = (scores >= true_score[:, None]).sum(1)  # 1 = best
    return np.array([(rank <= k).mean() for k in range(1, scores.shape[1] + 1)])


def nauc(curve: np.ndarray) -> float:
    """Area under the CMC curve normalised by the number of ranks (1.0 = always first)."""
    return float(curve.mean())


def mean_average_precision(scores: np.ndarray, probe_labels: np.ndarray,
                           gallery_labels: np.ndarray) -> float:
    """mAP of ranking gallery items [G] for each probe by ``scores`` [P, G] (higher first).

    A probe with no relevant gallery item is skipped.
    """
    aps = []
    for s, y in zip(scores, probe_labels):
        order = np.argsort(-s, kind="stable")
        hits = gallery_labels[order] == y
        if not hits.any():
            continue
        precision = np.cumsum(hits) / np.arange(1, len(hits) + 1)
        aps.append(float(precision[hits].mean()))
    return float(np.mean(aps)) if aps else float("nan")


def summary(scores: np.ndarray, labels: np.ndarray, classes: np.ndarray) -> dict:
    """Rank-1, Rank-5 and nAUC (in %) of class scores [P, C]."""
    curve = cmc(scores, labels, classes)
    return {"rank1": 100 * float(curve[0]), "rank5": 100 * float(curve[min(4, len(curve) - 1)]),
            "nauc": 100 * nauc(curve), "probes": int(len(labels))}


def item_ranks(scores: np.ndarray, probe_labels: np.ndarray, gallery_labels: np.ndarray,
               ks: tuple[int, ...] = (1, 5, 10)) -> dict:
    """Rank-k (in %) of ranking gallery ITEMS [G] for probes [P] (the tracklet protocol of the
    skeleton re-ID papers): the fraction of probes with a correct item among the k best, ties
    broken pessimistically; and mAP (%). Probes whose person has no gallery item are skipped."""
    return rank_summary(*item_rank_stats(scores, probe_labels, gallery_labels), ks)


def item_rank_stats(scores: np.ndarray, probe_labels: np.ndarray, gallery_labels: np.ndarray
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Per probe with a correct gallery item: the rank of its best correct item, and its
    average precision (probes without one are left out). Chunks of probes can be concatenated."""
    ok = np.array([(gallery_labels == y).any() for y in probe_labels], bool)
    scores, probe_labels = scores[ok], probe_labels[ok]
    correct = gallery_labels[None, :] == probe_labels[:, None]
    best_true = np.where(correct, scores, -np.inf).max(1)
    rank = (np.where(correct, -np.inf, scores) >= best_true[:, None]).sum(1) + 1
    aps = np.array([mean_average_precision(s[None], np.asarray([y]), gallery_labels) for s, y in zip(scores, probe_labels)])
    return rank, aps


def rank_summary(rank: np.ndarray, aps: np.ndarray, ks: tuple[int, ...] = (1, 5, 10)) -> dict:
    """Rank-k and mAP (in %) from `item_rank_stats`."""
    out = {f"rank{k}": 100 * float((rank <= k).mean()) for k in ks}
    return out | {"map": 100 * float(aps.mean()) if len(aps) else float("nan"), "probes": int(len(rank))}
