"""RULE.md's runs: `plain` (every window) against `gate` (stepping windows only, when there are
`STEP_WINDOWS` of them), from one encoding pass per sequence.

    python results/transfer/gate/run.py val    # the rule's validation figures -> val.json
    python results/transfer/gate/run.py test   # once, after the choice -> test.json
"""
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch

import trainers.evaluate.transfer as transfer
from engine.checkpoint import load_gait
from engine.datasets import open_dataset
from engine.datasets.cache import extract
from engine.embed import gait_embedding, unit
from engine.sequence import resample
from engine.skeleton import to_canonical
from trainers.evaluate.robustness import CONDITIONS
from trainers.evaluate.transfer import (REDUCED_FAMILY, REDUCTIONS, Encoded, bone_scores, closed_set, fused_scores,
                                        kgbd_split_items)


def _side_runs():
    """`side_runs` of results/transfer/symmetric/run.py (the addendum's KGBD cross-side domain)."""
    import importlib.util
    here = Path(__file__).resolve().parents[1]
    spec = importlib.util.spec_from_file_location("symmetric_run", here / "symmetric" / "run.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.side_runs


HERE = Path(__file__).parent

STEP_RANGE = 0.15  # m: the ankles' distance ranges over at least this in a second of stepping
STEP_WINDOWS = 5  # stepping windows a gait embedding needs before it leaves the others out


LEGS = ("AnkleLeft", "AnkleRight", "KneeLeft", "KneeRight", "FootLeft", "FootRight")  # ankles, their stand-ins


def stepping(joints: np.ndarray, confidence: np.ndarray, fps: float, ends: np.ndarray) -> np.ndarray:
    """Whether the person steps in the second up to each frame of ``ends``: the distance between
    the ankles ranges over at least `STEP_RANGE` there. ``joints [T, 25, 3]`` canonical; a sensor
    without ankles gives them from its feet or knees (`engine.missing.fill_missing`); stored
    coordinates of missing joints are never read."""
    from engine.missing import fill_missing
    from engine.skeleton import INDEX
    idx = [INDEX[n] for n in LEGS]
    legs, _ = fill_missing(joints[:, idx], confidence[:, idx], LEGS)
    d = np.linalg.norm(legs[:, 0] - legs[:, 1], axis=-1)  # [T]
    span = max(1, int(round(fps)))
    ends = np.asarray(ends, np.int64)
    out = np.empty(len(ends), bool)
    for i, e in enumerate(ends):
        seg = d[max(0, e + 1 - span):e + 1]
        out[i] = float(seg.max() - seg.min()) >= STEP_RANGE
    return out



GATED: list[np.ndarray] = []  # the gated embedding of each sequence encode_sequences encodes, in order
KEPT: list[float] = []


def recording_embedding(model, meta, seq):
    """`gait_embedding`, and on the side the gated embedding of RULE.md."""
    emb, per_window = gait_embedding(model, meta, seq)
    f = int(meta["input"]["window"])
    s = resample(seq, float(meta["input"].get("fps", seq.fps)))
    j, c, _ = to_canonical(s.joints, s.confidence, s.layout)
    steps = stepping(j, c, s.fps, np.arange(len(per_window)) * f + f - 1)
    KEPT.append(float(steps.mean()))
    GATED.append(unit(per_window[steps].mean(0)) if steps.sum() >= STEP_WINDOWS else emb)
    return emb, per_window


transfer.gait_embedding = recording_embedding


def encode(model, meta, seqs, person, group, desc, family=None) -> dict:
    GATED.clear()
    enc = transfer.encode_sequences(model, meta, seqs, person, group, desc, family)
    gated = Encoded(enc.person, enc.group, np.stack(GATED), enc.bones, enc.seconds, enc.shape, enc.family)
    return {"plain": enc, "gate": gated}


def figures(probe: Encoded, gallery: Encoded) -> dict:
    """Rank-1 of the system (gait + shape), of gait alone, and of the bone-length baseline."""
    return {"fused": closed_set(fused_scores(probe, gallery), probe.person, gallery.person)["rank1"],
            "gait": closed_set(probe.emb @ gallery.emb.T, probe.person, gallery.person)["rank1"],
            "bones": closed_set(bone_scores(probe.bones, gallery.bones), probe.person, gallery.person)["rank1"]}


@dataclass
class Experiment:
    """Candidates judged on the rule's domains: ``encode`` gives {candidate: Encoded} for a list
    of sequences (the first candidate is today's), ``figures`` the numbers of one probe/gallery
    split, ``extra`` numbers added to each domain's row (then reset)."""

    encode: Callable = encode
    figures: Callable = figures
    extra: Callable = lambda: {"stepping_windows": float(np.mean(KEPT))}
    reset: Callable = KEPT.clear


def _mean(out: dict) -> dict:
    return {c: {k: float(np.mean(v)) for k, v in d.items()} for c, d in out.items()}


def _add(out: dict, exp: Experiment, probe: dict, gallery: dict) -> None:
    for cand in probe:
        for k, v in exp.figures(probe[cand], gallery[cand]).items():
            out.setdefault(cand, {}).setdefault(k, []).append(v)


def rotations(model, meta, name: str, actions: list[str], key: str, exp: Experiment = Experiment()) -> dict:
    ds = open_dataset(extract(name))
    out: dict = {}
    exp.reset()
    for action in actions:
        items = [it for it in ds.items if it.meta["action"] == action]
        seqs = [ds.read(it.path) for it in items]
        keep = [i for i, s in enumerate(seqs) if len(resample(s, float(meta["input"]["fps"]))) >= int(meta["input"]["window"])]
        items, seqs = [items[i] for i in keep], [seqs[i] for i in keep]
        cands = exp.encode(model, meta, seqs, [it.meta["subject"] for it in items], [it.meta[key] for it in items],
                           f"{name} {action}")
        enc = next(iter(cands.values()))
        for g in np.unique(enc.group):
            gi = np.flatnonzero(enc.group == g)
            pi = np.flatnonzero((enc.group != g) & np.isin(enc.person, enc.person[gi]))
            if not len(pi) or len(np.unique(enc.person[gi])) < 2:
                continue
            _add(out, exp, {c: e.take(pi) for c, e in cands.items()}, {c: e.take(gi) for c, e in cands.items()})
    return _mean(out) | exp.extra()


def kgbd(model, meta, split: str, sensors=("all",), exp: Experiment = Experiment()) -> dict:
    ds, g_items, p_items = kgbd_split_items(meta, split)
    exp.reset()
    gallery = exp.encode(model, meta, [ds.read(it.path) for it in g_items], [it.meta["subject"] for it in g_items],
                         ["g"] * len(g_items), "kgbd")
    out = {}
    for sensor in sensors:
        change = CONDITIONS[REDUCTIONS[sensor]] or (lambda seq, _item: seq)
        probe = exp.encode(model, meta, [change(ds.read(it.path), None) for it in p_items],
                           [it.meta["subject"] for it in p_items], [sensor] * len(p_items), f"kgbd {sensor}",
                           REDUCED_FAMILY[sensor])
        row: dict = {}
        _add(row, exp, probe, gallery)
        out[f"kgbd_{split}_{sensor}"] = _mean(row) | exp.extra()
    return out


def sides(model, meta, exp: Experiment = Experiment()) -> dict:
    side_runs = _side_runs()
    ds, g_items, p_items = kgbd_split_items(meta, "val")
    runs = {role: [(it.meta["subject"], *side_runs(ds.read(it.path))) for it in items]
            for role, items in (("fit", g_items), ("val", p_items))}
    out: dict = {}
    exp.reset()
    for g_side, p_side in ((1, 2), (2, 1)):
        gal = [(x[0], x[g_side]) for x in runs["fit"] if x[g_side] is not None]
        prb = [(x[0], x[p_side]) for x in runs["val"] if x[p_side] is not None and x[0] in {p for p, _ in gal}]
        ge = exp.encode(model, meta, [s for _, s in gal], [p for p, _ in gal], ["g"] * len(gal), "kgbd sides")
        pe = exp.encode(model, meta, [s for _, s in prb], [p for p, _ in prb], ["p"] * len(prb), "kgbd sides")
        _add(out, exp, pe, ge)
    return {"kgbd_sides": _mean(out) | exp.extra()}


def run(which: str, exp: Experiment = Experiment()) -> dict:
    """The rule's domains: ``val`` (NW-UCLA other actions across views, UTD-MHAD, MSR Action3D,
    KGBD val, KGBD cross-side) or ``test`` (KARD, a04, KGBD held-out with all joints and OpenNI's 15)."""
    torch.set_num_threads(2)
    model, meta = load_gait(None)
    if which == "val":
        others = ["a01", "a02", "a03", "a05", "a06", "a08", "a09", "a11", "a12"]
        res = {"nwucla_other_actions": rotations(model, meta, "nwucla", others, "view", exp)}
        for name in ("utd_mhad", "msr_action3d"):
            ds = open_dataset(extract(name))
            res[name] = rotations(model, meta, name, sorted({it.meta["action"] for it in ds.items}), "session", exp)
        res |= kgbd(model, meta, "val", exp=exp)
        res |= sides(model, meta, exp)
    else:
        res = {"kard_walks": rotations(model, meta, "kard", ["a14"], "session", exp),
               "nwucla_a04": rotations(model, meta, "nwucla", ["a04"], "view", exp),
               **kgbd(model, meta, "test", ("all", "openni15"), exp)}
    for k, v in res.items():
        print(f"{k:22s} " + "  ".join(f"{c}: " + " ".join(f"{m} {x:5.1f}" for m, x in v[c].items())
                                      for c in v if isinstance(v[c], dict))
              + "".join(f"  {m} {x:.3f}" for m, x in v.items() if not isinstance(x, dict)), flush=True)
    return res


def main():
    which = sys.argv[1] if len(sys.argv) > 1 else "val"
    res = run(which)
    (HERE / f"{which}.json").write_text(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
