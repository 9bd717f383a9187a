"""The pretraining loop shared by the methods: data, splits, optimisation, early stopping on a
validation split of the training walks, checkpoints and resume, TensorBoard, DDP."""

from __future__ import annotations

import json
import os
import random
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from safetensors.torch import load_file
from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm

from engine import checkpoint
from engine.models.sge_la import INPUT_JOINTS
from trainers.config import TrainConfig
from trainers.gait_data import (Walks, consecutive_batches, drop_sensor_joints, holdout_split, load_walks, people_split,
                                validation_split, walk_dataset)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def pick_device(name: str) -> torch.device:
    """``auto``: CUDA when present, else CPU."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device=cuda asked for, but CUDA is not available")
    return torch.device(name)


def training_walks(cfg: TrainConfig, length: int, progress: bool = True) -> tuple[Walks, Walks, dict]:
    """(fit walks, validation walks, split description) for a run: the protocol's training
    walks, minus a validation split carved from them."""
    ds = walk_dataset(cfg.dataset, cfg.data_root, cfg.limit_people, progress)
    walks = load_walks(ds, length, progress=progress, upright=cfg.upright, common_joints=cfg.common_joints,
                       shared_joints=cfg.shared_joints)
    split = holdout_split if cfg.protocol == "holdout" else people_split
    if cfg.protocol not in ("holdout", "open"):
        raise ValueError(f"protocol must be holdout or open, got {cfg.protocol!r}")
    train_ids, held_ids = split(walks, cfg.split_seed)
    train = walks.subset(train_ids)
    fit_ids, val_ids = validation_split(train, cfg.split_seed, cfg.val_fraction)
    info = {"dataset": cfg.dataset, "root": str(ds.root), "protocol": cfg.protocol, "split_seed": cfg.split_seed,
            "limit_people": cfg.limit_people, "train_walks": len(train_ids), "held_out_walks": len(held_ids),
            "validation_walks": len(val_ids), "held_out": [walks.walk_id[w] for w in held_ids]}
    return train.subset(fit_ids), train.subset(val_ids), info


class Trainer:
    """Runs one pretraining: ``Trainer(cfg, name, method_cfg, method_cls, command).fit()``."""

    def __init__(self, cfg: TrainConfig, name: str, method_cfg, method_cls, command: str):
        self.cfg, self.name, self.method_cfg, self.command = cfg, name, method_cfg, command
        self.distributed = int(os.environ.get("WORLD_SIZE", "1")) > 1
        self.device = pick_device(cfg.device)
        if self.distributed:
            dist.init_process_group("nccl" if self.device.type == "cuda" else "gloo")
            if self.device.type == "cuda":
                self.device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
                torch.cuda.set_device(self.device)
        self.rank = dist.get_rank() if self.distributed else 0
        self.world = dist.get_world_size() if self.distributed else 1
        self.main = self.rank == 0
        seed_everything(cfg.seed)
        self.method = method_cls(method_cfg).to(self.device)
        if cfg.init:
            self._init_from(cfg.init)
        self.net = (DistributedDataParallel(self.method) if self.distributed else self.method)
        self.optimizer = torch.optim.Adam(self.method.parameters(), lr=cfg.lr)
        self.out = Path(cfg.out)
        self.epoch, self.best, self.stale, self.history = 0, float("inf"), 0, []

    def _init_from(self, path: str) -> None:
        """Load a checkpoint's weights (safetensors) before training: fine-tuning. An exported
        checkpoint's whitening is left out (it is refitted on the new encodings)."""
        base = Path(path).with_suffix("")
        state = {k: v.float() for k, v in load_file(str(base.with_suffix(".safetensors"))).items()
                 if not k.startswith("whiten.")}
        missing, unexpected = self.method.load_state_dict(state, strict=False)
        if unexpected or any(k.startswith("model.") for k in missing):
            raise ValueError(f"init={path}: its weights do not fit this {self.name} config "
                             f"(missing {missing[:3]}, unexpected {unexpected[:3]})")

    def _losses(self, windows: torch.Tensor, gen: torch.Generator, target: torch.Tensor | None = None
                ) -> dict[str, torch.Tensor]:
        amp = self.cfg.amp and self.device.type == "cuda"
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=amp):
            return self.net(windows, gen, target)  # through DDP when distributed, so gradients are all-reduced

    def _batches(self, walks: Walks, seed: int, shard: bool = True) -> list[np.ndarray]:
        """This rank's share of an epoch's batches: every rank gets the same number, so DDP's
        collective calls stay in step."""
        rng = np.random.default_rng(seed)
        batches = list(consecutive_batches(walks, self.cfg.batch, rng))
        if not shard:
            return batches
        return batches[: len(batches) // self.world * self.world][self.rank::self.world]

    def _validate(self, val: Walks) -> float:
        self.method.eval()
        gen = torch.Generator().manual_seed(0)
        total, count = 0.0, 0
        with torch.no_grad():
            for idx in self._batches(val, seed=12345, shard=False):  # same value on every rank
                w = torch.from_numpy(val.windows[idx]).to(self.device)
                terms = self.method.losses(w, gen)
                total += float(sum(v for k, v in terms.items() if k != "l2")) / len(idx)
                count += 1
        self.method.train()
        return total / max(count, 1)

    def _state_path(self) -> Path:
        return self.out / "last.pt"

    def _save_state(self) -> None:
        torch.save({"model": self.method.state_dict(), "optimizer": self.optimizer.state_dict(),
                    "epoch": self.epoch, "best": self.best, "stale": self.stale,
                    "history": json.dumps(self.history)}, self._state_path())

    def resume(self) -> bool:
        """Continue from ``out/last.pt`` when it exists (weights_only load)."""
        path = self._state_path()
        if not path.is_file():
            return False
        state = torch.load(path, map_location=self.device, weights_only=True)
        self.method.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.epoch, self.best, self.stale = int(state["epoch"]), float(state["best"]), int(state["stale"])
        self.history = json.loads(state["history"])
        return True

    def checkpoint_meta(self, split: dict, metrics: dict) -> dict:
        m = self.method_cfg
        model_cfg = m.model_config()
        return {
            "method": self.name, "architecture": model_cfg.to_dict(),
            "hyperparameters": asdict(m),
            "input": {"joints": list(INPUT_JOINTS), "window": m.length, "fps": 30.0,
                      "upright": self.cfg.upright, "common_joints": self.cfg.common_joints,
                      "shared_joints": self.cfg.shared_joints,
                      "normalisation": ("canonical joints; " + ("only the joints every sensor gives (hands "
                                        "at the wrists, feet at the ankles); " if self.cfg.shared_joints else "")
                                        + ("spine joints from hips and shoulders; " if self.cfg.common_joints else "") + ("per walk: levelled (mean "
                                        "torso axis along +y); " if self.cfg.upright else "") + "per window: "
                                        "first-frame SpineBase at the origin, rotated about y to face "
                                        "-z; metres")},
            "embedding": {"frame": 3 * m.hidden, "sequence": 3 * m.hidden * m.length},
            "training": {"command": self.command, "config": asdict(self.cfg), **split},
            "metrics": metrics,
        }

    def fit(self, fit: Walks, val: Walks, split: dict, resume: bool = False) -> dict:
        """Train until ``epochs`` or early stopping; returns the metrics (also metrics.json)."""
        cfg = self.cfg
        if self.main:
            self.out.mkdir(parents=True, exist_ok=True)
        if resume:
            self.resume()
        writer = None
        if self.main:
            from torch.utils.tensorboard import SummaryWriter
            writer = SummaryWriter(str(self.out / "tensorboard"))
        start, seen = time.time(), 0
        while self.epoch < cfg.epochs and self.stale < cfg.patience:
            gen = torch.Generator().manual_seed(cfg.seed * 100003 + self.epoch)
            batches = self._batches(fit, seed=cfg.seed * 7 + self.epoch)
            drop_rng = np.random.default_rng([cfg.seed, self.epoch, self.rank])
            sums: dict[str, float] = {}
            bar = tqdm(batches, desc=f"epoch {self.epoch + 1}/{cfg.epochs}", disable=None if self.main else True,
                       leave=False)
            t0 = time.time()
            for idx in bar:
                clean = fit.windows[idx]
                w = torch.from_numpy(drop_sensor_joints(clean, drop_rng, cfg.joint_dropout) if cfg.joint_dropout
                                     else clean).to(self.device, non_blocking=True)
                target = torch.from_numpy(clean).to(self.device) if cfg.joint_dropout else None
                terms = self._losses(w, gen, target)
                loss = sum(terms.values())
                self.optimizer.zero_grad(set_to_none=True)
                loss.backward()
                if cfg.clip:
                    torch.nn.utils.clip_grad_value_(self.method.parameters(), cfg.clip)
                self.optimizer.step()
                for k, v in terms.items():
                    sums[k] = sums.get(k, 0.0) + float(v.detach()) / len(idx)
                seen += len(idx) * self.world
                bar.set_postfix(loss=f"{float(loss.detach()) / len(idx):.3f}",
                                seq_s=f"{len(idx) * self.world * (bar.n + 1) / (time.time() - t0):.0f}")
            epoch_time = time.time() - t0
            train_terms = {k: v / max(len(batches), 1) for k, v in sums.items()}
            val_loss = self._validate(val)
            self.epoch += 1
            improved = val_loss < self.best
            self.best, self.stale = (val_loss, 0) if improved else (self.best, self.stale + 1)
            record = {"epoch": self.epoch, "val_loss": val_loss, "seconds": epoch_time,
                      "sequences_per_s": len(batches) * cfg.batch * self.world / max(epoch_time, 1e-9),
                      **{f"train_{k}": v for k, v in train_terms.items()}}
            self.history.append(record)
            if self.main:
                for k, v in record.items():
                    if k != "epoch":
                        writer.add_scalar(k, v, self.epoch)
                print(json.dumps(record), flush=True)
                if improved:
                    checkpoint.save(self.out / "best", self.method,
                                    self.checkpoint_meta(split, {"val_loss": val_loss, "epoch": self.epoch}))
                self._save_state()
        metrics = {"epochs": self.epoch, "best_val_loss": self.best, "stopped_early": self.stale >= cfg.patience,
                   "train_seconds": time.time() - start, "sequences_per_s": seen / max(time.time() - start, 1e-9),
                   "device": str(self.device), "world_size": self.world, "history": self.history}
        if self.main:
            writer.close()
            (self.out / "metrics.json").write_text(json.dumps(metrics, indent=2))
        if self.distributed:
            dist.destroy_process_group()
        return metrics
