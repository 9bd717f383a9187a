"""ISC: inter-skeleton contrastive pretraining (Thoker et al., seed 002), offline.

``python -m trainers.isc [key=value ...]`` (keys of `ISCConfig`). For each representation
(``reps``: seq, graph, image) a query encoder with a projection head is trained and a key encoder
follows it as a moving average (MoCo), with one queue of keys per representation. Two
spatio-temporal augmentations of each sequence make the positive pair. Losses, as switched:
- intra (Eq. 5): a representation's queries against its own keys and queue;
- inter (Eq. 6-8): one representation's queries against the OTHER representation's keys and
  queue (both projected to the same space), both ways.
The run writes OUT/isc.safetensors (query encoders) and OUT/isc.json (config, losses), and
evaluates each representation's frozen features (kNN and linear; `trainers.evaluate.action`).
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import save_file
from torch import nn
from tqdm import tqdm

from engine.models.action import make_encoder
from trainers.blocks.augment import spatio_temporal
from trainers.blocks.contrast import Queue, info_nce, momentum_update
from trainers.config import build
from trainers.trainer import pick_device


@dataclass
class ISCConfig:
    dataset: str = "nwucla"
    data_root: str = ""
    out: str = "runs/isc_nwucla"
    reps: tuple[str, ...] = ("seq", "graph")
    intra: bool = True
    inter: bool = True
    spatial: str = "random"  # shear, jitter, random, none
    temporal: bool = True
    jitter_joints: int = 10  # of the 20 joints (the paper jitters 15 of 25)
    l_min: float = 0.1
    frames: int = 64
    queue: int = 512  # the datasets here are small (NW-UCLA: 1020 training sequences)
    temperature: float = 0.07
    momentum: float = 0.999
    lr: float = 0.01
    weight_decay: float = 1e-4
    epochs: int = 100
    batch: int = 64
    proj: int = 128
    seq_hidden: int = 256
    seed: int = 0
    device: str = "auto"


def encoder_kwargs(cfg: ISCConfig, kind: str) -> dict:
    return {"seq": {"hidden": cfg.seq_hidden}, "graph": {}, "image": {"dim": 512}}[kind]


class Branch(nn.Module):
    """A representation's encoder with its projection head."""

    def __init__(self, kind: str, proj: int, **kwargs):
        super().__init__()
        self.encoder = make_encoder(kind, **kwargs)
        d = self.encoder.dim
        self.head = nn.Sequential(nn.Linear(d, d), nn.ReLU(), nn.Linear(d, proj))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.head(self.encoder(x)), dim=1)


class ISC(nn.Module):
    def __init__(self, cfg: ISCConfig):
        super().__init__()
        self.cfg = cfg
        gen = torch.Generator().manual_seed(cfg.seed)
        self.query = nn.ModuleDict({r: Branch(r, cfg.proj, **encoder_kwargs(cfg, r)) for r in cfg.reps})
        self.key = nn.ModuleDict({r: Branch(r, cfg.proj, **encoder_kwargs(cfg, r)) for r in cfg.reps})
        self.key.load_state_dict(self.query.state_dict())
        for p in self.key.parameters():
            p.requires_grad_(False)
        self.queues = nn.ModuleDict({r: Queue(cfg.proj, cfg.queue, gen) for r in cfg.reps})

    def losses(self, x: torch.Tensor, gen: torch.Generator) -> dict[str, torch.Tensor]:
        c = self.cfg
        aug = dict(length=c.frames, spatial=c.spatial, l_min=c.l_min, jitter_joints=c.jitter_joints, temporal=c.temporal)
        v1, v2 = spatio_temporal(x, gen, **aug), spatio_temporal(x, gen, **aug)
        q = {r: self.query[r](v1) for r in c.reps}
        with torch.no_grad():
            momentum_update(self.key, self.query, c.momentum)
            k = {r: self.key[r](v2) for r in c.reps}
        terms = {}
        for r in c.reps:
            if c.intra:
                terms[f"intra_{r}"] = info_nce(q[r], k[r], self.queues[r].keys.clone(), c.temperature)
            if c.inter:
                for o in c.reps:
                    if o != r:  # cross-contrast: r's queries against o's keys and queue
                        terms[f"inter_{r}_{o}"] = info_nce(q[r], k[o], self.queues[o].keys.clone(), c.temperature)
        for r in c.reps:
            self.queues[r].enqueue(k[r])
        return terms


def train(cfg: ISCConfig, progress: bool = True) -> dict:
    from engine.datasets.cache import extract
    from trainers.action_data import load_actions, protocol_split
    from trainers.evaluate.action import evaluate_features

    if not cfg.intra and not cfg.inter:
        raise ValueError("turn on intra, inter or both")
    if cfg.inter and len(cfg.reps) < 2:
        raise ValueError("inter-skeleton contrast needs two representations (reps=seq,graph)")
    torch.manual_seed(cfg.seed)
    device = pick_device(cfg.device)
    root = cfg.data_root or extract({"nwucla": "nwucla", "msr": "msr_action3d"}[cfg.dataset], progress=progress)
    data = load_actions(root, cfg.frames, progress=progress)
    train_set, test_set = protocol_split(data, cfg.dataset)
    model = ISC(cfg).to(device)
    opt = torch.optim.SGD(model.query.parameters(), lr=cfg.lr, momentum=0.9, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, cfg.epochs)
    x_all = torch.from_numpy(train_set.x).to(device)  # pretraining sees the training split, no labels
    gen = torch.Generator(device=device).manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    history, start = [], time.time()
    bar = tqdm(range(cfg.epochs), desc="isc", disable=not progress)
    for epoch in bar:
        order = rng.permutation(len(x_all))
        total, steps, seen = 0.0, 0, 0
        t0 = time.time()
        for s in range(0, len(order) - cfg.batch + 1, cfg.batch):
            terms = model.losses(x_all[order[s:s + cfg.batch]], gen)
            loss = sum(terms.values())
            opt.zero_grad()
            loss.backward()
            opt.step()
            total, steps, seen = total + float(loss), steps + 1, seen + cfg.batch
        sched.step()
        history.append({"epoch": epoch + 1, "loss": total / max(steps, 1), "seq_per_s": seen / (time.time() - t0)})
        bar.set_postfix(loss=f"{history[-1]['loss']:.3f}", seq_s=f"{history[-1]['seq_per_s']:.0f}")
    weights = {f"{r}.{k}": v.detach().cpu().contiguous() for r in cfg.reps
               for k, v in model.query[r].encoder.state_dict().items()}
    save_file(weights, str(out / "isc.safetensors"))
    model.eval()
    results = {}
    for r in cfg.reps:
        enc = model.query[r].encoder
        results[r] = evaluate_features(lambda x, enc=enc: enc(x), train_set, test_set, device)
    meta = {"method": "isc", "config": asdict(cfg) | {"reps": list(cfg.reps)}, "history": history,
            "minutes": (time.time() - start) / 60, "results": results, "device": str(device),
            "command": "python -m trainers.isc " + " ".join(sys.argv[1:])}
    (out / "isc.json").write_text(json.dumps(meta, indent=2))
    return meta


def parse(argv: list[str]) -> ISCConfig:
    """``key=value`` items into the config (the trainers' own coercion and unknown-key errors);
    ``reps`` takes a comma list such as seq,graph."""
    values = {}
    for item in argv:
        if "=" not in item:
            raise SystemExit(f"expected key=value, got {item!r}")
        key, value = item.split("=", 1)
        values[key] = tuple(v for v in value.split(",") if v) if key == "reps" else value
    try:
        return build(ISCConfig, values, "isc")
    except ValueError as exc:
        raise SystemExit(str(exc)) from None


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if any(a in ("-h", "--help") for a in argv):
        print(__doc__ + "\nkeys (default):\n" + "\n".join(f"  {f.name}={getattr(ISCConfig(), f.name)}"
                                                          for f in fields(ISCConfig)))
        return
    meta = train(parse(argv))
    for r, res in meta["results"].items():
        print(f"{r}: kNN {res['knn']:.1f}  linear {res['linear']:.1f}")


if __name__ == "__main__":
    main()
