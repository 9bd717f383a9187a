"""Fit the PCA whitening of a gait checkpoint's window encodings and store it in the checkpoint.

``python -m trainers.whiten RUN/best [--dims 1024] [--every 4]``

Fitted without labels on the checkpoint's own pretraining windows (its protocol's training
walks; every ``--every``-th window), never on held-out walks. Adds ``whiten.mean`` [D] and
``whiten.proj`` [D, K] to ``RUN/best.safetensors`` and ``embedding.whitening`` to its JSON;
`engine.checkpoint.load_gait` then applies it to every window encoding used for matching.
"""

from __future__ import annotations

import argparse
import json

import torch
from safetensors.torch import load_file, save_file

from engine.checkpoint import checkpoint_base, load_gait, read_meta
from engine.embed import Whitening
from engine.models.sge_la import window_options
from trainers.evaluate.reid import encode
from trainers.gait_data import load_walks, protocol_walks, walk_dataset


def fit(checkpoint: str, dims: int = 1024, every: int = 4, data_root: str = "") -> tuple[Whitening, dict]:
    """The whitening of ``checkpoint`` and a description of what it was fitted on."""
    model, meta = load_gait(checkpoint)
    train = meta["training"]
    ds = walk_dataset(train["dataset"], data_root or train.get("root", ""), train.get("limit_people", 0))
    walks = load_walks(ds, int(meta["input"]["window"]), **window_options(meta["input"]))
    seed = int(train["split_seed"])
    train_ids = protocol_walks(walks, train["protocol"], seed)[0]
    pool = walks.subset(train_ids)
    windows = pool.windows[::every]
    plain = getattr(model, "model", model) if getattr(model, "symmetric", False) else model  # the windows' own encodings
    whitening = Whitening.fit(encode(plain, windows)["sequence"], dims)
    info = {"dims": int(whitening.proj.shape[1]), "fitted_on": f"{len(windows)} windows (every {every}th) of the "
            f"{len(train_ids)} training walks of {train['dataset']} {train['protocol']} split {seed}; no labels"}
    return whitening, info


def write(checkpoint: str, whitening: Whitening, info: dict) -> None:
    """Add the whitening to the checkpoint's weights and metadata (replacing an older one)."""
    base = checkpoint_base(checkpoint)
    weights = load_file(str(base.with_suffix(".safetensors")))
    dtype = next(v.dtype for k, v in weights.items() if k.startswith("model."))
    weights["whiten.mean"] = torch.from_numpy(whitening.mean).to(dtype)
    weights["whiten.proj"] = torch.from_numpy(whitening.proj).to(dtype)
    save_file(weights, str(base.with_suffix(".safetensors")))
    meta = read_meta(base)
    meta["embedding"] = dict(meta["embedding"], whitening=info)
    base.with_suffix(".json").write_text(json.dumps(meta, indent=2))


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m trainers.whiten", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("checkpoint", help="checkpoint without suffix (modified in place)")
    p.add_argument("--dims", type=int, default=1024, help="whitened dimensions kept (default 1024)")
    p.add_argument("--every", type=int, default=4, help="use every N-th training window (default 4)")
    p.add_argument("--data-root", default="")
    args = p.parse_args(argv)
    whitening, info = fit(args.checkpoint, args.dims, args.every, args.data_root)
    write(args.checkpoint, whitening, info)
    print(f"{args.checkpoint}: whitening to {info['dims']} dimensions, fitted on {info['fitted_on']}")


if __name__ == "__main__":
    main()
