"""RULE.md's runs: KGBD's walks as "walk" prototypes (`kgbd`) against NW-UCLA and KARD alone (`plain`).

    python results/prototypes/kgbd_walk/run.py [--raw]  # validation and the demo walkers -> val.json (val_raw.json: the baseline)
    python results/prototypes/kgbd_walk/run.py test [--raw]  # once, after the choice -> test.json

Labels as the engine gives them: per action the best prototype cosine, averaged over a track's
last K = 3 windows (`engine.embed.ActionLabels`), windows in clip order.
"""
import json
import sys
from pathlib import Path

import numpy as np
import torch

from engine.checkpoint import load_action
from engine.datasets import open_dataset
from engine.datasets.cache import extract
from engine.embed import ActionLabels, action_windows, unit
from engine.recording import Recording
from engine.skeleton import to_canonical
from trainers.action_data import DATASETS, NWUCLA_NAMES, action_titles, read_clips, test_mask

HERE = Path(__file__).parent
RAW = False  # --raw: the raw-coordinate baseline instead of the encoder
K = 3
KGBD_HOP = 2.0
WALKING = ("walk", "walk around")


def main():
    torch.set_num_threads(2)
    which = next((a for a in sys.argv[1:] if not a.startswith("--")), "val")
    global RAW
    RAW = "--raw" in sys.argv
    model, meta = load_action(None)

    def embed(x):
        """The encoder's unit embeddings, or with RAW the trivial baseline: the windows' own
        resampled coordinates, flattened and unit (cosine 1-NN as the prototypes)."""
        if RAW:
            return unit(x.reshape(len(x), -1))
        with torch.no_grad():
            return unit(np.concatenate([model(torch.from_numpy(x[i:i + 512])).numpy() for i in range(0, len(x), 512)]))

    clips = []  # (dataset, meta, action name, embeddings of its live windows)
    for d in ("nwucla", "kard"):
        root = extract(DATASETS[d])
        codes = sorted(open_dataset(root).values("action"))
        titles = dict(zip(codes, action_titles(root, codes)))
        for m, j, c, fps in read_clips(root, False):
            w = action_windows(j, c, fps, meta)
            if len(w):
                clips.append((d, m, titles[m["action"]], embed(w)))
    kgbd = open_dataset(extract("kgbd"))
    walks = []
    for it in kgbd.items:
        s = kgbd.read(it.path)
        j, c, _ = to_canonical(s.joints, s.confidence, s.layout)
        w = action_windows(j, c, s.fps, meta, hop=KGBD_HOP)
        if len(w):
            walks.append(embed(w))
    kgbd_emb = np.concatenate(walks)
    demo = []
    for s in Recording("recordings/demo_walk.mcap").sequences():
        j, c, _ = to_canonical(s.joints, s.confidence, s.layout)
        demo.append(embed(action_windows(j, c, s.fps, meta)))

    def labeller(ref, with_kgbd):
        names = list(dict.fromkeys([a for _, _, a, _ in ref] + (["walk"] if with_kgbd else [])))
        protos = [e for *_, e in ref] + ([kgbd_emb] if with_kgbd else [])
        labs = [np.full(len(e), names.index(a)) for _, _, a, e in ref] + (
            [np.full(len(kgbd_emb), names.index("walk"))] if with_kgbd else [])
        return ActionLabels(names, np.concatenate(protos), np.concatenate(labs))

    def track_labels(lab, emb):
        s = lab.scores(emb)
        return [lab.label(s[max(0, i - K + 1):i + 1])[0] for i in range(len(s))]

    def accuracy(lab, probe):
        right = [g == a for _, _, a, e in probe for g in track_labels(lab, e)]
        return 100 * float(np.mean(right)), len(right)

    def is_test(d, m):
        return bool(test_mask([m], d)[0])

    def is_val(d, m):
        return m["view"] == "v02" if d == "nwucla" else int(m["subject"].lstrip("s")) >= 7

    out = {}
    for cand, with_kgbd in (("plain", False), ("kgbd", True)):
        row = {"prototypes_from_kgbd": int(len(kgbd_emb)) if with_kgbd else 0}
        for d in ("nwucla", "kard"):
            train = [x for x in clips if x[0] == d and not is_test(d, x[1])]
            if which == "val":
                ref, probe = [x for x in train if not is_val(d, x[1])], [x for x in train if is_val(d, x[1])]
            else:
                ref, probe = train, [x for x in clips if x[0] == d and is_test(d, x[1])]
            row[d], row[f"{d}_windows"] = accuracy(labeller(ref, with_kgbd), probe)
        if which == "val":
            lab = labeller(clips, with_kgbd)
            got = [g for e in demo for g in track_labels(lab, e)]
            row["demo_walking"] = 100 * float(np.mean([g in WALKING for g in got]))
            row["demo_labels"] = {a: got.count(a) for a in sorted(set(got))}
        out[cand] = row
        print(cand, json.dumps(row), flush=True)
    (HERE / f"{which}{'_raw' if RAW else ''}.json").write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
