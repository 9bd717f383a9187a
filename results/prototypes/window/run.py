"""RULE.md's runs: the live action window of 1 s (today) against 2.5 s (the training clips' median).

    python results/prototypes/window/run.py [--raw]  # validation and the demo walkers -> val.json (val_raw.json: the baseline)
    python results/prototypes/window/run.py test [--raw]  # once, after the choice -> test.json
"""
import copy
import json
import sys
from pathlib import Path

import numpy as np
import torch

from engine.checkpoint import load_action
from engine.datasets import open_dataset
from engine.datasets.cache import extract
from engine.embed import ActionLabels, action_windows, unit
from engine.models.action import action_input
from engine.recording import Recording
from engine.skeleton import to_canonical
from trainers.action_data import DATASETS, action_titles, read_clips, test_mask

HERE = Path(__file__).parent
RAW = False  # --raw: the raw-coordinate baseline instead of the encoder
K = 3
LONG = 2.5  # clips counted: at least this long, so both windows fit
WALKING = ("walk", "walk around")


def main():
    torch.set_num_threads(2)
    which = next((a for a in sys.argv[1:] if not a.startswith("--")), "val")
    global RAW
    RAW = "--raw" in sys.argv
    model, base = load_action(None)

    def embed(x):
        """The encoder's unit embeddings, or with RAW the trivial baseline: the windows' own
        resampled coordinates, flattened and unit (cosine 1-NN as the prototypes)."""
        if RAW:
            return unit(x.reshape(len(x), -1))
        with torch.no_grad():
            return unit(np.concatenate([model(torch.from_numpy(x[i:i + 512])).numpy() for i in range(0, len(x), 512)]))

    raw = []  # (dataset, meta, action name, joints, confidence, fps)
    for d in ("nwucla", "kard"):
        root = extract(DATASETS[d])
        codes = sorted(open_dataset(root).values("action"))
        titles = dict(zip(codes, action_titles(root, codes)))
        raw += [(d, m, titles[m["action"]], j, c, fps) for m, j, c, fps in read_clips(root, False)]
    demo = []
    for s in Recording("recordings/demo_walk.mcap").sequences():
        j, c, _ = to_canonical(s.joints, s.confidence, s.layout)
        demo.append((j, c, s.fps))

    def split(d, m):
        if which == "test":
            return "probe" if test_mask([m], d)[0] else "ref"
        if test_mask([m], d)[0]:
            return None
        val = m["view"] == "v02" if d == "nwucla" else int(m["subject"].lstrip("s")) >= 7
        return "probe" if val else "ref"

    out = {}
    for seconds in (1.0, 2.5):
        meta = copy.deepcopy(base)
        meta["input"]["seconds"] = seconds
        clips = []
        for d, m, a, j, c, fps in raw:
            w = action_windows(j, c, fps, meta)
            whole = len(w) == 0
            if whole:  # shorter than the window: the whole clip, as `skelstream prototypes` does
                w = action_input(j, c, int(meta["input"]["frames"]))[None]
            clips.append((d, m, a, embed(w), len(j) / fps, whole))
        row = {}
        for d in ("nwucla", "kard"):
            ref = [x for x in clips if x[0] == d and split(d, x[1]) == "ref"]
            probe = [x for x in clips if x[0] == d and split(d, x[1]) == "probe"]
            names = list(dict.fromkeys(x[2] for x in ref))
            lab = ActionLabels(names, np.concatenate([x[3] for x in ref]),
                               np.concatenate([np.full(len(x[3]), names.index(x[2])) for x in ref]))
            long = [x for x in probe if x[4] >= LONG]
            right = [lab.label(lab.scores(x[3][-K:]))[0] == x[2] for x in long]
            row[d] = 100 * float(np.mean(right))
            row[f"{d}_clips_counted"] = len(long)
            row[f"{d}_labelled_share"] = 100 * float(np.mean([not x[5] for x in probe]))
        if which == "val":
            names = list(dict.fromkeys(x[2] for x in clips))
            lab = ActionLabels(names, np.concatenate([x[3] for x in clips]),
                               np.concatenate([np.full(len(x[3]), names.index(x[2])) for x in clips]))
            got = []
            for j, c, fps in demo:
                s = lab.scores(embed(action_windows(j, c, fps, meta)))
                got += [lab.label(s[max(0, i - K + 1):i + 1])[0] for i in range(len(s))]
            row["demo_walking"] = 100 * float(np.mean([g in WALKING for g in got]))
        out[str(seconds)] = row
        print(seconds, json.dumps(row), flush=True)
    (HERE / f"{which}{'_raw' if RAW else ''}.json").write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
