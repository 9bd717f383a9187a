"""RULE.md's runs: gait dynamics (`dyn`) as a third identity cue.

    python results/transfer/dynamics/run.py val    # the rule's figures -> val.json
    python results/transfer/dynamics/run.py test   # once, after the choice -> test.json

Rank-1 (%) of each ranking, per-person best enrollment, as `results/transfer/mirror/run.py`
measures (the same splits and rotations).
"""
import json
import sys
from pathlib import Path

import numpy as np
import torch

from engine.checkpoint import load_gait
from engine.datasets import open_dataset
from engine.datasets.cache import extract
from engine.shape import Shapes, ShapeGallery, fuse, shape_scores, znorm
from engine.skeleton import INDEX, to_canonical
from trainers.evaluate.robustness import CONDITIONS
from trainers.evaluate.transfer import (REDUCED_FAMILY, REDUCTIONS, bone_scores, closed_set, encode_sequences,
                                        fused_scores, kgbd_split_items)

HERE = Path(__file__).parent
SIDES = ("Left", "Right")
PERCENTILES = (10, 50, 90)


def _angle(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    cos = (u * v).sum(-1) / (np.linalg.norm(u, axis=-1) * np.linalg.norm(v, axis=-1) + 1e-9)
    return np.degrees(np.arccos(np.clip(cos, -1, 1)))


def dynamics(joints: np.ndarray, confidence: np.ndarray, layout) -> np.ndarray:
    """RULE.md's `dyn`: 18 features of a sequence (NaN where not given in half the frames)."""
    j, c, _ = to_canonical(joints, confidence, layout)
    j = j.astype(np.float64)
    g = c > 0

    def p(name):
        return j[:, INDEX[name]], g[:, INDEX[name]]

    (sl, gsl), (sr, gsr), (hl, ghl), (hr, ghr) = p("ShoulderLeft"), p("ShoulderRight"), p("HipLeft"), p("HipRight")
    down, gdown = (hl + hr) / 2 - (sl + sr) / 2, gsl & gsr & ghl & ghr
    signals = []
    for kind in ("knee", "elbow", "hip", "shoulder"):
        per_side = []
        for s in SIDES:
            if kind == "knee":
                (a, ga), (b, gb), (e, ge) = p(f"Hip{s}"), p(f"Knee{s}"), p(f"Ankle{s}")
                val, ok = _angle(a - b, e - b), ga & gb & ge
            elif kind == "elbow":
                (a, ga), (b, gb), (e, ge) = p(f"Shoulder{s}"), p(f"Elbow{s}"), p(f"Wrist{s}")
                val, ok = _angle(a - b, e - b), ga & gb & ge
            elif kind == "hip":
                (a, ga), (b, gb) = p(f"Hip{s}"), p(f"Knee{s}")
                val, ok = _angle(down, b - a), gdown & ga & gb
            else:
                (a, ga), (b, gb) = p(f"Shoulder{s}"), p(f"Elbow{s}")
                val, ok = _angle(down, b - a), gdown & ga & gb
            per_side.append(_stats(val, ok))
        left, right = per_side
        signals.append(np.where(np.isnan(left), right, np.where(np.isnan(right), left, (left + right) / 2)))
    for a, b in (("AnkleLeft", "AnkleRight"), ("WristLeft", "WristRight")):
        (pa, ga), (pb, gb) = p(a), p(b)
        signals.append(_stats(np.linalg.norm(pa - pb, axis=-1), ga & gb))
    return np.concatenate(signals).astype(np.float32)


def _stats(values: np.ndarray, ok: np.ndarray) -> np.ndarray:
    if ok.sum() < max(1, 0.5 * len(ok)):
        return np.full(len(PERCENTILES), np.nan)
    return np.percentile(values[ok], PERCENTILES)


def scores(probe, gallery, p_dyn, g_dyn) -> dict:
    """Rank-1 of every ranking of RULE.md."""
    gait = probe.emb @ gallery.emb.T
    plain = fused_scores(probe, gallery)
    ext = ShapeGallery(Shapes(np.concatenate([gallery.shape, g_dyn], 1), gallery.family), gallery.person)
    dyn_only = shape_scores(p_dyn, g_dyn, gallery.person)
    shape_dyn, thirds = gait.copy(), gait.copy()
    base = ShapeGallery(Shapes(gallery.shape, gallery.family), gallery.person)
    for i in range(len(gait)):
        q = Shapes(np.concatenate([probe.shape[i:i + 1], p_dyn[i:i + 1]], 1), probe.family[i:i + 1])
        ev = ext.evidence(q)
        if ev is not None:
            shape_dyn[i] = fuse(gait[i:i + 1], ev[None])[0]
        sh = base.evidence(Shapes(probe.shape[i:i + 1], probe.family[i:i + 1]))
        dy = np.where(gallery.family == probe.family[i], dyn_only[i], np.nan)
        parts = [znorm(gait[i:i + 1])[0], znorm(dy[None])[0]] + ([znorm(sh[None])[0]] if sh is not None else [])
        thirds[i] = np.mean(parts, 0)
    r = lambda s: closed_set(s, probe.person, gallery.person)["rank1"]  # noqa: E731
    return {"plain": r(plain), "shape_dyn": r(shape_dyn), "thirds": r(thirds), "dyn": r(dyn_only),
            "bones": r(bone_scores(probe.bones, gallery.bones)), "gait": r(gait)}


def rotations(model, meta, name, actions, key) -> dict:
    ds = open_dataset(extract(name))
    rows = []
    for action in actions:
        items = [it for it in ds.items if it.meta["action"] == action]
        seqs = [ds.read(it.path) for it in items]
        keep = [i for i, s in enumerate(seqs) if len(s) >= int(meta["input"]["window"])]
        items, seqs = [items[i] for i in keep], [seqs[i] for i in keep]
        enc = encode_sequences(model, meta, seqs, [it.meta["subject"] for it in items], [it.meta[key] for it in items],
                               f"{name} {action}")
        dyn = np.stack([dynamics(s.joints, s.confidence, s.layout) for s in seqs])
        for g in np.unique(enc.group):
            gi = np.flatnonzero(enc.group == g)
            pi = np.flatnonzero((enc.group != g) & np.isin(enc.person, enc.person[gi]))
            if len(pi) and len(np.unique(enc.person[gi])) >= 2:
                rows.append(scores(enc.take(pi), enc.take(gi), dyn[pi], dyn[gi]))
    return {k: float(np.mean([r[k] for r in rows])) for k in rows[0]}


def kgbd(model, meta, split, sensors=("all",)) -> dict:
    ds, g_items, p_items = kgbd_split_items(meta, split)
    g_seqs = [ds.read(it.path) for it in g_items]
    gallery = encode_sequences(model, meta, g_seqs, [it.meta["subject"] for it in g_items], ["g"] * len(g_items), "kgbd")
    g_dyn = np.stack([dynamics(s.joints, s.confidence, s.layout) for s in g_seqs])
    out = {}
    for sensor in sensors:
        change = CONDITIONS[REDUCTIONS[sensor]] or (lambda seq, _item: seq)
        p_seqs = [change(ds.read(it.path), None) for it in p_items]
        probe = encode_sequences(model, meta, p_seqs, [it.meta["subject"] for it in p_items], [sensor] * len(p_items),
                                 f"kgbd {sensor}", REDUCED_FAMILY[sensor])
        p_dyn = np.stack([dynamics(s.joints, s.confidence, s.layout) for s in p_seqs])
        out[f"kgbd_{split}_{sensor}"] = scores(probe, gallery, p_dyn, g_dyn)
    return out


def main():
    torch.set_num_threads(2)
    which = sys.argv[1] if len(sys.argv) > 1 else "val"
    model, meta = load_gait(None)
    if which == "val":
        others = ["a01", "a02", "a03", "a05", "a06", "a08", "a09", "a11", "a12"]
        res = {"nwucla_other_actions": rotations(model, meta, "nwucla", others, "view")}
        for name in ("utd_mhad", "msr_action3d"):
            ds = open_dataset(extract(name))
            res[name] = rotations(model, meta, name, sorted({it.meta["action"] for it in ds.items}), "session")
        res |= kgbd(model, meta, "val")
        res["mean"] = {k: float(np.mean([v[k] for v in res.values()])) for k in next(iter(res.values()))}
    else:
        res = {"nwucla_a04": rotations(model, meta, "nwucla", ["a04"], "view"),
               "kard_walks": rotations(model, meta, "kard", ["a14"], "session"),
               **kgbd(model, meta, "test", ("all", "openni15"))}
    for k, v in res.items():
        print(f"{k:24s} " + "  ".join(f"{c} {x:5.1f}" for c, x in v.items()), flush=True)
    (HERE / f"{which}.json").write_text(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
