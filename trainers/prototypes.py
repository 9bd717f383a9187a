"""``skelstream prototypes``: the labelled action prototypes the engine names actions with.

Prototypes are labelled unit action embeddings: by default one per clip of a labelled dataset,
so a live window's label is that of its 1-nearest labelled clip (as the kNN protocol); with
``--per-action K``, K k-means centres of each action's clips instead (smaller, less accurate;
docs/RESULTS.md). The engine shows the nearest prototype's action and its cosine score.

``--dataset`` takes one labelled dataset or several (``nwucla,kard,utd_mhad,msr``): their label
sets are joined (equal names are one action), so the engine can name what users do (walking,
sitting down, waving...). ``--split all`` (the default, for use) takes every clip; ``--split
train`` only the protocols' training splits, and reports the nearest-prototype accuracy on their
test splits.

``--windows live`` (the default) makes the prototypes from what the engine encodes: the newest
``input.seconds`` (1 s) of a track, every ``--hop`` seconds along each clip (a clip shorter than
that gives its whole length); ``--windows clip`` from whole clips resampled to the checkpoint's
frames (what `skelstream eval action` uses). A 6 s walk resampled whole looks like no 1 s window
of walking, so live labels want live prototypes (docs/RESULTS.md).

The file is safetensors: ``prototypes [M, D]`` float16 and ``labels [M]`` (the action of each
row), with the action names, the checkpoint's fingerprint, the dataset and the clip counts in
its metadata. Nothing is unpickled. Embeddings wider than ``--dims`` (512) values (an encoder fused with
the raw trajectory, the default since issue 14's ninth addendum: the learned values and the 1,920
of the window itself) are stored projected on their leading directions, with the ``basis [D_in,
512]`` beside them: the file and a live score stay small (`compress`; the agreement with every
dimension is printed).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import save_file

from engine.argtypes import at_least
from engine.embed import project, unit


def build(embeddings: np.ndarray, labels: np.ndarray, names: list[str], per_action: int = 0,
          seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(prototypes [M, D] unit rows, their action [M]): every clip's unit embedding
    (``per_action`` 0), or per action the unit k-means centres of ``per_action`` clusters (1:
    the normalised mean)."""
    from sklearn.cluster import KMeans
    e = unit(embeddings.astype(np.float64))
    missing = [names[c] for c in range(len(names)) if not (labels == c).any()]
    if missing:
        raise ValueError(f"no clip of action(s) {missing}")
    if per_action <= 0:
        return e.astype(np.float32), labels.astype(np.int32)
    protos, owner = [], []
    for c in range(len(names)):
        x = e[labels == c]
        k = min(per_action, len(x))
        centres = x.mean(0, keepdims=True) if k == 1 else KMeans(k, n_init=4, random_state=seed).fit(x).cluster_centers_
        protos.append(unit(centres))
        owner += [c] * k
    return np.concatenate(protos).astype(np.float32), np.asarray(owner, np.int32)


def compress(prototypes: np.ndarray, dims: int) -> tuple[np.ndarray, np.ndarray]:
    """Prototypes projected on their ``dims`` leading right singular vectors (uncentred: dot
    products are what is kept). Returns (prototypes [M, dims], basis [D, dims]); a query is
    projected on the same basis (`engine.embed.ActionLabels`), so a score is the cosine up to the
    part of the two vectors outside the basis. For wide embeddings (an encoder fused with the raw
    trajectory: its 1,920 values of the window itself) the file and the live cost stay small."""
    if not 0 < dims < prototypes.shape[1]:
        raise ValueError(f"compress: {dims} dims of {prototypes.shape[1]}")
    p = prototypes.astype(np.float64)
    basis = np.linalg.svd(p, full_matrices=False)[2][:dims].T
    return (p @ basis).astype(np.float32), np.ascontiguousarray(basis, np.float32)


def nearest(embeddings: np.ndarray, prototypes: np.ndarray, labels: np.ndarray,
            basis: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(action, cosine) of each row's nearest prototype (with a `compress` ``basis``, the
    rows projected on it)."""
    s = project(unit(embeddings), basis) @ prototypes.T
    best = s.argmax(1)
    return labels[best], s[np.arange(len(s)), best]


def _neighbour_agreement(full: np.ndarray, projected: np.ndarray, owner: np.ndarray, sample: int = 2000) -> float:
    """Percent of (up to ``sample``) prototypes whose nearest other prototype has the same action
    with full and with projected vectors."""
    idx = np.random.default_rng(0).permutation(len(full))[:sample]
    a, b = full[idx] @ full.T, projected[idx] @ projected.T
    a[np.arange(len(idx)), idx] = b[np.arange(len(idx)), idx] = -np.inf
    return float((owner[a.argmax(1)] == owner[b.argmax(1)]).mean() * 100)


def labelled_inputs(dataset: str, meta: dict, split: str, windows: str, hop: float = 0.5, progress: bool = True):
    """(train inputs, train action names, test inputs, test action names) of one dataset's
    protocol for the encoder of ``meta``: whole clips or live windows (see the module doc).
    ``split`` all: every clip in "train", none in "test"."""
    from engine.datasets import open_dataset
    from engine.datasets.cache import extract
    from engine.embed import action_windows
    from engine.models.action import action_input
    from trainers.action_data import DATASETS, action_titles, read_clips, test_mask
    root = extract(DATASETS[dataset], progress=progress)
    codes = sorted(open_dataset(root).values("action"))
    titles = dict(zip(codes, action_titles(root, codes)))
    frames = int(meta["input"]["frames"])
    out = {False: [[], []], True: [[], []]}  # train / test: inputs, action names
    for clip, joints, conf, fps in read_clips(root, progress):
        test = split == "train" and bool(test_mask([clip], dataset)[0])
        x = action_windows(joints, conf, fps, meta, hop=hop) if windows == "live" else np.zeros((0,))
        if len(x) == 0:
            x = action_input(joints, conf, frames)[None]
        out[test][0].append(x)
        out[test][1] += [titles[clip["action"]]] * len(x)
    cat = lambda xs: np.concatenate(xs) if xs else np.zeros((0, frames, 20, 3), np.float32)  # noqa: E731
    return cat(out[False][0]), out[False][1], cat(out[True][0]), out[True][1]


def main(args) -> None:
    from engine.checkpoint import load_action
    from trainers.data import dataset_names
    from trainers.evaluate.action import features

    try:
        datasets = dataset_names(args.dataset)
    except ValueError as exc:
        raise ValueError(f"--dataset {args.dataset}: {exc}") from None
    encoder, meta = load_action(args.checkpoint, device=args.device)
    train_x, train_n, test_x, test_n = [], [], [], []
    for d in datasets:
        a, an, b, bn = labelled_inputs(d, meta, args.split, args.windows, args.hop)
        train_x.append(a)
        test_x.append(b)
        train_n += an
        test_n += bn
    names = list(dict.fromkeys(train_n))  # first-seen order: the datasets' own orders, joined
    label = np.array([names.index(n) for n in train_n])
    protos, owner = build(features(encoder, np.concatenate(train_x), args.device), label, names, args.per_action)
    basis = None
    if 0 < args.dims < protos.shape[1]:
        full = protos
        protos, basis = compress(protos, args.dims)
        # what the projection changes: each prototype's best other prototype, full against projected
        agree = _neighbour_agreement(full, protos, owner)
        print(f"prototypes projected on {args.dims} of their {full.shape[1]} dimensions: the nearest other prototype's "
              f"action is the same as with every dimension for {agree:.1f} % of them")
    info = {"names": json.dumps(names), "checkpoint": meta["name"], "fingerprint": meta["fingerprint"],
            "dataset": ",".join(datasets), "split": args.split, "windows": args.windows, "hop": str(args.hop),
            "per_action": str(args.per_action), "inputs": json.dumps([int((label == c).sum()) for c in range(len(names))])}
    if args.split == "train":
        best, _ = nearest(features(encoder, np.concatenate(test_x), args.device), protos, owner, basis)
        acc = float((np.array(names)[best] == np.array(test_n)).mean() * 100)
        # the trivial baseline, same inputs: nearest training input on the raw coordinates
        from trainers.evaluate.action import knn_predict
        tr, te = np.concatenate(train_x), np.concatenate(test_x)
        raw = knn_predict(tr.reshape(len(tr), -1), label, te.reshape(len(te), -1))
        raw_acc = float((np.array(names)[raw] == np.array(test_n)).mean() * 100)
        info["test_accuracy"], info["raw_test_accuracy"] = f"{acc:.2f}", f"{raw_acc:.2f}"
        print(f"nearest-prototype accuracy on the test splits of {', '.join(datasets)}: {acc:.1f} % "
              f"({len(test_n)} {'live windows' if args.windows == 'live' else 'clips'}); on raw coordinates "
              f"(baseline, every training input): {raw_acc:.1f} %")
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    # float16 on disk (a cosine moves by under 1e-3; the engine computes in float32)
    tensors = {"prototypes": torch.from_numpy(protos).half(), "labels": torch.from_numpy(owner)}
    if basis is not None:
        tensors["basis"] = torch.from_numpy(basis).half()
        info["dims"] = str(args.dims)
    save_file(tensors, str(out), metadata=info)
    print(f"wrote {out}: {len(protos)} prototypes of {len(names)} actions from {len(label)} "
          f"{'live windows' if args.windows == 'live' else 'clips'} of {', '.join(datasets)} ({args.split}), "
          f"checkpoint {meta['name']}")


def register(sub) -> None:
    """Add the ``prototypes`` subcommand to the skelstream parser's subparsers."""
    p = sub.add_parser("prototypes", help="build labelled action prototypes for the engine",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", help="action checkpoint without suffix (default: the bundled one)")
    p.add_argument("--dataset", default="nwucla",
                   help="a labelled action dataset or a comma list (nwucla, msr, utd_mhad, kard); default nwucla")
    p.add_argument("--split", default="all", choices=["all", "train"],
                   help="all clips (for use) or the protocols' training splits (reports test accuracy)")
    p.add_argument("--windows", default="live", choices=["live", "clip"],
                   help="live: 1 s windows as the engine encodes (default); clip: whole clips resampled")
    p.add_argument("--hop", type=at_least(0.05), default=0.5, help="live: seconds between a clip's windows (default 0.5)")
    p.add_argument("--per-action", type=int, default=0, metavar="K",
                   help="K k-means centres per action instead of every clip (default 0: every clip)")
    p.add_argument("--dims", type=int, default=512, metavar="D",
                   help="embeddings wider than D values (an encoder fused with the raw trajectory): store the "
                        "prototypes projected on their D leading directions, with the basis (default 512; 0: as they are)")
    p.add_argument("--device", default="cpu")
    p.add_argument("-o", "--output", required=True, metavar="OUT.safetensors")
    p.set_defaults(func=main)
