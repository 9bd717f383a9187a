"""Open-set decisions with galleries of 1 to 10 people, as the code it runs with decides them
(`engine.identity`: the gallery's cohort and the checkpoint's calibration). Run from a worktree of
an older commit (``cd OLD && python /path/to/run.py train``) it measures that commit's decisions on
the same walks (the embeddings are cached in $SKELSTREAM_SG_CACHE, default /tmp/skelstream-sg).

    python results/transfer/small_gallery/run.py train   # KGBD's training people (fit walks enrolled, validation walks query)
    python results/transfer/small_gallery/run.py test    # KARD walks, NW-UCLA a04, KGBD held-out walks (reported)

For each gallery size P, TRIALS random galleries of P people, each enrolled from one walk (one
view for a04; for KGBD also from every fit walk of the person); one random query per trial: a
stranger's walk (someone not enrolled) or an enrolled person's own other walk (another view for
a04). Printed: strangers named (the false-accept rate per stranger; the design is 5 %) and
enrolled people named right, in %.
"""
import json
import sys
from pathlib import Path

import numpy as np
import torch

from engine.checkpoint import load_gait
from engine.datasets import open_dataset
from engine.datasets.cache import extract
from engine.embed import gait_embedding
from engine.identity import cohort_of, open_set_threshold
from trainers.evaluate.transfer import kgbd_split_items

HERE = Path(__file__).parent
SIZES = (1, 2, 3, 4, 5, 10)
TRIALS = 2000


def encode(model, meta, seqs):
    return np.stack([gait_embedding(model, meta, s)[0] for s in seqs]), np.asarray([len(s) / s.fps for s in seqs])


def domain_items(model, meta, name):
    """(embeddings, person, group, seconds) of a domain's walks; group: which walk (view), or
    "fit" / "query" for KGBD. Cached: the embeddings do not depend on the decision code."""
    import os
    cache = Path(os.environ.get("SKELSTREAM_SG_CACHE", "/tmp/skelstream-sg")) / f"{meta['fingerprint']}_{name}.npz"
    if cache.is_file():
        z = np.load(cache)
        return z["emb"], z["person"], z["group"], z["secs"]
    if name.startswith("kgbd"):
        ds, g_items, p_items = kgbd_split_items(meta, "val" if name == "kgbd_train" else "test")
        items = [(it, "fit") for it in g_items] + [(it, "query") for it in p_items]
        seqs = [ds.read(it.path) for it, _ in items]
        person = np.asarray([it.meta["subject"] for it, _ in items])
        group = np.asarray([g for _, g in items])
    else:
        ds_name, action, key = {"kard": ("kard", "a14", "session"), "nwucla_a04": ("nwucla", "a04", "view")}[name]
        ds = open_dataset(extract(ds_name))
        its = [it for it in ds.items if it.meta["action"] == action]
        seqs = [ds.read(it.path) for it in its]
        person = np.asarray([it.meta["subject"] for it in its])
        group = np.asarray([it.meta[key] for it in its])
    emb, secs = encode(model, meta, seqs)
    cache.parent.mkdir(parents=True, exist_ok=True)
    np.savez(cache, emb=emb, person=person, group=group, secs=secs)
    return emb, person, group, secs


def trials(meta, emb, person, group, secs, kgbd: bool, every: bool, rng) -> dict:
    people = np.unique(person)
    out = {}
    for P in SIZES:
        if P >= len(people):
            continue
        far, named = [0, 0], [0, 0]
        for _ in range(TRIALS):
            chosen = rng.choice(people, P, replace=False)
            enrolled, own_group = [], {}
            for p in chosen:
                rows = np.flatnonzero((person == p) & (group == "fit")) if kgbd else np.flatnonzero(person == p)
                pick = rows if every else [int(rng.choice(rows))]
                enrolled += list(pick)
                own_group[p] = None if kgbd else group[pick[0]]
            queries = np.flatnonzero((group == "query") if kgbd else
                                     np.asarray([person[q] not in own_group or group[q] != own_group[person[q]]
                                                 for q in range(len(person))]))
            q = int(rng.choice(queries))
            names, g = list(person[enrolled]), emb[enrolled]
            scores = {}
            for n, s in zip(names, (g @ emb[q]).tolist()):
                scores[n] = max(scores.get(n, -1.0), s)
            best = max(scores, key=scores.get)
            thr = open_set_threshold(meta, float(secs[q]), P, cohort_of(meta, names, g))
            accepted = scores[best] >= thr
            if person[q] in own_group:
                named[0] += int(accepted and best == person[q])
                named[1] += 1
            else:
                far[0] += int(accepted)
                far[1] += 1
        out[P] = {"strangers_named": round(100 * far[0] / max(far[1], 1), 1),
                  "enrolled_named_right": round(100 * named[0] / max(named[1], 1), 1),
                  "stranger_queries": far[1], "enrolled_queries": named[1]}
        print(f"  {P:2d} people: strangers named {out[P]['strangers_named']:5.1f} %   "
              f"enrolled named right {out[P]['enrolled_named_right']:5.1f} %", flush=True)
    return out


def main():
    which = sys.argv[1] if len(sys.argv) > 1 else "train"
    torch.set_num_threads(2)
    model, meta = load_gait(None)
    domains = {"train": ["kgbd_train"], "test": ["kard", "nwucla_a04", "kgbd_test"]}[which]
    res = {}
    for name in domains:
        emb, person, group, secs = domain_items(model, meta, name)
        kgbd = name.startswith("kgbd")
        for every in (False, True) if kgbd else (False,):
            label = f"{name}, {'every fit walk' if every else 'one walk'} a person"
            print(f"{label}: {len(person)} walks of {len(np.unique(person))} people (design: 5 % of strangers named)",
                  flush=True)
            res[label] = trials(meta, emb, person, group, secs, kgbd, every, np.random.default_rng(0))
    out = Path(sys.argv[2]) if len(sys.argv) > 2 else HERE / f"{which}.json"
    out.write_text(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
