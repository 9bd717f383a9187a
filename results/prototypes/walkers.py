"""Which action label do walkers get live? The demo's synthetic walkers and KGBD's real walks,
cut into the engine's live windows (`engine.embed.action_windows`, 1 s every 0.5 s), labelled by
the nearest prototype of each prototype file given. Prints the share of windows per label.

python results/prototypes/walkers.py [--checkpoint CKPT] PROTOTYPES.safetensors...
"""
import argparse
import collections

import numpy as np
import torch

from engine.checkpoint import load_action, load_prototypes
from engine.datasets import open_dataset
from engine.datasets.cache import extract
from engine.embed import action_windows, unit
from engine.recording import Recording
from engine.skeleton import to_canonical

p = argparse.ArgumentParser()
p.add_argument("prototypes", nargs="+")
p.add_argument("--checkpoint")
args = p.parse_args()
model, meta = load_action(args.checkpoint)
sets = {"demo walkers": Recording("recordings/demo_walk.mcap").sequences()}
kgbd = open_dataset(extract("kgbd"))
sets["KGBD walks (every 20th)"] = [kgbd.read(it.path) for it in kgbd.items[::20]]
for name, seqs in sets.items():
    wins = []
    for seq in seqs:
        j, c, _ = to_canonical(seq.joints, seq.confidence, seq.layout)
        wins.append(action_windows(j, c, seq.fps, meta))
    x = np.concatenate(wins)
    with torch.no_grad():
        emb = unit(model(torch.from_numpy(x)).numpy())
    for path in args.prototypes:
        names, protos, labels, info = load_prototypes(path, meta["fingerprint"])
        got = [names[labels[i]] for i in (emb @ protos.T).argmax(1)]
        top = collections.Counter(got).most_common(4)
        print(f"{name} ({len(x)} windows), {path} [{info.get('dataset')}, {info.get('windows', 'clip')}]: "
              + ", ".join(f"{k} {100 * v / len(got):.0f}%" for k, v in top), flush=True)
