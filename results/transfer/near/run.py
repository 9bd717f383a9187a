"""RULE.md's runs: the body-shape descriptor `mean` (today's: each left/right pair the mean of its
two sides) against `near` (each pair from the side nearer the sensor, frame by frame), both fused
with the bundled gait features as the system does.

    python results/transfer/near/run.py val    # the rule's validation figures -> val.json
    python results/transfer/near/run.py test   # once, after the choice -> test.json

The domains and splits are the stepping rule's (results/transfer/gate/run.py), whose encoding
pass this reuses: its `encode` gives the system's Encoded sequences, and the candidate's
descriptors are made here from the same sequences.
"""
import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import torch

from engine.checkpoint import load_gait
from engine.datasets import open_dataset
from engine.datasets.cache import extract
from engine.shape import _LEFT, _NAMES, _RIGHT, _UNPAIRED, BONES, RIGID, frame_lengths, median_lengths, shape_scores
from engine.skeleton import INDEX, to_canonical
from trainers.evaluate.transfer import Encoded, closed_set, fused_scores

HERE = Path(__file__).parent
spec = importlib.util.spec_from_file_location("gate_run", HERE.parent / "gate" / "run.py")
gate = importlib.util.module_from_spec(spec)
spec.loader.exec_module(gate)

_LEGS = np.array([any(p in _NAMES[i] for p in ("Hip", "Knee", "Ankle", "Foot")) for i in _LEFT])


def _rows(seq):
    """Canonical joints, confidence and per-frame bone and rigid lengths (the columns
    `frame_lengths` had when these runs were made; it has since gained the near-side ones)."""
    j, c, _ = to_canonical(seq.joints, seq.confidence, seq.layout)
    return j, c, frame_lengths(j, c)[:, :len(BONES) + len(RIGID)]


def mean_descriptor(seq) -> np.ndarray:
    """RULE.md's `mean` descriptor (the product's until this rule adopted `near`)."""
    med = median_lengths(_rows(seq)[2])
    bones, extra = med[:len(BONES)], med[len(BONES):]
    left, right = bones[_LEFT], bones[_RIGHT]
    pairs = np.where(np.isnan(left), right, np.where(np.isnan(right), left, (left + right) / 2))
    return np.concatenate([pairs, bones[_UNPAIRED], extra]).astype(np.float32)


def near_descriptor(seq) -> np.ndarray:
    """RULE.md's `near` descriptor of one sequence (`engine.shape.FEATURES` order; the product's
    `engine.shape.describe` since, equal to it)."""
    j, c, rows = _rows(seq)
    given = c > 0
    out = []
    for a, b in (("ShoulderLeft", "ShoulderRight"), ("HipLeft", "HipRight")):
        ok = given[:, INDEX[a]] & given[:, INDEX[b]]
        out.append(np.where(ok, j[:, INDEX[a], 2] <= j[:, INDEX[b], 2], np.nan))  # 1: left nearer, nan: unknown
    left_near = np.where(_LEGS[None, :], out[1][:, None], out[0][:, None])  # [T, pairs]
    left, right = rows[:, _LEFT], rows[:, _RIGHT]
    mean_lr = np.where(np.isnan(left), right, np.where(np.isnan(right), left, (left + right) / 2))
    pick = np.where(left_near == 1, np.where(np.isnan(left), right, left),
                    np.where(left_near == 0, np.where(np.isnan(right), left, right), mean_lr))
    pairs = median_lengths(pick)
    med = median_lengths(rows)
    return np.concatenate([pairs, med[:len(BONES)][_UNPAIRED], med[len(BONES):]]).astype(np.float32)


def with_shapes(enc: Encoded, seqs, describe) -> Encoded:
    return Encoded(enc.person, enc.group, enc.emb, enc.bones, enc.seconds, np.stack([describe(s) for s in seqs]),
                   enc.family)


def encode(model, meta, seqs, person, group, desc, family=None) -> dict:
    plain = gate.encode(model, meta, seqs, person, group, desc, family)["plain"]
    return {"mean": with_shapes(plain, seqs, mean_descriptor), "near": with_shapes(plain, seqs, near_descriptor)}


def figures(probe: Encoded, gallery: Encoded) -> dict:
    return {"fused": closed_set(fused_scores(probe, gallery), probe.person, gallery.person)["rank1"],
            "shape": closed_set(shape_scores(probe.shape, gallery.shape, gallery.person), probe.person,
                                gallery.person)["rank1"]}


CANDIDATES = ("mean", "near")


def rotations(model, meta, name: str, actions: list[str], key: str) -> dict:
    from engine.sequence import resample
    ds = open_dataset(extract(name))
    out = {c: {"fused": [], "shape": []} for c in CANDIDATES}
    for action in actions:
        items = [it for it in ds.items if it.meta["action"] == action]
        seqs = [ds.read(it.path) for it in items]
        keep = [i for i, s in enumerate(seqs) if len(resample(s, float(meta["input"]["fps"]))) >= int(meta["input"]["window"])]
        items, seqs = [items[i] for i in keep], [seqs[i] for i in keep]
        both = encode(model, meta, seqs, [it.meta["subject"] for it in items], [it.meta[key] for it in items], f"{name} {action}")
        enc = both["mean"]
        for g in np.unique(enc.group):
            gi = np.flatnonzero(enc.group == g)
            pi = np.flatnonzero((enc.group != g) & np.isin(enc.person, enc.person[gi]))
            if not len(pi) or len(np.unique(enc.person[gi])) < 2:
                continue
            for cand, e in both.items():
                for k, v in figures(e.take(pi), e.take(gi)).items():
                    out[cand][k].append(v)
    return {c: {k: float(np.mean(v)) for k, v in d.items()} for c, d in out.items()}


def kgbd(model, meta, split: str, sensors=("all",)) -> dict:
    from trainers.evaluate.robustness import CONDITIONS
    from trainers.evaluate.transfer import REDUCED_FAMILY, REDUCTIONS, kgbd_split_items
    ds, g_items, p_items = kgbd_split_items(meta, split)
    g_seqs = [ds.read(it.path) for it in g_items]
    gallery = encode(model, meta, g_seqs, [it.meta["subject"] for it in g_items], ["g"] * len(g_items), "kgbd")
    out = {}
    for sensor in sensors:
        change = CONDITIONS[REDUCTIONS[sensor]] or (lambda seq, _item: seq)
        p_seqs = [change(ds.read(it.path), None) for it in p_items]
        probe = encode(model, meta, p_seqs, [it.meta["subject"] for it in p_items], [sensor] * len(p_items),
                       f"kgbd {sensor}", REDUCED_FAMILY[sensor])
        out[f"kgbd_{split}_{sensor}"] = {c: figures(probe[c], gallery[c]) for c in CANDIDATES}
    return out


def sides(model, meta) -> dict:
    from trainers.evaluate.transfer import kgbd_split_items
    side_runs = gate._side_runs()
    ds, g_items, p_items = kgbd_split_items(meta, "val")
    runs = {role: [(it.meta["subject"], *side_runs(ds.read(it.path))) for it in items]
            for role, items in (("fit", g_items), ("val", p_items))}
    res = {c: {"fused": [], "shape": []} for c in CANDIDATES}
    for g_side, p_side in ((1, 2), (2, 1)):
        gal = [(x[0], x[g_side]) for x in runs["fit"] if x[g_side] is not None]
        prb = [(x[0], x[p_side]) for x in runs["val"] if x[p_side] is not None and x[0] in {p for p, _ in gal}]
        ge = encode(model, meta, [s for _, s in gal], [p for p, _ in gal], ["g"] * len(gal), "kgbd sides")
        pe = encode(model, meta, [s for _, s in prb], [p for p, _ in prb], ["p"] * len(prb), "kgbd sides")
        for cand in res:
            for k, v in figures(pe[cand], ge[cand]).items():
                res[cand][k].append(v)
    return {"kgbd_sides": {c: {k: float(np.mean(v)) for k, v in d.items()} for c, d in res.items()}}


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
        res |= sides(model, meta)
        res["rule"] = {c: float(np.mean([v[c]["fused"] for v in res.values()])) for c in CANDIDATES}
    else:
        res = {"kard_walks": rotations(model, meta, "kard", ["a14"], "session"),
               "nwucla_a04": rotations(model, meta, "nwucla", ["a04"], "view"),
               **kgbd(model, meta, "test", ("all", "openni15"))}
    for k, v in res.items():
        if k == "rule":
            print("mean fused over the five: " + "  ".join(f"{c} {x:.2f}" for c, x in v.items()))
            continue
        print(f"{k:22s} " + "  ".join(f"{c}: fused {v[c]['fused']:5.1f} shape {v[c]['shape']:5.1f}" for c in CANDIDATES), flush=True)
    (HERE / f"{which}.json").write_text(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
