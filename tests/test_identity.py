"""Gallery-normalised open-set decisions (engine/identity.py) on toy galleries whose score
distributions are known: a sensor where everyone looks alike shifts every score, and the
threshold follows the gallery instead of staying at a raw cosine value."""

import numpy as np

from engine.identity import (UNKNOWN, cohort_of, cross_person_scores, gallery_cohort, identify,
                             open_set_threshold, threshold_of)


def _gallery(people: int, alike: float, dim: int = 64, seed: int = 0):
    """Unit embeddings whose cross-person cosines are all exactly ``alike``: a shared direction
    plus an orthogonal direction of each person's own. Also returns a query maker."""
    basis = np.linalg.qr(np.random.default_rng(seed).normal(size=(dim, dim)))[0]
    common, own = basis[0], basis[1:]

    def person(k: int, rho: float = alike) -> np.ndarray:
        return np.sqrt(rho) * common + np.sqrt(1 - rho) * own[k]
    return [f"p{k}" for k in range(people)], np.stack([person(k) for k in range(people)]), person


# Calibration as `skelstream eval calibrate` stores it: a stranger's score to one person sits at
# (score - mean) / std <= 2 with probability 0.99, <= 3 with 0.999.
META = {"name": "toy", "identity": {
    "far": 0.01, "threshold": 0.49,  # the raw threshold of the training data
    "cohort": {"far": 0.05, "prior": {"mean": 0.2, "std": 0.1},
               "by_seconds": [{"seconds": 2.0, "impostor_z_tail": {"p": [0.1, 0.01, 0.001], "z": [1.0, 2.0, 3.0]}}]}}}


def test_cross_person_scores_take_each_pair_of_people_once_at_their_most_alike_enrollments():
    names, emb, person = _gallery(4, 0.3)
    names, emb = names + ["p0"], np.vstack([emb, person(1, 0.9)[None] * 0 + person(0)])  # a second enrollment of p0
    scores = cross_person_scores(names, emb)
    assert len(scores) == 6 and np.allclose(scores, 0.3)


def test_the_threshold_follows_the_gallery_when_every_score_shifts():
    decisions = {}
    for alike in (0.2, 0.85):  # the training sensor, and one where everyone looks alike
        names, emb, person = _gallery(10, alike)
        cohort = cohort_of(META, names, emb)
        assert cohort.source == "gallery" and abs(cohort.mean - alike) < 1e-9  # never the prior's mean
        assert abs(cohort.std - np.sqrt(0.1 ** 2 / 45)) < 1e-9  # the spread leans on the prior's (45 pairs: 44 dof + 1)
        thr = open_set_threshold(META, 3.0, 10, cohort)
        stranger = person(20)  # the same "alike" to everybody: a stranger of that place
        genuine = 0.5 * person(3) + 0.5 * stranger / np.linalg.norm(stranger)
        decisions[alike] = (identify(stranger, names, emb, thr).decision,
                            identify(genuine, names, emb, thr).decision, thr)
        raw = identify(stranger, names, emb, threshold_of(META)).decision
        decisions[alike] += (raw,)
    assert decisions[0.2][:2] == (UNKNOWN, "p3")
    assert decisions[0.85][:2] == (UNKNOWN, "p3")  # the normalised decision holds on the new sensor
    assert decisions[0.85][2] > 0.85 > decisions[0.2][2]
    assert decisions[0.85][3] != UNKNOWN  # while the raw cosine threshold names the stranger


def test_small_galleries_lean_on_the_training_data_and_the_threshold_grows_with_the_gallery():
    names, emb, _ = _gallery(12, 0.85)
    one = cohort_of(META, names[:1], emb[:1])
    assert one.source == "training" and one.pairs == 0 and np.allclose((one.mean, one.std), (0.2, 0.1))
    few = cohort_of(META, names[:3], emb[:3])
    assert few.source == "gallery+training" and abs(few.mean - 0.85) < 1e-9 and abs(few.std - 0.1 * np.sqrt(1 / 3)) < 1e-9
    assert abs(few.predictive_std - few.std * np.sqrt(4 / 3)) < 1e-12  # the mean of 3 pairs is itself uncertain
    many = cohort_of(META, names, emb)
    assert many.source == "gallery" and many.std < few.std
    # z for 1 person at FAR 5 %: between the stored 1.0 (p 0.1) and 2.0 (p 0.01)
    assert 0.2 + 0.1 * 1.0 < open_set_threshold(META, 2.0, 1, one) < 0.2 + 0.1 * 2.0
    # a bigger gallery gives a stranger more chances: a higher z (beyond the stored tail: extended)
    t = [open_set_threshold(META, 2.0, n, one) for n in (1, 10, 100, 1000)]
    assert t == sorted(t) and t[-1] > 0.2 + 0.1 * 3.0
    # without cohort calibration the checkpoint's raw threshold applies
    assert cohort_of({"identity": {"threshold": 0.5}}, names, emb) is None
    assert open_set_threshold({"identity": {"threshold": 0.5}}, 2.0, 12, None) == 0.5


def test_gallery_cohort_without_prior_needs_two_pairs():
    names, emb, _ = _gallery(2, 0.5)
    assert gallery_cohort(names, emb) is None
    names, emb, _ = _gallery(3, 0.5)
    assert abs(gallery_cohort(names, emb).mean - 0.5) < 1e-9


def test_two_people_one_pair_keep_the_training_spread_and_widen_it_for_the_one_score_mean():
    """Two people give one cross-person score: it says nothing of a spread (no degree of freedom),
    so the spread is the training data's, and the mean, one score, is uncertain by as much again.
    Before, the one pair shrank the spread to 1/sqrt(2) of the prior's and a gallery of two
    dissimilar people named about half the strangers (a new user's review)."""
    names, emb, person = _gallery(2, 0.3)
    two = cohort_of(META, names, emb)
    assert two.pairs == 1 and abs(two.mean - 0.3) < 1e-9 and abs(two.std - 0.1) < 1e-9
    assert abs(two.predictive_std - 0.1 * np.sqrt(2)) < 1e-12
    one = cohort_of(META, names[:1], emb[:1])
    assert one.predictive_std == one.std == 0.1  # the training data's statistics are taken as known
    thr = open_set_threshold(META, 2.0, 2, two)
    z = (thr - 0.3) / (0.1 * np.sqrt(2))
    assert 1.0 < z < 2.0  # 2 people at FAR 5 %: p 0.025, between the stored tail's 0.1 and 0.01
    before = 0.3 + 0.1 * np.sqrt(1 / 2) * z  # the old spread: the prior over n + 1 = 2, no widening
    stranger_score = 0.5
    assert before < stranger_score < thr  # named before, unknown now
