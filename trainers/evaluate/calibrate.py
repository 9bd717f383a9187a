"""Calibrate the open-set threshold of a gait checkpoint on held-out training walks.

The data are the checkpoint's own training walks, split as its training run split them: the
walks it fitted on are the gallery (enrolled from whole walks, as ``skelstream enroll`` does),
the validation walks it only used for early stopping are the queries, cut into segments of each length
in ``seconds`` (the live engine decides on what a track has walked so far). Test walks (the held-out probes) are never
touched. For each query segment:

- genuine score: its best similarity to its own person's enrolled walks;
- impostor score: its best similarity to anybody else, i.e. what a stranger scores against a
  gallery that lacks them.

Per length, the threshold is the (1 - FAR) quantile of the impostor scores, so that a stranger
is named with probability FAR by this gallery of all training people; the genuine accept rate
(TAR) at that threshold, rank-1, and the rank-1 accuracy of the accepted are reported. A
stranger's chance of a false match grows with the gallery, so the upper tail of the per-person
impostor scores is stored too: `engine.identity.threshold_of` turns it into the threshold that
keeps the same FAR for the gallery in use; ``gallery_check`` tests that model out of sample
(tail fitted on half the query people, FAR measured on the other half against random galleries
of 5 to 50 people). ``--write`` stores it in the checkpoint's JSON as ``identity``.

Gallery-normalised decisions (`engine.identity.open_set_threshold`, what the engine, ``identify``
and the app use) need ``identity.cohort``: the cross-person scores of this gallery (mean and
spread, also the prior for small galleries elsewhere) and, per query length, the upper tail of
the per-person impostor scores in those units, ``(impostor - mean) / spread``. Its false-accept
rate is ``--cohort-far`` (default 5 %: the rate a user's open set is built for; chosen before
any transfer figure was measured, and with room for the shift a new sensor brings).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from engine.checkpoint import checkpoint_base, load_gait, read_meta
from engine.identity import gallery_cohort
from engine.embed import unit, window_features
from engine.models.sge_la import window_options
from trainers.evaluate.reid import encode, walk_means
from trainers.gait_data import load_walks, protocol_walks, validation_split, walk_dataset


TAIL_P = np.logspace(-1, -4.5, 36)  # upper-tail probabilities kept of the per-person impostor scores


def segment_means(features: np.ndarray, walk: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Normalised means of consecutive groups of ``size`` windows within each walk:
    (segments [S, D], walk of each segment [S]). A walk's last partial group is dropped."""
    segs, owner = [], []
    for w in np.unique(walk):
        rows = np.flatnonzero(walk == w)
        for s in range(0, len(rows) - size + 1, size):
            segs.append(unit(unit(features[rows[s:s + size]]).mean(0)))
            owner.append(w)
    return np.asarray(segs), np.asarray(owner)


def gallery_far(per_person: np.ndarray, q_person: np.ndarray, people: np.ndarray, seconds: float, far: float,
                sizes: tuple[int, ...] = (5, 10, 20, 50), draws: int = 300, seed: int = 0) -> list[dict]:
    """Out-of-sample check of `engine.identity.threshold_of`'s gallery-size model.

    The query people are split in two halves: the impostor tail is fitted on the first half's
    per-person scores; the second half are strangers to galleries of N people drawn at random
    (``draws`` per size, never holding the stranger): the measured false-accept rate at the
    threshold for N people is compared with ``far``."""
    from engine.identity import threshold_of

    rng = np.random.default_rng(seed)
    who = np.unique(q_person)
    rng.shuffle(who)
    fit = np.isin(q_person, who[: len(who) // 2])
    other = per_person[fit][q_person[fit][:, None] != people[None, :]]
    tail = {"p": TAIL_P.tolist(), "score": np.quantile(other, 1 - TAIL_P).tolist()}
    meta = {"identity": {"far": far, "threshold": 0.0, "by_seconds": [{"seconds": seconds, "threshold": 0.0,
                                                                       "impostor_tail": tail}]}}
    scores, owner = per_person[~fit], q_person[~fit]
    rows = []
    for n in sizes:
        if n >= len(people):
            continue
        threshold = threshold_of(meta, seconds, n)
        accepted = trials = 0
        for _ in range(draws):
            chosen = rng.choice(len(people), n, replace=False)
            stranger = ~np.isin(owner, people[chosen])
            accepted += int((scores[stranger][:, chosen].max(1) >= threshold).sum())
            trials += int(stranger.sum())
        rows.append({"people": n, "threshold": round(threshold, 5), "far": round(accepted / trials, 5),
                     "trials": trials})
    return rows


def calibrate(checkpoint: str, far: float = 0.01, seconds: tuple[float, ...] = (2.0, 3.0, 5.0, 10.0),
              data_root: str = "", device: str = "cpu", cohort_far: float = 0.05) -> tuple[dict, dict]:
    """(the ``identity`` block, the genuine and impostor scores of each query length).

    One threshold per query length in ``seconds`` (the longer a track has walked, the surer
    its embedding); ``threshold`` is the one of the shortest length."""
    model, meta = load_gait(checkpoint, device=device)
    train = meta["training"]
    length = int(meta["input"]["window"])
    ds = walk_dataset(train["dataset"], data_root or train.get("root", ""), train.get("limit_people", 0))
    walks = load_walks(ds, length, **window_options(meta["input"]))
    seed = int(train["split_seed"])
    train_ids = protocol_walks(walks, train["protocol"], seed)[0]
    pool = walks.subset(train_ids)
    fit_ids, val_ids = validation_split(pool, seed, float(train["config"].get("val_fraction", 0.1)))
    gal, qry = pool.subset(fit_ids), pool.subset(val_ids)
    g_emb = walk_means(window_features(model, encode(model, gal.windows)["sequence"]), gal.walk, len(fit_ids))
    g_person = np.asarray(gal.walk_person)
    q_feat = window_features(model, encode(model, qry.windows)["sequence"])
    cohort = gallery_cohort(list(g_person), g_emb)
    rows, scores, z_rows = [], {}, []
    for sec in sorted(seconds):
        size = max(1, round(sec * float(meta["input"].get("fps", 30.0)) / length))
        q_emb, q_walk = segment_means(q_feat, qry.walk, size)
        q_person = np.asarray(qry.walk_person)[q_walk]
        sims = q_emb @ g_emb.T
        own = g_person[None, :] == q_person[:, None]
        genuine = np.where(own, sims, -np.inf).max(1)
        impostor = np.where(own, -np.inf, sims).max(1)
        keep = np.isfinite(genuine)  # a person whose every training walk went to validation has no gallery
        genuine, impostor, q_person, sims = genuine[keep], impostor[keep], q_person[keep], sims[keep]
        threshold = float(np.quantile(impostor, 1 - far))
        accepted = genuine >= threshold
        named = g_person[sims.argmax(1)]
        # per-person impostor scores (each query against each other person's best walk): the
        # threshold for any gallery size N follows from their upper tail (see identity.threshold_of)
        people = np.unique(g_person)
        per_person = np.stack([np.where(g_person[None, :] == p, sims, -np.inf).max(1) for p in people], 1)
        other = per_person[q_person[:, None] != people[None, :]]
        z = (other - cohort.mean) / cohort.std
        z_rows.append({"seconds": sec, "impostor_z_tail": {
            "p": TAIL_P.tolist(), "z": [round(float(v), 4) for v in np.quantile(z, 1 - TAIL_P)], "samples": int(z.size)}})
        rows.append({"seconds": sec, "threshold": round(threshold, 5), "tar": round(float(accepted.mean()), 4),
                     "impostor_tail": {"p": TAIL_P.tolist(),
                                       "score": [round(float(v), 5) for v in np.quantile(other, 1 - TAIL_P)],
                                       "samples": int(other.size)},
                     "rank1": round(float((named == q_person).mean()), 4),
                     "rank1_of_accepted": round(float((named[accepted] == q_person[accepted]).mean()), 4)
                     if accepted.any() else 0.0, "queries": int(keep.sum()),
                     "gallery_check": gallery_far(per_person, q_person, people, sec, far)})
        scores[sec] = {"genuine": genuine, "impostor": impostor}
    block = {
        "far": far, "threshold": rows[0]["threshold"], "query_seconds": rows[0]["seconds"], "tar": rows[0]["tar"],
        "by_seconds": rows, "query_walks": len(val_ids), "gallery_walks": len(fit_ids), "people": len(set(g_person)),
        "data": f"{train['dataset']} {train['protocol']} split {seed}: validation walks of the training data "
                "(queries) against the fitted training walks (gallery); no test walk",
        "cohort": {"far": cohort_far, "prior": {"mean": round(cohort.mean, 5), "std": round(cohort.std, 5),
                                                "pairs": cohort.pairs}, "by_seconds": z_rows},
    }
    return block, scores


def plot(scores: dict, block: dict, path: Path) -> None:
    """Genuine and impostor score histograms per query length, with the thresholds."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(scores), figsize=(3.2 * len(scores), 3.2), sharey=True, squeeze=False)
    for ax, row in zip(axes[0], block["by_seconds"]):
        sc = scores[row["seconds"]]
        bins = np.linspace(min(sc["impostor"].min(), sc["genuine"].min()), 1, 50)
        ax.hist(sc["impostor"], bins, alpha=0.6, label="impostor", density=True)
        ax.hist(sc["genuine"], bins, alpha=0.6, label="genuine", density=True)
        ax.axvline(row["threshold"], color="k", ls="--")
        ax.set_title(f"{row['seconds']:g} s: TAR {row['tar']:.0%} at FAR {block['far']:.0%}", fontsize=9)
        ax.set_xlabel("cosine similarity")
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="skelstream eval calibrate", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("checkpoint", help="gait checkpoint without suffix")
    p.add_argument("--far", type=float, default=0.01, help="false-accept rate to calibrate for (default 0.01)")
    p.add_argument("--cohort-far", type=float, default=0.05,
                   help="false-accept rate of the gallery-normalised decisions (default 0.05)")
    p.add_argument("--seconds", type=float, nargs="+", default=[2.0, 3.0, 5.0, 10.0],
                   help="query lengths to calibrate, one threshold each (default 2 3 5 10 s)")
    p.add_argument("--data-root", default="")
    p.add_argument("--device", default="cpu")
    p.add_argument("--write", action="store_true", help="store the result in the checkpoint's JSON")
    p.add_argument("-o", "--out", help="folder for calibration.json and scores.png")
    args = p.parse_args(argv)
    block, scores = calibrate(args.checkpoint, args.far, args.seconds, args.data_root, args.device, args.cohort_far)
    print(json.dumps(block, indent=2))
    print(f"gallery-size check (target FAR {args.far:g}; tail fitted on half the query people, measured "
          "on the other half as strangers to random galleries):")
    for row in block["by_seconds"]:
        print(f"  {row['seconds']:g} s: " + ", ".join(f"{c['people']} people thr {c['threshold']:.3f} FAR "
                                                   f"{c['far']:.2%}" for c in row["gallery_check"]))
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "calibration.json").write_text(json.dumps(block, indent=2))
        plot(scores, block, out / "scores.png")
    if args.write:
        path = checkpoint_base(args.checkpoint).with_suffix(".json")
        meta = read_meta(args.checkpoint)
        path.write_text(json.dumps(meta | {"identity": block}, indent=2))
        print(f"wrote the threshold into {path}")


if __name__ == "__main__":
    main()
