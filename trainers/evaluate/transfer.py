"""Gait models where they never trained: other sensors, other views, fewer joints.

``skelstream eval transfer CHECKPOINT...`` runs three protocols on a gait checkpoint pretrained on
KGBD (Kinect v1, 20 joints, one room), each beside nearest neighbour on median bone lengths
computed in the same run (a learned model that loses to it is a bug):

- ``kard``: KARD's walks (activity 14; OpenNI, 15 joints, 10 people x 3 walks). One walk per
  person is enrolled, the other two are probes; every rotation of which walk is enrolled.
- ``nwucla``: NW-UCLA's "walk around" clips (a04; Kinect v1, 10 people, 3 views). Every clip of
  one view is enrolled, the clips of the two other views are probes; every view in turn.
- ``kgbd``: KGBD's held-out walks of the checkpoint's own split (never seen in pretraining), the
  probes reduced to the joints other sensors give (all; Kinect v1 as recorded; the 18-joint
  Kinect v2 export; OpenNI's 15; MediaPipe's derived spine) against the gallery of the people's
  training walks as recorded.

Closed set: Rank-1, Rank-5, mAP and the CMC of each probe against the enrolled people. Open set
(`engine.identity.open_set_threshold`, the engine's decision): leave-people-out strangers, in
folds of the people (one person a fold up to 10 people, else 10 folds): per fold the others are
enrolled and the fold's people are strangers. "named" is the share of enrolled people's probes
named right, "rejected" the share of strangers' probes left unknown (FAR = 100 - rejected). The
gallery-normalised decision and the raw cosine threshold (`threshold_of`, calibrated on KGBD)
side by side. Bone lengths have no open-set rule (no calibration); their open-set figures are
left out.

Beside the model alone, "model+shape": people ranked by its gait scores fused with body shape
(`engine.shape`, what identify and the engine do), and "shape" alone; in the open set,
"normalised+shape" names the fused ranking's first when their gait score clears the normalised
threshold.

Bone lengths: per sequence the median length of each bone of the canonical tree whose two ends
the sensor gives (not filled), over the frames that have both; two sequences compare by the RMS
difference over the bones both have. Body size is identity here, so no scaling.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from engine.checkpoint import load_gait
from engine.datasets import open_dataset
from engine.datasets.cache import extract
from engine.embed import gait_embedding
from engine.identity import cohort_of, open_set_threshold, threshold_of
from engine.sequence import SkeletonSequence
from engine.shape import (SHAPE_WEIGHT, ShapeGallery, Shapes, describe_rows, frame_lengths, fuse, median_lengths, rms_scores,
                          shape_scores)
from engine.shape import family as skeleton_family
from engine.skeleton import BONES, to_canonical
from trainers.evaluate.metrics import cmc, mean_average_precision
from trainers.evaluate.reid import per_person
from trainers.evaluate.robustness import CONDITIONS
from trainers.gait_data import Walks, protocol_walks, validation_split, walk_dataset

PROTOCOLS = ("kard", "nwucla", "kgbd")
KGBD_JOINT_SETS = ("all", "export18", "openni15", "mediapipe")


def bone_features(seq: SkeletonSequence) -> np.ndarray:
    """Median length of each of `BONES` over the frames giving both its ends, [len(BONES)];
    NaN for a bone the sensor does not give (in under half the frames)."""
    joints, conf, _ = to_canonical(seq.joints, seq.confidence, seq.layout)
    return median_lengths(frame_lengths(joints, conf)[:, :len(BONES)])


def bone_scores(probe: np.ndarray, gallery: np.ndarray) -> np.ndarray:
    """Similarity [P, G] of bone-length features: minus the RMS difference over shared bones."""
    return rms_scores(probe, gallery)


@dataclass
class Encoded:
    """Sequences encoded: person, group (walk or view), embedding, bone lengths, seconds walked,
    body-shape descriptor and its skeleton family (`engine.shape`)."""

    person: np.ndarray
    group: np.ndarray
    emb: np.ndarray
    bones: np.ndarray
    seconds: np.ndarray
    shape: np.ndarray
    family: np.ndarray

    def take(self, rows: np.ndarray) -> "Encoded":
        return Encoded(self.person[rows], self.group[rows], self.emb[rows], self.bones[rows], self.seconds[rows],
                       self.shape[rows], self.family[rows])


def encode_sequences(model, meta: dict, seqs: list[SkeletonSequence], person: list[str], group: list[str],
                     desc: str, family: str | None = None) -> Encoded:
    """Gait embeddings (`gait_embedding`, as enroll/identify make them), bone lengths and body
    shapes (of skeleton ``family``, default each sequence's layout's)."""
    emb, bones, secs, shapes, families = [], [], [], [], []
    for seq in tqdm(seqs, desc=desc, disable=None, leave=False):
        emb.append(gait_embedding(model, meta, seq)[0])
        rows = frame_lengths(*to_canonical(seq.joints, seq.confidence, seq.layout)[:2])  # per-frame lengths, once
        bones.append(median_lengths(rows[:, :len(BONES)]))  # = bone_features(seq)
        shapes.append(describe_rows(rows))  # = engine.shape.describe
        secs.append(len(seq) / seq.fps)
        families.append(family if family is not None else skeleton_family(seq.layout))
    return Encoded(np.asarray(person), np.asarray(group), np.stack(emb), np.stack(bones), np.asarray(secs),
                   np.stack(shapes), np.asarray(families))


def fused_scores(probe: Encoded, gallery: Encoded, weight: float = SHAPE_WEIGHT) -> np.ndarray:
    """Gait and body shape fused, [P, G], per probe as `engine.identity.identify` does (shape
    evidence from the enrollments of the probe's skeleton family; gait alone without any);
    ``weight``: body shape's (`engine.shape.fuse`)."""
    out = probe.emb @ gallery.emb.T
    shapes = ShapeGallery(Shapes(gallery.shape, gallery.family), gallery.person)
    for i in range(len(out)):
        ev = shapes.evidence(Shapes(probe.shape[i:i + 1], probe.family[i:i + 1]))
        if ev is not None:
            out[i] = fuse(out[i:i + 1], ev[None], weight)[0]
    return out


def closed_set(scores: np.ndarray, p_person: np.ndarray, g_person: np.ndarray) -> dict:
    """Rank-1/5, mAP (in %) and the CMC [C] of probe-vs-gallery-item scores [P, G]."""
    classes = np.unique(g_person)
    curve = cmc(per_person(scores, g_person, classes), p_person, classes)
    return {"rank1": 100 * float(curve[0]), "rank5": 100 * float(curve[min(4, len(curve) - 1)]),
            "map": 100 * mean_average_precision(scores, p_person, g_person), "probes": int(len(p_person)),
            "cmc": [round(100 * float(c), 2) for c in curve]}


def open_set(meta: dict, probe: Encoded, gallery: Encoded) -> dict:
    """Leave-people-out open set (see the module doc): named / rejected (in %) with the
    gallery-normalised threshold and with the raw one, and the cohort sources seen."""
    people = np.unique(gallery.person)
    folds = np.array_split(np.random.default_rng(0).permutation(people), min(10, len(people)))
    rules = ("normalised", "normalised+shape", "raw")
    counts = {rule: {"named": 0, "enrolled": 0, "rejected": 0, "strangers": 0} for rule in rules}
    sources: dict[str, int] = {}
    for fold in folds:
        enrolled = ~np.isin(gallery.person, fold)
        g = gallery.take(np.flatnonzero(enrolled))
        names = list(g.person)
        cohort = cohort_of(meta, names, g.emb)
        if cohort is not None:
            sources[cohort.source] = sources.get(cohort.source, 0) + 1
        n = len(set(names))
        classes = np.unique(g.person)
        scores = per_person(probe.emb @ g.emb.T, g.person, classes)
        # gait+shape: the fused ranking names, the named person's gait score is tested (as identify)
        first = per_person(fused_scores(probe, g), g.person, classes).argmax(1) if n >= 2 else scores.argmax(1)
        stranger = np.isin(probe.person, fold)
        for rule in counts:
            pick = first if rule == "normalised+shape" else scores.argmax(1)
            top, best = classes[pick], scores[np.arange(len(pick)), pick]
            thr = np.array([threshold_of(meta, s, n) if rule == "raw"
                            else open_set_threshold(meta, s, n, cohort) for s in probe.seconds])
            accept = best >= thr
            c = counts[rule]
            c["named"] += int((accept & (top == probe.person) & ~stranger).sum())
            c["enrolled"] += int((~stranger).sum())
            c["rejected"] += int((~accept & stranger).sum())
            c["strangers"] += int(stranger.sum())
    out = {rule: {"named": 100 * c["named"] / max(c["enrolled"], 1), "rejected": 100 * c["rejected"] / max(c["strangers"], 1),
                  "far": 100 - 100 * c["rejected"] / max(c["strangers"], 1), "enrolled_probes": c["enrolled"],
                  "stranger_probes": c["strangers"]} for rule, c in counts.items()}
    if "cohort" not in meta["identity"]:
        del out["normalised"], out["normalised+shape"]  # without cohort calibration: the raw rule only
    out["folds"], out["cohort_sources"] = len(folds), sources
    return out


def compare(meta: dict, probe: Encoded, gallery: Encoded) -> dict:
    """Model and bone lengths, closed set, and the model's open set, for one probe/gallery split
    (probes of people the split does not enroll at all are left out)."""
    probe = probe.take(np.flatnonzero(np.isin(probe.person, gallery.person)))
    return {"model": closed_set(probe.emb @ gallery.emb.T, probe.person, gallery.person),
            "model+shape": closed_set(fused_scores(probe, gallery), probe.person, gallery.person),
            "shape": closed_set(shape_scores(probe.shape, gallery.shape, gallery.person), probe.person, gallery.person),
            "bones": closed_set(bone_scores(probe.bones, gallery.bones), probe.person, gallery.person),
            "open_set": open_set(meta, probe, gallery) if "threshold" in (meta.get("identity") or {}) else None}


def _rotations(enc: Encoded, label: str) -> dict:
    """One split per value of ``enc.group``: that group enrolled, the others probes."""
    return {f"{label} {g} enrolled": (np.flatnonzero(enc.group != g), np.flatnonzero(enc.group == g))
            for g in np.unique(enc.group)}


def _dataset_sequences(name: str, action: str, group_key: str):
    ds = open_dataset(extract(name))
    items = [it for it in ds.items if it.meta["action"] == action]
    return ([ds.read(it.path) for it in items], [it.meta["subject"] for it in items],
            [it.meta[group_key] for it in items])


def _mean_rows(rows: dict) -> dict:
    """Mean over the rotations of every number in the rows (CMC curves included)."""
    first = next(iter(rows.values()))

    def avg(vals):
        if isinstance(vals[0], dict):
            return {k: avg([v[k] for v in vals]) for k in vals[0] if all(k in v for v in vals)}
        if isinstance(vals[0], list):
            return [round(float(np.mean(c)), 2) for c in zip(*vals)]
        return round(float(np.mean(vals)), 3) if isinstance(vals[0], (int, float)) else vals[0]
    return avg([rows[k] for k in rows]) if first else {}


def protocol_rotations(model, meta: dict, name: str) -> dict:
    """``kard`` or ``nwucla``: every rotation, and their mean."""
    dataset, action, key, label = {"kard": ("kard", "a14", "session", "walk"),
                                   "nwucla": ("nwucla", "a04", "view", "view")}[name]
    seqs, person, group = _dataset_sequences(dataset, action, key)
    enc = encode_sequences(model, meta, seqs, person, group, f"encoding {name}")
    rows = {split: compare(meta, enc.take(p), enc.take(g)) for split, (p, g) in _rotations(enc, label).items()}
    return {"rotations": rows, "mean": _mean_rows(rows), "sequences": len(seqs), "people": len(set(person))}


# probe joint sets -> how `skelstream eval robustness` makes them (the same sequence transforms)
REDUCTIONS = {"all": "reference", "export18": "joints_export18", "openni15": "joints_openni15",
              "mediapipe": "mediapipe_joints"}
# the probes' skeleton family (`engine.shape.family`): fewer joints of the same tracker keep
# KGBD's (None: as read); MediaPipe's spine is made from hips and shoulders, another definition
REDUCED_FAMILY = {"all": None, "export18": "kinect_v1", "openni15": "kinect_v1", "mediapipe": "mediapipe"}


def kgbd_split_items(meta: dict, split: str = "test"):
    """``(dataset, gallery items, probe items)`` of KGBD for a checkpoint's split and protocol
    (`protocol_walks`: holdout, open world or tracklets). ``split`` "val": the validation walks of
    its training walks against the others instead (training data only: for choosing models)."""
    train = meta["training"]
    if train.get("dataset") != "kgbd":
        raise ValueError(f"the kgbd protocol needs a checkpoint trained on KGBD (this one: {train.get('dataset')})")
    ds = walk_dataset("kgbd", "", train.get("limit_people", 0))
    # the splits only read each walk's person (every KGBD walk is long enough to give windows, so
    # the order is `load_walks`'s)
    person = [it.meta["subject"] for it in ds.items]
    ids = [f"{it.meta['subject']}/{it.meta.get('walk', it.path.stem)}" for it in ds.items]
    walks = Walks(np.zeros((0, 6, 20, 3), np.float32), np.zeros(0, int), person, ids)
    train_ids, gallery_ids, probe_ids = protocol_walks(walks, train.get("protocol", "holdout"), int(train["split_seed"]))
    if split == "val":  # the validation walks of its training walks against the others
        pool = Walks(walks.windows, walks.walk, [person[w] for w in train_ids], [ids[w] for w in train_ids])
        fit, val = validation_split(pool, int(train["split_seed"]), float(train["config"].get("val_fraction", 0.1)))
        gallery_ids, probe_ids = [train_ids[w] for w in fit], [train_ids[w] for w in val]
    by_id = {f"{it.meta['subject']}/{it.meta.get('walk', it.path.stem)}": it for it in ds.items}
    return ds, [by_id[walks.walk_id[w]] for w in gallery_ids], [by_id[walks.walk_id[w]] for w in probe_ids]


def protocol_kgbd(model, meta: dict, joint_sets: tuple[str, ...] = KGBD_JOINT_SETS, split: str = "test") -> dict:
    """KGBD's held-out walks of the checkpoint's split (`kgbd_split_items`), probes with fewer
    joints."""
    ds, g_items, p_items = kgbd_split_items(meta, split)
    gallery = encode_sequences(model, meta, [ds.read(it.path) for it in g_items],
                               [it.meta["subject"] for it in g_items], ["gallery"] * len(g_items), "encoding kgbd gallery")
    probes = [ds.read(it.path) for it in p_items]
    rows = {}
    for sensor in joint_sets:
        change = CONDITIONS[REDUCTIONS[sensor]] or (lambda seq, _item: seq)
        probe = encode_sequences(model, meta, [change(s, None) for s in probes],
                                 [it.meta["subject"] for it in p_items], [sensor] * len(p_items),
                                 f"encoding kgbd probes ({sensor})", REDUCED_FAMILY[sensor])
        rows[f"probes with {sensor} joints"] = compare(meta, probe, gallery)
    return {"rotations": rows, "sequences": len(g_items) + len(p_items), "people": len(set(gallery.person))}


def evaluate(checkpoint: str | None, protocols: tuple[str, ...] = PROTOCOLS, device: str = "cpu",
             split: str = "test") -> dict:
    model, meta = load_gait(checkpoint, device=device)
    out = {"checkpoint": meta.get("name", str(checkpoint)), "split": split, "protocols": {}}
    for name in protocols:
        res = protocol_kgbd(model, meta, split=split) if name == "kgbd" else protocol_rotations(model, meta, name)
        out["protocols"][name] = res
        for split, row in list(res["rotations"].items()) + ([("mean", res["mean"])] if "mean" in res else []):
            o = row["open_set"]
            text = "open set: not calibrated (skelstream eval calibrate --write)"
            if o:
                text = "; ".join(f"{rule}: named {o[rule]['named']:5.1f} rejected {o[rule]['rejected']:5.1f}"
                                 for rule in ("normalised", "normalised+shape", "raw") if rule in o)
            print(f"{name:<7} {split:<28} model Rank-1 {row['model']['rank1']:5.1f} mAP {row['model']['map']:5.1f} | "
                  f"+shape Rank-1 {row['model+shape']['rank1']:5.1f} | shape {row['shape']['rank1']:5.1f} | "
                  f"bones Rank-1 {row['bones']['rank1']:5.1f} mAP {row['bones']['map']:5.1f} | {text}", flush=True)
    return out


def plot(results: list[dict], path: Path) -> None:
    """CMC curves, one panel per protocol split (the mean for rotations), model(s) and bones."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = []
    for name, res in results[0]["protocols"].items():
        panels += [(name, "mean")] if "mean" in res else [(name, k) for k in res["rotations"]]
    fig, axes = plt.subplots(1, len(panels), figsize=(3.3 * len(panels), 3.2), squeeze=False)
    for ax, (name, split) in zip(axes[0], panels):
        for k, res in enumerate(results):
            row = res["protocols"][name]["mean" if split == "mean" else "rotations"]
            row = row if split == "mean" else row[split]
            for who, style in (("model", "-"), ("model+shape", "--"), ("bones", ":")):
                if who == "bones" and k:
                    continue  # the same for every checkpoint
                curve = row[who]["cmc"]
                name = {"model": res["checkpoint"], "model+shape": f"{res['checkpoint']} + shape"}.get(who, "bone lengths")
                label = f"{name} ({curve[0]:.0f})"
                ax.plot(np.arange(1, len(curve) + 1), curve, style, label=label)
        ax.set_title(f"{name}: {split}", fontsize=9)
        ax.set_xlabel("rank")
        ax.set_ylim(0, 101)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=6, loc="lower right")
    axes[0][0].set_ylabel("identification rate (%)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="skelstream eval transfer", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("checkpoints", nargs="*", help="gait checkpoints without suffix (default: the bundled one)")
    p.add_argument("--protocols", default=",".join(PROTOCOLS), help=f"comma-separated, of {', '.join(PROTOCOLS)}")
    p.add_argument("--split", choices=["test", "val"], default="test",
                   help="kgbd: the held-out walks (test, default) or the validation walks of the training "
                        "data (val: for choosing models; kard and nwucla are other domains either way)")
    p.add_argument("--device", default="cpu")
    p.add_argument("-o", "--out", help="folder for transfer.json and cmc.png")
    args = p.parse_args(argv)
    protocols = tuple(x for x in args.protocols.split(",") if x)
    bad = [x for x in protocols if x not in PROTOCOLS]
    if bad:
        p.error(f"unknown protocol(s) {bad}; known: {', '.join(PROTOCOLS)}")
    if args.split == "val" and protocols != ("kgbd",):
        p.error("--split val is for the kgbd protocol alone (--protocols kgbd)")
    results = [evaluate(c, protocols, args.device, args.split) for c in (args.checkpoints or [None])]
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "transfer.json").write_text(json.dumps(results, indent=1))
        plot(results, out / "cmc.png")
        print(f"wrote {out / 'transfer.json'} and {out / 'cmc.png'}")


if __name__ == "__main__":
    main()
