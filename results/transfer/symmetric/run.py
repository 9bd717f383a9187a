"""RULE.md's runs: `plain` against `sym` (every gait embedding averaged with its mirror image's).

    python results/transfer/symmetric/run.py val    # the rule's validation figures -> val.json
    python results/transfer/symmetric/run.py test   # once, after the choice -> test.json
    python results/transfer/symmetric/run.py sides  # the addendum's KGBD cross-side domain -> sides.json
    python results/transfer/symmetric/run.py sides sides_product  # the same with the bundled (symmetric) checkpoint
"""
import json
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "mirror"))
from run import mirrored  # noqa: E402  (results/transfer/mirror/run.py)

from engine.checkpoint import load_gait  # noqa: E402
from engine.datasets import open_dataset  # noqa: E402
from engine.datasets.cache import extract  # noqa: E402
from engine.embed import gait_embedding, unit  # noqa: E402
from trainers.evaluate.robustness import CONDITIONS  # noqa: E402
from trainers.evaluate.transfer import (REDUCED_FAMILY, REDUCTIONS, Encoded, bone_scores, closed_set,  # noqa: E402
                                        encode_sequences,
                                        fused_scores, kgbd_split_items)

HERE = Path(__file__).parent


def symmetric(model, meta, enc: Encoded, seqs: list) -> Encoded:
    """``enc`` with each gait embedding replaced by unit(own + mirror image's)."""
    mir = np.stack([gait_embedding(model, meta, mirrored(s))[0] for s in seqs])
    return Encoded(enc.person, enc.group, unit(enc.emb + mir), enc.bones, enc.seconds, enc.shape, enc.family)


def figures(probe: Encoded, gallery: Encoded) -> dict:
    return {"fused": closed_set(fused_scores(probe, gallery), probe.person, gallery.person)["rank1"],
            "gait": closed_set(probe.emb @ gallery.emb.T, probe.person, gallery.person)["rank1"],
            "bones": closed_set(bone_scores(probe.bones, gallery.bones), probe.person, gallery.person)["rank1"]}


def rotations(model, meta, name: str, actions: list[str], key: str) -> dict:
    ds = open_dataset(extract(name))
    out = {c: {"fused": [], "gait": [], "bones": []} for c in ("plain", "sym")}
    for action in actions:
        items = [it for it in ds.items if it.meta["action"] == action]
        seqs = [ds.read(it.path) for it in items]
        keep = [i for i, s in enumerate(seqs) if len(s) >= int(meta["input"]["window"])]  # as the mirror run
        items, seqs = [items[i] for i in keep], [seqs[i] for i in keep]
        enc = encode_sequences(model, meta, seqs, [it.meta["subject"] for it in items],
                               [it.meta[key] for it in items], f"{name} {action}")
        both = {"plain": enc, "sym": symmetric(model, meta, enc, seqs)}
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
    ds, g_items, p_items = kgbd_split_items(meta, split)
    g_seqs = [ds.read(it.path) for it in g_items]
    gallery = encode_sequences(model, meta, g_seqs, [it.meta["subject"] for it in g_items], ["g"] * len(g_items), "kgbd")
    g_sym = symmetric(model, meta, gallery, g_seqs)
    out = {}
    for sensor in sensors:
        change = CONDITIONS[REDUCTIONS[sensor]] or (lambda seq, _item: seq)
        p_seqs = [change(ds.read(it.path), None) for it in p_items]
        probe = encode_sequences(model, meta, p_seqs, [it.meta["subject"] for it in p_items], [sensor] * len(p_items),
                                 f"kgbd {sensor}", REDUCED_FAMILY[sensor])
        out[f"kgbd_{split}_{sensor}"] = {"plain": figures(probe, gallery),
                                         "sym": figures(symmetric(model, meta, probe, p_seqs), g_sym)}
    return out


def side_runs(seq, min_seconds: float = 2.0):
    """(side A, side B): the longest runs of frames facing above +20 / below -20 degrees of yaw
    (None where shorter than ``min_seconds``); RULE.md's addendum."""
    from engine.skeleton import facing_angle, to_canonical
    j, _, _ = to_canonical(seq.joints, seq.confidence, seq.layout)
    yaw = np.degrees(facing_angle(j))
    out = []
    for mask in (yaw > 20, yaw < -20):
        best, start = (0, 0), None
        for i, m in enumerate(np.append(mask, False)):
            if m and start is None:
                start = i
            elif not m and start is not None:
                best = max(best, (i - start, start), key=lambda r: r[0])
                start = None
        n, s0 = best
        out.append(seq.slice(s0, s0 + n) if n / seq.fps >= min_seconds else None)
    return out


def sides(model, meta) -> dict:
    ds, g_items, p_items = kgbd_split_items(meta, "val")
    runs = {}
    for role, items in (("fit", g_items), ("val", p_items)):
        for it in items:
            a, b = side_runs(ds.read(it.path))
            runs.setdefault(role, []).append((it.meta["subject"], a, b))
    res = {"plain": {"fused": [], "gait": [], "bones": []}, "sym": {"fused": [], "gait": [], "bones": []}, "pairs": []}
    for g_side, p_side in ((1, 2), (2, 1)):
        gal = [(x[0], x[g_side]) for x in runs["fit"] if x[g_side] is not None]
        prb = [(x[0], x[p_side]) for x in runs["val"] if x[p_side] is not None]
        prb = [x for x in prb if x[0] in {p for p, _ in gal}]
        g_enc = encode_sequences(model, meta, [s for _, s in gal], [p for p, _ in gal], ["g"] * len(gal), "kgbd sides")
        p_enc = encode_sequences(model, meta, [s for _, s in prb], [p for p, _ in prb], ["p"] * len(prb), "kgbd sides")
        pairs = {"plain": (p_enc, g_enc), "sym": (symmetric(model, meta, p_enc, [s for _, s in prb]),
                                                   symmetric(model, meta, g_enc, [s for _, s in gal]))}
        for cand, (pe, ge) in pairs.items():
            for k, v in figures(pe, ge).items():
                res[cand][k].append(v)
        res["pairs"].append({"gallery": len(gal), "probes": len(prb)})
    return {"kgbd_sides": {c: {k: float(np.mean(v)) for k, v in res[c].items()} for c in ("plain", "sym")},
            "sizes": res["pairs"]}


def main():
    torch.set_num_threads(2)
    which = sys.argv[1] if len(sys.argv) > 1 else "val"
    model, meta = load_gait(None)
    if which == "sides":
        res = sides(model, meta)
        print(json.dumps(res), flush=True)
        name = sys.argv[2] if len(sys.argv) > 2 else "sides"  # the product check: another file
        (HERE / f"{name}.json").write_text(json.dumps(res, indent=1))
        return
    if which == "val":
        others = ["a01", "a02", "a03", "a05", "a06", "a08", "a09", "a11", "a12"]
        res = {"nwucla_other_actions": rotations(model, meta, "nwucla", others, "view")}
        for name in ("utd_mhad", "msr_action3d"):
            ds = open_dataset(extract(name))
            res[name] = rotations(model, meta, name, sorted({it.meta["action"] for it in ds.items}), "session")
        res |= kgbd(model, meta, "val")
    else:
        res = {"nwucla_a04": rotations(model, meta, "nwucla", ["a04"], "view"),
               "kard_walks": rotations(model, meta, "kard", ["a14"], "session"),
               **kgbd(model, meta, "test", ("all", "openni15"))}
    for k, v in res.items():
        print(f"{k:22s} " + "  ".join(f"{c}: fused {x['fused']:5.1f} gait {x['gait']:5.1f}" for c, x in v.items()), flush=True)
    (HERE / f"{which}.json").write_text(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
