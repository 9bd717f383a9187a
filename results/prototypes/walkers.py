"""Which action label do walkers get live? The demo's synthetic walkers and KGBD's real walks,
cut into the engine's live windows (`engine.embed.action_windows`, 1 s every 0.5 s), labelled as
the engine labels them (`engine.embed.ActionLabels`: the best action on average over a track's
last K windows; K = 1: the nearest prototype of each window) with each prototype file given.
Prints the share of windows per label, for each K of ``--smooth``. With ``--accuracy P`` (a
prototype file built from training splits only: ``skelstream prototypes --split train``), also
the live-window accuracy on the test splits of P's datasets, windows in clip order, per K, beside
the nearest training window by cosine on the raw coordinates with the same K (the trivial baseline).

python results/prototypes/walkers.py [--checkpoint CKPT] [--smooth 1,3] [--accuracy TRAIN_P] PROTOTYPES.safetensors...
"""
import argparse
import collections

import numpy as np
import torch

from engine.checkpoint import load_action, load_prototypes
from engine.datasets import open_dataset
from engine.datasets.cache import extract
from engine.embed import ActionLabels, action_windows, unit
from engine.recording import Recording
from engine.skeleton import to_canonical

p = argparse.ArgumentParser()
p.add_argument("prototypes", nargs="+")
p.add_argument("--checkpoint")
p.add_argument("--smooth", default="1", help="comma list of K: windows averaged per track (default 1)")
p.add_argument("--accuracy", help="prototypes from training splits: live-window accuracy on their test splits")
args = p.parse_args()
model, meta = load_action(args.checkpoint)
ks = [int(k) for k in args.smooth.split(",")]


def embed(windows: list[np.ndarray]) -> list[np.ndarray]:
    """Unit embeddings of each sequence's windows (one array per sequence)."""
    x = np.concatenate(windows)
    with torch.no_grad():
        emb = unit(model(torch.from_numpy(x)).numpy())
    return np.split(emb, np.cumsum([len(w) for w in windows])[:-1])


def labels(lab: ActionLabels, emb: np.ndarray, k: int) -> list[str]:
    """The engine's label after each window of one track, K windows averaged."""
    s = lab.scores(emb)
    return [lab.label(s[max(0, i - k + 1):i + 1])[0] for i in range(len(s))]


sets = {"demo walkers": Recording("recordings/demo_walk.mcap").sequences()}
kgbd = open_dataset(extract("kgbd"))
sets["KGBD walks (every 20th)"] = [kgbd.read(it.path) for it in kgbd.items[::20]]
for name, seqs in sets.items():
    wins = []
    for seq in seqs:
        j, c, _ = to_canonical(seq.joints, seq.confidence, seq.layout)
        wins.append(action_windows(j, c, seq.fps, meta))
    embs = embed(wins)
    for path in args.prototypes:
        names, protos, labs, info = load_prototypes(path, meta["fingerprint"])
        lab = ActionLabels(names, protos, labs, info["basis"])
        for k in ks:
            got = [g for e in embs for g in labels(lab, e, k)]
            top = collections.Counter(got).most_common(4)
            print(f"{name} ({len(got)} windows), {path} [{info.get('dataset')}, {info.get('windows', 'clip')}], K={k}: "
                  + ", ".join(f"{a} {100 * v / len(got):.0f}%" for a, v in top), flush=True)

if args.accuracy:
    from engine.models.action import action_input
    from trainers.action_data import DATASETS, action_titles, read_clips, test_mask
    from trainers.prototypes import labelled_inputs
    names, protos, labs, info = load_prototypes(args.accuracy, meta["fingerprint"])
    if info.get("split") != "train":
        raise SystemExit(f"{args.accuracy}: built with --split {info.get('split')}; accuracy needs --split train")
    lab = ActionLabels(names, protos, labs, info["basis"])
    # the trivial baseline beside it: the nearest training window of all P's datasets by cosine on
    # the raw coordinates (`trainers.evaluate.action.knn_predict`, as `skelstream prototypes`
    # reports it), averaged over the same K windows
    pool = [labelled_inputs(d, meta, "train", "live", progress=False)[:2] for d in info["dataset"].split(",")]
    flat = np.concatenate([x for x, _ in pool])
    raw = ActionLabels(names, unit(flat.reshape(len(flat), -1)), np.array([names.index(n) for _, ns in pool for n in ns]))
    for dataset in info["dataset"].split(","):
        root = extract(DATASETS[dataset], progress=False)
        codes = sorted(open_dataset(root).values("action"))
        titles = dict(zip(codes, action_titles(root, codes)))
        wins, truth = [], []
        for clip, joints, conf, fps in read_clips(root, False):
            if not test_mask([clip], dataset)[0]:
                continue
            x = action_windows(joints, conf, fps, meta)  # a clip shorter than a window: its whole length, once
            wins.append(x if len(x) else action_input(joints, conf, int(meta["input"]["frames"]))[None])
            truth.append(titles[clip["action"]])
        embs = embed(wins)
        raws = [unit(w.reshape(len(w), -1)) for w in wins]
        for k in ks:
            hits = [g == t for e, t in zip(embs, truth) for g in labels(lab, e, k)]
            raw_hits = [g == t for x, t in zip(raws, truth) for g in labels(raw, x, k)]
            print(f"{dataset} test, {len(wins)} clips, {len(hits)} live windows, {args.accuracy}, K={k}: "
                  f"accuracy {100 * np.mean(hits):.1f} %; raw coordinates, same K: {100 * np.mean(raw_hits):.1f} %",
                  flush=True)
