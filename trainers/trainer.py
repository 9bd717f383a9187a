"""The one pretraining loop of every method (`trainers.methods`): a data module
(`trainers.data`: walks or clips) feeds it, the method returns named losses (and, optionally,
``after_step(progress)`` runs after each optimiser step, progress in (0, 1] over the run).
Optimisation (Adam or SGD, warm-up, cosine or step schedule, gradient clipping), AMP on CUDA, early stopping on the
validation loss, checkpoints at the best epoch and resume, TensorBoard, metrics.json, progress
bars, DDP through torchrun (gloo on CPU, NCCL on CUDA)."""

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
from trainers.config import TrainConfig


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


class Trainer:
    """Runs one pretraining: ``Trainer(cfg, name, method_cfg, method_cls, command).fit(data)``."""

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
        self.method = method_cls(method_cfg)
        if cfg.init:
            (self.method.init_from if hasattr(self.method, "init_from") else self._init_from)(cfg.init)
        self.method = self.method.to(self.device)
        self.net = (DistributedDataParallel(self.method) if self.distributed else self.method)
        params = [p for p in self.method.parameters() if p.requires_grad]  # MoCo's key encoders only follow
        self.optimizer = (torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay) if cfg.optimizer == "adam"
                          else torch.optim.SGD(params, lr=cfg.lr, momentum=0.9, weight_decay=cfg.weight_decay))
        self.scheduler = (torch.optim.lr_scheduler.LambdaLR(self.optimizer, lambda e: cfg.lr_factor(e))
                          if cfg.schedule != "none" or cfg.warmup else None)
        self.out = Path(cfg.out)
        # which weights a run writes: those of the best validation loss (default), or, for a method
        # whose loss does not measure its representation (``keep = "last"``), those of the last epoch
        self.keep_last = getattr(self.method, "keep", "best") == "last"
        self.epoch, self.best, self.stale, self.history = 0, float("inf"), 0, []

    def _init_from(self, path: str) -> None:
        """Load a checkpoint's weights (safetensors) before training: fine-tuning. An exported
        checkpoint's whitening is left out (it is refitted on the new encodings)."""
        base = checkpoint.checkpoint_base(path)
        state = {k: v.float() for k, v in load_file(str(base.with_suffix(".safetensors"))).items()
                 if not k.startswith("whiten.")}
        missing, unexpected = self.method.load_state_dict(state, strict=False)
        if unexpected or any(k.startswith("model.") for k in missing):
            raise ValueError(f"init={path}: its weights do not fit this {self.name} config "
                             f"(missing {missing[:3]}, unexpected {unexpected[:3]})")

    def _losses(self, batch: dict[str, np.ndarray], gen: torch.Generator) -> dict[str, torch.Tensor]:
        """``batch``: ``x`` and, optionally, each sample's second input (``clean``: the full window
        when joint dropout took some; ``pair``: another viewpoint of the same action instance;
        ``label``: its class, for supervised methods; ``target``: a teacher's feature, for distillation)."""
        x = torch.from_numpy(batch["x"]).to(self.device, non_blocking=True)
        second = self._second(batch)
        amp = self.cfg.amp and self.device.type == "cuda"
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=amp):
            return self.net(x, gen, second)  # through DDP when distributed, so gradients are all-reduced

    def _second(self, batch: dict[str, np.ndarray]) -> torch.Tensor | None:
        """A batch's second input on the device: ``clean``, ``pair``, ``label`` (supervised
        methods: each sample's class) or ``target`` (distillation), whichever it has."""
        second = next((batch[k] for k in ("clean", "pair", "label", "target") if k in batch), None)
        return torch.from_numpy(second).to(self.device) if second is not None else None

    def _per(self, idx: np.ndarray) -> int:
        """What a batch's losses are divided by for the logs: its size when the method sums over
        the batch (``summed_losses``), else 1 (already means)."""
        return len(idx) if getattr(self.method, "summed_losses", False) else 1

    def _validate(self, data) -> float:
        """Mean validation loss per sequence (weight decay terms left out); the same value on
        every rank."""
        self.method.eval()
        gen = torch.Generator(device=self.device).manual_seed(0)
        total, count = 0.0, 0
        with torch.no_grad():
            for idx in data.val_batches():
                batch = data.tensors(idx, train=False)
                x = torch.from_numpy(batch["x"]).to(self.device)
                terms = self.method(x, gen, self._second(batch))  # validation batches carry at most a label or a target
                total += float(sum(v for k, v in terms.items() if k != "l2")) / self._per(idx)
                count += 1
        self.method.train()
        return total / max(count, 1)

    def _state_path(self) -> Path:
        return self.out / "last.pt"

    def _save_state(self) -> None:
        torch.save({"model": self.method.state_dict(), "optimizer": self.optimizer.state_dict(),
                    "scheduler": self.scheduler.state_dict() if self.scheduler else {},
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
        if self.scheduler and state.get("scheduler"):
            self.scheduler.load_state_dict(state["scheduler"])
        self.epoch, self.best, self.stale = int(state["epoch"]), float(state["best"]), int(state["stale"])
        self.history = json.loads(state["history"])
        return True

    def run_meta(self, data, metrics: dict) -> dict:
        """What every checkpoint of the run records about how it was made."""
        return {"training": {"command": self.command, "config": asdict(self.cfg) | {"method": asdict(self.method_cfg)},
                             **data.info, "history": self.history, "device": str(self.device), "world_size": self.world,
                             "minutes": (time.time() - self.start) / 60},
                "metrics": metrics}

    def _save_checkpoints(self, data, val_loss: float, folder: Path | None = None) -> list[Path]:
        kept = "snapshot" if folder else ("last epoch" if self.keep_last else "best validation loss")
        run = self.run_meta(data, {"val_loss": val_loss, "epoch": self.epoch, "kept": kept})
        folder = folder or self.out
        folder.mkdir(parents=True, exist_ok=True)
        return [checkpoint.save(folder / name, module, meta)
                for name, (module, meta) in self.method.checkpoints(run).items()]

    def _report(self, data, saved: list[Path]) -> dict:
        """Action methods: the best checkpoints' frozen kNN / linear on each dataset's validation
        split inside its training split (`trainers.action_data.validation_split`; labels used
        only here, the test splits never), written into their metadata."""
        if data.kind != "clips" or not saved:
            return {}
        from engine.checkpoint import load_action
        from trainers.action_data import load_protocol
        from trainers.evaluate.action import evaluate_features
        report, splits = {}, {}  # splits: read once, shared by the representations
        for path in saved:
            encoder, meta = load_action(path, device=str(self.device))
            rows = {}
            for name in data.names:
                key = (name, int(meta["input"]["frames"]))
                if key not in splits:
                    splits[key] = load_protocol(name, key[1], progress=False, split="val", root=self.cfg.data_root)
                fit, val = splits[key]
                r = evaluate_features(encoder, fit, val, self.device)
                rows[name] = {"knn": r["knn"], "linear": r["linear"]}
                print(f"{path.name}: {name} validation (inside its training split): kNN {r['knn']:.1f}  "
                      f"linear {r['linear']:.1f}", flush=True)
            meta["metrics"] = dict(meta.get("metrics", {}), validation=rows)
            path.with_suffix(".json").write_text(json.dumps(meta, indent=2))
            report[path.name] = rows
        return report

    def fit(self, data, resume: bool = False) -> dict:
        """Train on a data module until ``epochs`` or early stopping; returns the metrics (also
        OUT/metrics.json)."""
        cfg = self.cfg
        if self.main:
            self.out.mkdir(parents=True, exist_ok=True)
        if resume:
            self.resume()
        writer = None
        if self.main:
            from torch.utils.tensorboard import SummaryWriter
            writer = SummaryWriter(str(self.out / "tensorboard"))
        self.start, seen, saved = time.time(), 0, []
        while self.epoch < cfg.epochs and self.stale < cfg.patience:
            gen = torch.Generator(device=self.device).manual_seed(cfg.seed * 100003 + self.epoch * 101 + self.rank)
            batches = data.batches(cfg.seed * 7 + self.epoch, self.rank, self.world)
            if cfg.steps_per_epoch:
                batches = batches[:cfg.steps_per_epoch]
            rng = np.random.default_rng([cfg.seed, self.epoch, self.rank])
            sums: dict[str, float] = {}
            bar = tqdm(batches, desc=f"{self.name} epoch {self.epoch + 1}/{cfg.epochs}",
                       disable=None if self.main else True, leave=False)
            t0 = time.time()
            for i, idx in enumerate(bar):
                terms = self._losses(data.tensors(idx, train=True, rng=rng), gen)
                loss = sum(terms.values())
                self.optimizer.zero_grad(set_to_none=True)
                loss.backward()
                if cfg.clip:
                    torch.nn.utils.clip_grad_value_(self.method.parameters(), cfg.clip)
                self.optimizer.step()
                if hasattr(self.method, "after_step"):  # e.g. BYOL's target network follows the online one
                    self.method.after_step((self.epoch + (i + 1) / len(batches)) / cfg.epochs)
                for k, v in terms.items():
                    sums[k] = sums.get(k, 0.0) + float(v.detach()) / self._per(idx)
                seen += len(idx) * self.world
                bar.set_postfix(loss=f"{float(loss.detach()) / self._per(idx):.3f}",
                                seq_s=f"{len(idx) * self.world * (bar.n + 1) / (time.time() - t0):.0f}")
            if self.scheduler:
                self.scheduler.step()
            epoch_time = time.time() - t0
            train_terms = {k: v / max(len(batches), 1) for k, v in sums.items()}
            val_loss = self._validate(data)
            self.epoch += 1
            improved = val_loss < self.best
            self.best, self.stale = (val_loss, 0) if improved else (self.best, self.stale + 1)
            record = {"epoch": self.epoch, "val_loss": val_loss, "seconds": epoch_time,
                      "sequences_per_s": len(batches) * cfg.batch * self.world / max(epoch_time, 1e-9),
                      "lr": self.optimizer.param_groups[0]["lr"], **{f"train_{k}": v for k, v in train_terms.items()}}
            self.history.append(record)
            if self.main:
                for k, v in record.items():
                    if k != "epoch":
                        writer.add_scalar(k, v, self.epoch)
                print(json.dumps(record), flush=True)
                if improved or self.keep_last:
                    saved = self._save_checkpoints(data, val_loss)
                if self.epoch in cfg.snapshot_epochs:
                    self._save_checkpoints(data, val_loss, self.out / f"epoch{self.epoch}")
                self._save_state()
        if self.keep_last and not saved and self.main and self.history:  # resumed after the last epoch
            saved = self._save_checkpoints(data, self.history[-1]["val_loss"])
        metrics = {"epochs": self.epoch, "best_val_loss": self.best, "stopped_early": self.stale >= cfg.patience,
                   "train_seconds": time.time() - self.start, "sequences_per_s": seen / max(time.time() - self.start, 1e-9),
                   "device": str(self.device), "world_size": self.world, "history": self.history}
        if self.main:
            writer.close()
            metrics["validation"] = self._report(data, saved)
            (self.out / "metrics.json").write_text(json.dumps(metrics, indent=2))
        if self.distributed:
            dist.destroy_process_group()
        return metrics
