"""Where the engine's per-window time goes (issue 17, item 1).

A real `Engine` in this process, fed by a `skelstream sensor synthetic` process over ipc at
30 Hz, each phase of its hot path timed (wrapping the engine's own functions, nothing changed):
add (a frame into the track histories), ready (the newest context resampled), prepare (the
model window: missing joints, levelling, facing), model (the encoder), whiten (the matching
feature), shape (body-shape rows of the new frames), decide (matching against the gallery),
infer (all of a window's path, these included), actions (the action encoder, after the results went out), send; and the engine-side
latency (sensor publish -> result sent). The first 5 s are left out.

    python results/engine/profile.py --tracks 1 --backend onnx [--checkpoint C] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import torch

import engine.server as server
from engine.server import Engine, EngineConfig


def profile(tracks: int, backend: str, checkpoint: str | None, seconds: float = 15.0, warmup: float = 5.0) -> dict:
    torch.set_num_threads(1)
    d = tempfile.mkdtemp(prefix="skelstream-profile-")
    cfg = EngineConfig(frames=[f"ipc://{d}/f"], results=f"ipc://{d}/r", control=f"ipc://{d}/c", gallery=f"{d}/g.db",
                       backend=backend, checkpoint=checkpoint)
    eng = Engine(cfg)
    times = defaultdict(list)

    def timed(name, fn):
        def wrapper(*a, **k):
            t = time.perf_counter()
            out = fn(*a, **k)
            times[name].append((time.perf_counter() - t) * 1e3)
            return out
        return wrapper

    eng.model.encode = timed("model", eng.model.encode)
    eng.windows.add = timed("add", eng.windows.add)
    eng.windows.ready = timed("ready", eng.windows.ready)
    eng._actions = timed("actions", eng._actions)
    eng._send = timed("send", eng._send)
    infer = eng.infer

    def whole_window():  # all of a window's path: the calls that encoded something
        t, n = time.perf_counter(), len(times["model"])
        infer()
        if len(times["model"]) > n:
            times["infer"].append((time.perf_counter() - t) * 1e3)
    eng.infer = whole_window
    eng._decide = timed("decide", eng._decide)
    eng._shape_frames = timed("shape", eng._shape_frames)
    server.prepare_last_windows = timed("prepare", server.prepare_last_windows)
    server.window_features = timed("whiten", server.window_features)
    sensor = subprocess.Popen([sys.executable, "-m", "engine.cli", "sensor", "synthetic", "--walkers", str(tracks),
                               "--seconds", str(warmup + seconds), "--endpoint", cfg.frames[0], "--wait", "2",
                               "--sensor", "profile"], stdout=subprocess.DEVNULL)
    t0 = None
    try:
        while sensor.poll() is None:
            eng.step()
            if eng.sub.stats.received and t0 is None:
                t0 = time.monotonic()
            if t0 is not None and time.monotonic() - t0 < warmup:
                for v in times.values():
                    v.clear()
                eng.latency.clear()
    finally:
        eng.close()
    lat = np.asarray(eng.latency) * 1e3
    row = {"tracks": tracks, "backend": eng.backend, "checkpoint": eng.meta["name"],
           "e2e_engine_p50_ms": float(np.percentile(lat, 50)), "e2e_engine_p99_ms": float(np.percentile(lat, 99))}
    for k, v in times.items():
        v = [x for x in v if k != "actions" or x > 0.05]  # action batches, not the calls that had none due
        row[k] = {"calls": len(v), "p50_ms": float(np.percentile(v, 50)), "p99_ms": float(np.percentile(v, 99))}
    return row


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--tracks", type=int, default=1)
    p.add_argument("--backend", default="torch")
    p.add_argument("--checkpoint")
    p.add_argument("--seconds", type=float, default=15.0)
    p.add_argument("--json")
    args = p.parse_args()
    row = profile(args.tracks, args.backend, args.checkpoint, args.seconds)
    print(f"{row['checkpoint']} on {row['backend']}, {row['tracks']} track(s): engine-side latency (publish -> "
          f"result sent) p50 {row['e2e_engine_p50_ms']:.2f} ms, p99 {row['e2e_engine_p99_ms']:.2f} ms")
    for k in ("add", "ready", "prepare", "model", "whiten", "send", "actions"):
        if k in row:
            print(f"  {k:8s} {row[k]['calls']:6d} calls  p50 {row[k]['p50_ms']:6.2f}  p99 {row[k]['p99_ms']:6.2f} ms")
    if args.json:
        Path(args.json).write_text(json.dumps(row, indent=2))


if __name__ == "__main__":
    main()
