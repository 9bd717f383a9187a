"""RULE.md's runs: `plain` against `mirror` (each enrollment also as its mirror image).

    python results/transfer/mirror/run.py val    # the rule's validation figures -> val.json
    python results/transfer/mirror/run.py test   # once, after the choice -> test.json

Ranking as the system does it (`trainers.evaluate.transfer.fused_scores`: gait fused with body
shape within one skeleton family) and by gait alone; per-person best enrollment (closed set).
"""
import json
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from engine.checkpoint import load_gait
from engine.datasets import open_dataset
from engine.datasets.cache import extract
from engine.embed import gait_embedding
from engine.sequence import SkeletonSequence
from engine.skeleton import KINECT_V2, mirror, to_canonical
from trainers.evaluate.robustness import CONDITIONS
from trainers.evaluate.transfer import (REDUCED_FAMILY, REDUCTIONS, Encoded, bone_scores, closed_set,
                                        encode_sequences, fused_scores, kgbd_split_items)

HERE = Path(__file__).parent


def mirrored(seq: SkeletonSequence) -> SkeletonSequence:
    j, c, _ = to_canonical(seq.joints, seq.confidence, seq.layout)
    mj, mc = mirror(j, c)
    return SkeletonSequence(mj, mc, seq.timestamps, KINECT_V2, seq.fps, seq.meta)


def with_mirrors(model, meta, enc: Encoded, seqs: list) -> Encoded:
    """``enc`` and, appended, the mirror images' gait embeddings (same person, group, shape)."""
    emb = np.stack([gait_embedding(model, meta, mirrored(s))[0] for s in seqs])
    cat = lambda a, b: np.concatenate([a, b])  # noqa: E731
    return Encoded(cat(enc.person, enc.person), cat(enc.group, enc.group), cat(enc.emb, emb),
                   cat(enc.bones, enc.bones), cat(enc.seconds, enc.seconds), cat(enc.shape, enc.shape),
                   cat(enc.family, enc.family))


def figures(probe: Encoded, gallery: Encoded) -> dict:
    """Rank-1 of the fused ranking, of gait alone and of the bone-length baseline (same split)."""
    return {"fused": closed_set(fused_scores(probe, gallery), probe.person, gallery.person)["rank1"],
            "gait": closed_set(probe.emb @ gallery.emb.T, probe.person, gallery.person)["rank1"],
            "bones": closed_set(bone_scores(probe.bones, gallery.bones), probe.person, gallery.person)["rank1"]}


def rotations(model, meta, name: str, actions: list[str], key: str, mirrors: bool = True) -> dict:
    """Per action, each value of ``key`` enrolled and the others probes; mean Rank-1 of both
    candidates (``mirrors`` False: `plain` only)."""
    ds = open_dataset(extract(name))
    out = {"plain": {"fused": [], "gait": [], "bones": []}, "mirror": {"fused": [], "gait": [], "bones": []}}
    for action in actions:
        items = [it for it in ds.items if it.meta["action"] == action]
        seqs = [ds.read(it.path) for it in items]
        keep = [i for i, s in enumerate(seqs) if len(s) >= int(meta["input"]["window"])]  # a gait window at least
        out["short_clips_left_out"] = out.get("short_clips_left_out", 0) + len(seqs) - len(keep)
        items, seqs = [items[i] for i in keep], [seqs[i] for i in keep]
        enc = encode_sequences(model, meta, seqs, [it.meta["subject"] for it in items],
                               [it.meta[key] for it in items], f"{name} {action}")
        for g in np.unique(enc.group):
            gi = np.flatnonzero(enc.group == g)
            pi = np.flatnonzero((enc.group != g) & np.isin(enc.person, enc.person[gi]))
            if not len(pi) or len(np.unique(enc.person[gi])) < 2:
                continue
            gallery = enc.take(gi)
            both = with_mirrors(model, meta, gallery, [seqs[i] for i in gi]) if mirrors else None
            for cand, gal in (("plain", gallery), ("mirror", both)):
                if gal is None:
                    continue
                for k, v in figures(enc.take(pi), gal).items():
                    out[cand][k].append(v)
    short = out.pop("short_clips_left_out", 0)
    return {**{c: {k: float(np.mean(v)) for k, v in d.items()} for c, d in out.items() if d["fused"]},
            "short_clips_left_out": short}


def kgbd(model, meta, split: str, sensors=("all",), mirrors: bool = True) -> dict:
    ds, g_items, p_items = kgbd_split_items(meta, split)
    g_seqs = [ds.read(it.path) for it in g_items]
    gallery = encode_sequences(model, meta, g_seqs, [it.meta["subject"] for it in g_items], ["g"] * len(g_items), "kgbd")
    both = with_mirrors(model, meta, gallery, g_seqs) if mirrors else None
    out = {}
    for sensor in sensors:
        change = CONDITIONS[REDUCTIONS[sensor]] or (lambda seq, _item: seq)
        probe = encode_sequences(model, meta, [change(ds.read(it.path), None) for it in p_items],
                                 [it.meta["subject"] for it in p_items], [sensor] * len(p_items), f"kgbd {sensor}",
                                 REDUCED_FAMILY[sensor])
        out[sensor] = {"plain": figures(probe, gallery)} | ({"mirror": figures(probe, both)} if mirrors else {})
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
        res["kgbd_val"] = kgbd(model, meta, "val")["all"]
    else:
        res = {"nwucla_a04": rotations(model, meta, "nwucla", ["a04"], "view"),
               "kard_walks": rotations(model, meta, "kard", ["a14"], "session"),
               **{f"kgbd_{k}": v for k, v in kgbd(model, meta, "test", ("all", "openni15")).items()}}
    for k, v in res.items():
        print(f"{k:22s} " + "  ".join(f"{c}: fused {x['fused']:5.1f} gait {x['gait']:5.1f}" for c, x in v.items()
                                      if isinstance(x, dict)) + f"  (short clips left out: {v.get('short_clips_left_out', 0)})",
              flush=True)
    (HERE / f"{which}.json").write_text(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
