"""``skelstream bench engine``: synthetic walkers through the real engine over ZeroMQ.

Processes as in use: ``skelstream sensor synthetic`` publishes N walkers at the given rate (one
sensor process per 32 walkers, as several Kinects would),
``skelstream engine`` (a fresh, empty gallery) encodes them, and this process subscribes to both
the sensor's frames and the engine's results. In the same run it measures
- end to end: result receive time minus the publish time of the newest frame the engine had
  when it encoded (sensor publish -> window complete -> batch inference -> result received);
- wire only: frame receive time minus publish time for the same frames (the baseline);
- results/s (one per track per hop), the windows expected, and every drop: frames missing at
  the engine and here, results the engine could not send, frames the sensor could not send.
The first ``--warmup`` seconds (first window, model warm-up) are left out of the figures.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import zmq

from engine.bus import Subscriber
from engine.wire import RESULT_TOPIC, STATUS_TOPIC, WireError, decode_result, decode_status

REPO = Path(__file__).resolve().parents[1]
SENSOR_BODIES = 32  # walkers per synthetic sensor process (frames carry at most engine.wire.MAX_BODIES)


def _cli(*args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "engine.cli", *args], cwd=REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def _ask(ctx: zmq.Context, endpoint: str, request: dict, timeout: float) -> dict | None:
    """One control request; None when the engine did not answer within ``timeout`` s."""
    req = ctx.socket(zmq.REQ)
    req.setsockopt(zmq.LINGER, 0)
    req.connect(endpoint)
    try:
        req.send(json.dumps(request).encode())
        return json.loads(req.recv()) if req.poll(int(timeout * 1000)) else None
    finally:
        req.close()


def _percentiles(ms: list[float]) -> tuple[float, float]:
    return (float(np.percentile(ms, 50)), float(np.percentile(ms, 99))) if ms else (float("nan"),) * 2


def run(tracks: int, rate: float, seconds: float, warmup: float = 3.0, device: str = "auto",
        checkpoint: str | None = None, folder: str | None = None, stagger: bool = True, action: bool = True,
        backend: str = "auto", threads: int = 1, context: float | None = None,
        action_checkpoint: str | None = None) -> dict:
    """One load: ``tracks`` walkers at ``rate`` Hz for ``warmup + seconds`` s. Figures as a dict."""
    folder = Path(folder or tempfile.mkdtemp(prefix="skelstream-bench-engine-"))
    # a sensor per SENSOR_BODIES walkers (several Kinects, not one frame of hundreds of bodies)
    groups = [min(SENSOR_BODIES, tracks - k) for k in range(0, tracks, SENSOR_BODIES)]
    names = ["results", "control"] + [f"frames{i}" for i in range(len(groups))]
    if zmq.has("ipc"):
        ep = {k: f"ipc://{folder}/{k}-{tracks}-{backend}" for k in names}
    else:
        base = 6200 + tracks % 97 * 16
        ep = {k: f"tcp://127.0.0.1:{base + i}" for i, k in enumerate(names)}
    feeds = [ep[f"frames{i}"] for i in range(len(groups))]
    args = ["engine", "--frames", *feeds, "--results", ep["results"], "--control", ep["control"],
            "--gallery", str(folder / f"gallery-{tracks}-{backend}.db"), "--device", device, "--backend", backend,
            "--threads", str(threads)]
    args += [] if stagger else ["--no-stagger"]
    args += [] if action else ["--no-action"]
    args += [] if context is None else ["--context", str(context)]
    args += ["--action-checkpoint", action_checkpoint] if action and action_checkpoint else []
    engine = _cli(*args, *(["--checkpoint", checkpoint] if checkpoint else []))
    ctx = zmq.Context()
    sensors = []
    try:
        if _ask(ctx, ep["control"], {"cmd": "status"}, timeout=120) is None:
            raise RuntimeError(f"the engine did not start: {engine.stdout.read() if engine.poll() is not None else ''}")
        frames = Subscriber(feeds, context=ctx, hwm=100_000)
        results = ctx.socket(zmq.SUB)
        results.setsockopt(zmq.RCVHWM, 100_000)
        results.setsockopt(zmq.SUBSCRIBE, b"")
        results.connect(ep["results"])
        sensors = [_cli("sensor", "synthetic", "--walkers", str(n), "--fps", str(rate), "--seconds",
                        str(warmup + seconds), "--endpoint", feeds[i], "--wait", "2", "--sensor", f"bench{i}",
                        "--seed", str(i)) for i, n in enumerate(groups)]
        poller = zmq.Poller()
        poller.register(frames.socket, zmq.POLLIN)
        poller.register(results, zmq.POLLIN)
        wire_ms, e2e_ms, rows, batches, status, t_last = [], [], 0, 0, {}, None
        ended = None
        while ended is None or time.monotonic() - ended < 1.0:  # drain one second after the sensor ends
            if ended is None and all(p.poll() is not None for p in sensors):
                ended = time.monotonic()
            for sock, _ in poller.poll(100):
                if sock is frames.socket:
                    while (f := frames.recv(timeout=0)) is not None:
                        if f.t >= warmup:
                            wire_ms.append((time.time() - f.t_pub) * 1e3)
                    continue
                while True:
                    try:
                        parts = results.recv_multipart(zmq.NOBLOCK)
                    except zmq.Again:
                        break
                    now = time.time()
                    try:
                        if parts[0].startswith(RESULT_TOPIC):
                            header, _ = decode_result(parts)
                            if header["t"] >= warmup:
                                e2e_ms.append((now - header["t_pub"]) * 1e3)
                                rows += len(header["tracks"])
                                batches += 1
                                t_last = header["t"]
                        elif parts[0] == STATUS_TOPIC:
                            status = decode_status(parts)
                    except WireError as exc:
                        raise RuntimeError(f"the engine sent a bad message: {exc}") from None
        final = _ask(ctx, ep["control"], {"cmd": "status"}, timeout=10) or status
        sensor_dropped = sum(int(m.group(1)) for p in sensors
                             if (m := re.search(r"\((\d+) dropped", p.stdout.read())))
        frames.close()
        results.close()
    finally:
        for proc in (*sensors, engine):
            if proc is not None and proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()
        ctx.term()
    span = (t_last - warmup) if t_last is not None else 0.0
    hop = float(final.get("hop", 0.2)) if final else 0.2
    e50, e99 = _percentiles(e2e_ms)
    w50, w99 = _percentiles(wire_ms)
    return {"tracks": tracks, "rate": rate, "seconds": seconds, "device": final.get("device", "?"), "backend": backend,
            "engine_backend": final.get("backend", "?"),
            "threads": threads, "stagger": stagger,
            "action": action, "action_windows": int(final.get("action_windows", 0)),
            "e2e_p50_ms": e50, "e2e_p99_ms": e99, "wire_p50_ms": w50, "wire_p99_ms": w99,
            "results_per_s": rows / span if span > 0 else 0.0,
            "results_expected_per_s": tracks / hop, "batch_mean": float(final.get("batch_mean", 0.0)),
            "frames_missing_engine": int(final.get("missing", -1)),
            "frames_missing_here": int(frames.stats.gaps),
            "frames_rejected_engine": int(sum(final.get("rejected", {}).values())),
            "results_dropped": int(final.get("results_dropped", 0)),
            "sensor_dropped": sensor_dropped, "sensors": len(groups)}


def _write_json(path: str, rate: float, threads: int, limit_ms: float, rows: list[dict]) -> None:
    Path(path).write_text(json.dumps({"rate": rate, "threads": threads, "limit_ms": limit_ms, "results": rows}, indent=2))


CURVE = (1, 2, 4, 6, 8, 12, 16, 20, 24, 32, 40, 48, 64, 80, 96, 128, 160, 192, 256)


def main(args) -> None:
    backends = [b.strip() for b in str(args.backend).split(",") if b.strip()]
    frame_ms = args.limit_ms or 1000.0 / args.rate  # the curve's latency budget: one frame unless told
    counts = list(CURVE) if args.curve else [int(x) for x in str(args.tracks).split(",")]
    rows = []
    print(f"engine bench: {args.rate:g} Hz, {args.seconds:g} s per load after {args.warmup:g} s warm-up; windows "
          + ("all on one frame per hop (--no-stagger)" if args.no_stagger else "spread over the hop's frames")
          + ("; no action labels (--no-action)" if args.no_action else "; with action labels")
          + f"; backends {', '.join(backends)}; {args.threads} engine thread(s)"
          + (f"; curve: more tracks until p99 passes {frame_ms:.1f} ms" if args.curve else ""))
    print(f"{'tracks':>7} {'backend':>7}{'e2e p50':>9}{'e2e p99':>9}{'wire p50':>9}{'wire p99':>9}{'results/s':>11}"
          f"{'expected':>9}{'batch':>7}{'drops':>7}  device")
    over = set()
    for n in counts:
        for backend in backends:
            if backend in over:
                continue
            r = run(n, args.rate, args.seconds, args.warmup, args.device, args.checkpoint, stagger=not args.no_stagger,
                    action=not args.no_action, backend=backend, threads=args.threads,
                    context=args.context, action_checkpoint=args.action_checkpoint)
            rows.append(r)
            drops = (r["frames_missing_engine"] + r["frames_missing_here"] + r["frames_rejected_engine"]
                     + r["results_dropped"] + r["sensor_dropped"])
            label = backend if backend != "auto" else "auto:" + r["engine_backend"].split(" ")[0]
            print(f"{n:>7} {label:>7}{r['e2e_p50_ms']:>9.1f}{r['e2e_p99_ms']:>9.1f}{r['wire_p50_ms']:>9.2f}"
                  f"{r['wire_p99_ms']:>9.2f}{r['results_per_s']:>11.1f}{r['results_expected_per_s']:>9.1f}"
                  f"{r['batch_mean']:>7.1f}{drops:>7}  {r['device']}", flush=True)
            if args.json:  # after every row, so a run stopped part-way still leaves its figures
                _write_json(args.json, args.rate, args.threads, frame_ms, rows)
            if args.curve and not (r["e2e_p99_ms"] < frame_ms and r["results_per_s"] >= 0.95 * r["results_expected_per_s"]):
                over.add(backend)  # this backend's curve ends here: p99 past one frame, or results falling behind
        if args.curve and over >= set(backends):
            break
    print("latencies in ms; e2e = sensor publish -> result received; wire = sensor publish -> frame received")
    if args.curve:
        for backend in backends:
            held = [r["tracks"] for r in rows if r["backend"] == backend and r["e2e_p99_ms"] < frame_ms
                    and r["results_per_s"] >= 0.95 * r["results_expected_per_s"]]
            print(f"{backend}: most tracks at {args.rate:g} Hz with p99 under {frame_ms:.1f} ms: "
                  f"{max(held) if held else 0}")
    if args.json:
        _write_json(args.json, args.rate, args.threads, frame_ms, rows)
