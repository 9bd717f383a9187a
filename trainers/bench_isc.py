"""ISC training throughput, sequences per second, three ways side by side in one run:

- ``on-device``: the augmentations as batched tensor ops on the training device
  (`trainers.blocks.augment`, what `trainers.methods.isc` does);
- ``per-sample``: the same augmentations drawn one sequence at a time on the CPU, as a
  DataLoader's worker would, then the batch copied to the device;
- ``none``: no augmentation at all (two copies of the batch): the model's own cost, an upper
  bound.

``python -m trainers.bench_isc [--steps N] [--warmup N] [--rounds N] [--json OUT] [key=value ...]`` (the
trainer's keys such as batch, lr, device, and ISC's: reps, frames, seq_hidden, ...). Random sequences of the real shape are used: the data's
values do not change the cost.
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from trainers.blocks.augment import spatio_temporal
from trainers.config import load
from trainers.methods.isc import ISC, ISCConfig
from trainers.trainer import pick_device


def parse(overrides: list[str]):
    """``key=value`` items -> (run config, ISC config), with batch 64 and lr 0.01 unless given
    (trainers/configs/isc_nwucla.yaml)."""
    try:
        return load(None, ["batch=64", "lr=0.01", *overrides], ISCConfig)
    except ValueError as exc:
        raise SystemExit(str(exc)) from None


def _augmenter(mode: str, cfg, device, gen_dev, gen_cpu):
    aug = dict(length=cfg.frames, spatial=cfg.spatial, l_min=cfg.l_min, jitter_joints=cfg.jitter_joints,
               temporal=cfg.temporal, shear=cfg.shear)
    if mode == "on-device":
        return lambda x: spatio_temporal(x, gen_dev, **aug)
    if mode == "per-sample":
        return lambda x: torch.cat([spatio_temporal(s[None], gen_cpu, **aug) for s in x.cpu()]).to(device)
    return lambda x: x


def run(cfgs, steps: int = 20, warmup: int = 3, modes=("on-device", "per-sample", "none"), rounds: int = 3) -> dict:
    """Each mode measured ``rounds`` times, interleaved (so drift in the machine's speed hits all
    modes alike); the median round is reported."""
    results = [_round(*cfgs, steps, warmup, modes) for _ in range(rounds)]
    out = dict(results[0])
    for mode in modes:
        ranked = sorted((r[mode] for r in results), key=lambda m: m["seq_per_s"])
        out[mode] = ranked[len(ranked) // 2] | {"rounds": [round(r[mode]["seq_per_s"], 1) for r in results]}
    return out


def _round(run_cfg, cfg, steps: int, warmup: int, modes) -> dict:
    device = pick_device(run_cfg.device)
    torch.manual_seed(run_cfg.seed)
    model = ISC(cfg).to(device)
    opt = torch.optim.SGD(model.query.parameters(), lr=run_cfg.lr, momentum=0.9)
    data_dev = torch.randn(run_cfg.batch, cfg.frames, 20, 3, device=device)
    data_cpu = data_dev.cpu()
    out = {"device": str(device), "batch": run_cfg.batch, "frames": cfg.frames, "reps": list(cfg.reps),
           "threads": torch.get_num_threads(), "steps": steps}
    for mode in modes:
        gen_dev = torch.Generator(device=device).manual_seed(0)
        augment = _augmenter(mode, cfg, device, gen_dev, torch.Generator().manual_seed(0))
        source = data_cpu if mode == "per-sample" else data_dev
        for i in range(warmup + steps):
            if i == warmup:
                if device.type == "cuda":
                    torch.cuda.synchronize()
                t0 = time.perf_counter()
            terms = model.losses(source, gen_dev, augment=augment)
            loss = sum(terms.values())
            opt.zero_grad()
            loss.backward()
            opt.step()
        if device.type == "cuda":
            torch.cuda.synchronize()
        dt = time.perf_counter() - t0
        # the augmentation alone, for the share it takes
        t1 = time.perf_counter()
        for _ in range(steps):
            augment(source), augment(source)
        if device.type == "cuda":
            torch.cuda.synchronize()
        out[mode] = {"seq_per_s": run_cfg.batch * steps / dt, "step_ms": 1e3 * dt / steps,
                     "augment_ms": 1e3 * (time.perf_counter() - t1) / steps}
    return out


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--rounds", type=int, default=3, help="interleaved rounds; the median is reported")
    p.add_argument("--json", help="write the figures here too")
    p.add_argument("overrides", nargs="*", metavar="key=value")
    args = p.parse_args(argv)
    r = run(parse(args.overrides), args.steps, args.warmup, rounds=args.rounds)
    print(f"ISC training throughput on {r['device']} ({r['threads']} threads), reps {','.join(r['reps'])}, "
          f"batch {r['batch']} x {r['frames']} frames, {r['steps']} steps:")
    print(f"  {'augmentation':<12} {'seq/s':>8} {'step ms':>9} {'augment ms (both views)':>24}  rounds (seq/s)")
    for mode in ("on-device", "per-sample", "none"):
        m = r[mode]
        print(f"  {mode:<12} {m['seq_per_s']:8.1f} {m['step_ms']:9.1f} {m['augment_ms']:24.1f}  {m['rounds']}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(r, fh, indent=2)


if __name__ == "__main__":
    main()
