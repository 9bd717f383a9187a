"""RULE.md's single test run, after the choice (val.json): bones, the chosen shape cue
(rigid_z), the default gait model and the chosen fusion (fuse_rigid_z) on the test domains of
issue 13: KARD's walks, NW-UCLA a04 across views, KGBD's held-out walks (all joints and
OpenNI-15 probes). Writes test.json beside this file.

    python results/transfer/shape/test_once.py   (test.json, test.log; run once, after the choice)
"""
import json
import sys
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))
from validate import KINDS, encode, scores  # noqa: E402
import shape  # noqa: E402

from engine.checkpoint import load_gait  # noqa: E402
from trainers.evaluate.robustness import CONDITIONS  # noqa: E402
from trainers.evaluate.transfer import REDUCTIONS, _dataset_sequences, closed_set, kgbd_split_items  # noqa: E402

CANDS = ("bones", "rigid_z", "gait", "fuse_rigid_z")


def main():
    torch.set_num_threads(2)
    model, meta = load_gait(None)
    ds, g_items, p_items = kgbd_split_items(meta, "val")
    fit = encode(model, meta, [ds.read(it.path) for it in g_items], "kgbd fit")
    spread = {k: shape.within_spread(fit[k], np.array([it.meta["subject"] for it in g_items])) for k in KINDS}
    out = {}
    for name, action, key in (("kard", "a14", "session"), ("nwucla", "a04", "view")):
        seqs, person, group = _dataset_sequences(name, action, key)
        data = encode(model, meta, seqs, name)
        data["subject"], data["group"] = np.array(person), np.array(group)
        rows = {c: [] for c in CANDS}
        for gname in np.unique(data["group"]):
            gi = np.flatnonzero(data["group"] == gname)
            pi = np.flatnonzero((data["group"] != gname) & np.isin(data["subject"], data["subject"][gi]))
            p, g = ({k: v[r] for k, v in data.items()} for r in (pi, gi))
            for c in CANDS:
                rows[c].append(closed_set(scores(c, p, g, spread), p["subject"], g["subject"])["rank1"])
        out[name] = {c: {"rotations": v, "mean": float(np.mean(v))} for c, v in rows.items()}
        print(name, {c: round(out[name][c]["mean"], 1) for c in CANDS}, flush=True)
    ds, g_items, p_items = kgbd_split_items(meta, "test")
    g = encode(model, meta, [ds.read(it.path) for it in g_items], "kgbd gallery")
    g["subject"] = np.array([it.meta["subject"] for it in g_items])
    probes = [ds.read(it.path) for it in p_items]
    for sensor in ("all", "openni15"):
        change = CONDITIONS[REDUCTIONS[sensor]] or (lambda seq, _item: seq)
        p = encode(model, meta, [change(s, None) for s in probes], f"kgbd {sensor}")
        p["subject"] = np.array([it.meta["subject"] for it in p_items])
        out[f"kgbd_{sensor}"] = {c: {"mean": closed_set(scores(c, p, g, spread), p["subject"], g["subject"])["rank1"]}
                                 for c in CANDS}
        print(f"kgbd {sensor}", {c: round(out[f"kgbd_{sensor}"][c]["mean"], 1) for c in CANDS}, flush=True)
    (HERE / "test.json").write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
