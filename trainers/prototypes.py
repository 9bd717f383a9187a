"""``skelstream prototypes``: the labelled action prototypes the engine names actions with.

Prototypes are labelled unit action embeddings: by default one per clip of a labelled dataset,
so a live window's label is that of its 1-nearest labelled clip (as the kNN protocol); with
``--per-action K``, K k-means centres of each action's clips instead (smaller, less accurate;
docs/RESULTS.md). The engine shows the nearest prototype's action and its cosine score.

``--split all`` (the default, for use) takes every clip; ``--split train`` only the protocol's
training split, and reports the nearest-prototype accuracy on its test split.

The file is safetensors: ``prototypes [M, D]`` float32 and ``labels [M]`` (the action of each
row), with the action names, the checkpoint's fingerprint, the dataset and the clip counts in
its metadata. Nothing is unpickled.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import save_file

from engine.embed import unit


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


def nearest(embeddings: np.ndarray, prototypes: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(action, cosine) of each row's nearest prototype."""
    s = unit(embeddings) @ prototypes.T
    best = s.argmax(1)
    return labels[best], s[np.arange(len(s)), best]


def main(args) -> None:
    from engine.checkpoint import load_action
    from trainers.evaluate.action import features, load_protocol
    from trainers.action_data import ActionSet

    encoder, meta = load_action(args.checkpoint, device=args.device)
    train_set, test_set = load_protocol(args.dataset, int(meta["input"]["frames"]))
    use = train_set if args.split == "train" else ActionSet(
        np.concatenate([train_set.x, test_set.x]), np.concatenate([train_set.label, test_set.label]),
        train_set.names, train_set.meta + test_set.meta)
    protos, owner = build(features(encoder, use.x, args.device), use.label, use.names, args.per_action)
    info = {"names": json.dumps(use.names), "checkpoint": meta["name"], "fingerprint": meta["fingerprint"],
            "dataset": args.dataset, "split": args.split, "per_action": str(args.per_action),
            "clips": json.dumps([int((use.label == c).sum()) for c in range(len(use.names))])}
    if args.split == "train":
        best, _ = nearest(features(encoder, test_set.x, args.device), protos, owner)
        acc = float((best == test_set.label).mean() * 100)
        info["test_accuracy"] = f"{acc:.2f}"
        print(f"nearest-prototype accuracy on the {args.dataset} test split: {acc:.1f} % ({len(test_set.x)} clips)")
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    save_file({"prototypes": torch.from_numpy(protos), "labels": torch.from_numpy(owner)}, str(out), metadata=info)
    print(f"wrote {out}: {len(protos)} prototypes of {len(use.names)} actions from {len(use.x)} {args.dataset} "
          f"clips ({args.split}), checkpoint {meta['name']}")


def register(sub) -> None:
    """Add the ``prototypes`` subcommand to the skelstream parser's subparsers."""
    p = sub.add_parser("prototypes", help="build labelled action prototypes for the engine",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", help="action checkpoint without suffix (default: the bundled one)")
    p.add_argument("--dataset", default="nwucla", choices=["nwucla", "msr"])
    p.add_argument("--split", default="all", choices=["all", "train"],
                   help="all clips (for use) or the protocol's training split (reports test accuracy)")
    p.add_argument("--per-action", type=int, default=0, metavar="K",
                   help="K k-means centres per action instead of every clip (default 0: every clip)")
    p.add_argument("--device", default="cpu")
    p.add_argument("-o", "--output", required=True, metavar="OUT.safetensors")
    p.set_defaults(func=main)
