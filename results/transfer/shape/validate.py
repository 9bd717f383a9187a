"""RULE.md's validation runs: every body-shape candidate, and the fusion with the default gait
model, on UTD-MHAD, MSR Action3D and KGBD's validation walks (training data). Writes
val.json beside this file; encodings are cached in /tmp/shape_val.npz.

    python results/transfer/shape/validate.py
"""
import json
import sys
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))
import shape  # noqa: E402

from engine.checkpoint import load_gait  # noqa: E402
from engine.datasets import open_dataset  # noqa: E402
from engine.datasets.cache import extract  # noqa: E402
from engine.embed import gait_embedding  # noqa: E402
from trainers.evaluate.transfer import closed_set, kgbd_split_items  # noqa: E402

KINDS = ("bones", "sym", "rigid")


def encode(model, meta, seqs, desc):
    rows = {k: [] for k in KINDS + ("emb",)}
    for seq in tqdm(seqs, desc=desc):
        d = shape.describe(seq)
        for k in KINDS:
            rows[k].append(d[k])
        rows["emb"].append(gait_embedding(model, meta, seq)[0])
    return {k: np.stack(v) for k, v in rows.items()}


def load(model, meta, cache=Path("/tmp/shape_val.npz")):
    if cache.exists():
        z = np.load(cache, allow_pickle=False)
        return {d: {k[len(d) + 1:]: z[k] for k in z.files if k.startswith(d + "/")} for d in ("utd", "msr", "kgbd_g", "kgbd_p")}
    out = {}
    for name, key in (("utd", "utd_mhad"), ("msr", "msr_action3d")):
        ds = open_dataset(extract(key))
        seqs = [ds.read(it.path) for it in ds.items]
        out[name] = encode(model, meta, seqs, name)
        for field in ("subject", "action", "session"):
            out[name][field] = np.array([it.meta[field] for it in ds.items])
    ds, g_items, p_items = kgbd_split_items(meta, "val")
    for name, items in (("kgbd_g", g_items), ("kgbd_p", p_items)):
        out[name] = encode(model, meta, [ds.read(it.path) for it in items], name)
        out[name]["subject"] = np.array([it.meta["subject"] for it in items])
    np.savez(cache, **{f"{d}/{k}": v for d, rows in out.items() for k, v in rows.items()})
    return out


def scores(cand: str, p: dict, g: dict, kgbd_spread: dict) -> np.ndarray:
    if cand == "gait":  # the default gait model alone (a reference, not a candidate)
        return p["emb"] @ g["emb"].T
    fuse = cand.startswith("fuse_")
    base = cand[5:] if fuse else cand
    kind = {"bones": "bones", "sym": "sym", "rigid": "rigid", "rigid_z": "rigid", "rigid_kgbd": "rigid"}[base]
    scale = kgbd_spread[kind] if base == "rigid_kgbd" else None
    if base in ("bones", "sym", "rigid"):
        s = shape.scaled_scores(p[kind], g[kind], g["subject"], np.ones(p[kind].shape[1]))
    else:
        s = shape.scaled_scores(p[kind], g[kind], g["subject"], scale)
    if fuse:
        s = 0.5 * shape.znorm(s) + 0.5 * shape.znorm(p["emb"] @ g["emb"].T)
    return s


def rotations(data: dict, cand: str, kgbd_spread: dict) -> float:
    """Mean Rank-1 over (action, enrolled session) of one action dataset."""
    r1 = []
    for action in np.unique(data["action"]):
        in_a = data["action"] == action
        for sess in np.unique(data["session"][in_a]):
            gi = np.flatnonzero(in_a & (data["session"] == sess))
            pi = np.flatnonzero(in_a & (data["session"] != sess) & np.isin(data["subject"], data["subject"][gi]))
            if len(pi) == 0 or len(np.unique(data["subject"][gi])) < 2:
                continue
            take = lambda rows: {k: v[rows] for k, v in data.items()}  # noqa: E731
            p, g = take(pi), take(gi)
            r1.append(closed_set(scores(cand, p, g, kgbd_spread), p["subject"], g["subject"])["rank1"])
    return float(np.mean(r1))


def main():
    torch.set_num_threads(2)
    model, meta = load_gait(None)
    data = load(model, meta)
    g, p = data["kgbd_g"], data["kgbd_p"]
    kgbd_spread = {k: shape.within_spread(g[k], g["subject"]) for k in KINDS}
    table = {}
    cands = ["bones", "sym", "rigid", "rigid_z", "rigid_kgbd"]
    for cand in ["gait"] + cands + [f"fuse_{c}" for c in cands]:
        row = {"utd_mhad": rotations(data["utd"], cand, kgbd_spread),
               "msr_action3d": rotations(data["msr"], cand, kgbd_spread),
               "kgbd_val": closed_set(scores(cand, p, g, kgbd_spread), p["subject"], g["subject"])["rank1"]}
        row["mean"] = float(np.mean(list(row.values())))
        table[cand] = row
        print(f"{cand:16s} " + " ".join(f"{k} {v:5.1f}" for k, v in row.items()), flush=True)
    (HERE / "val.json").write_text(json.dumps(table, indent=1))


if __name__ == "__main__":
    main()
