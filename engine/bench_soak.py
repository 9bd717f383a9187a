"""``skelstream bench soak``: the whole live system under steady load for a long time.

Four processes, as in use: ``skelstream sensor synthetic`` (``--tracks`` walkers at 30 Hz),
``skelstream engine`` (a fresh gallery), ``skelstream record`` (every frame to an MCAP file) and
this process, which subscribes to the engine's results and, every ``--enroll-every`` seconds,
enrolls a live walker through the control socket (3 s of walking) and removes the oldest
enrolled person once more than three are held. Every ``--sample`` seconds it writes a row:
end-to-end latency percentiles of the results in that interval, results received against those
expected, the engine's frame gaps, rejections and dropped results, the engine's and the
recorder's resident memory (RSS) and open file descriptors.

At the end: RSS growth of the engine after warm-up (mean of the last tenth of the run against
the first sample after ``--warmup``), every drop counted, the gallery checked (through the
control socket and by opening the file: exactly the people enrolled and not removed, one
enrollment each) and the recording checked (every frame the sensor published, no gap).
``--out`` gets soak.json (every row), soak.png (the figures over time) and the processes' logs.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import zmq

from engine.bench_engine import REPO, _ask
from engine.wire import RESULT_TOPIC, WireError, decode_result

ENROLL_SECONDS = 3.0  # of a walker's live track per enrollment


def _spawn(log: Path, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "engine.cli", *args], cwd=REPO, stdout=open(log, "w"),
                            stderr=subprocess.STDOUT, text=True)


def _proc(pid: int) -> tuple[float, int]:
    """(RSS in MiB, open file descriptors) of a live process, from /proc."""
    try:
        rss = next(int(line.split()[1]) for line in open(f"/proc/{pid}/status") if line.startswith("VmRSS:"))
        return rss / 1024, len(os.listdir(f"/proc/{pid}/fd"))
    except (OSError, StopIteration):
        return float("nan"), -1


def _stop(proc: subprocess.Popen | None, timeout: float = 30) -> None:
    if proc is not None and proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()


def soak(minutes: float, out: str | Path, tracks: int = 6, rate: float = 30.0, sample: float = 10.0,
         enroll_every: float = 30.0, warmup: float = 60.0, backend: str = "auto", progress: bool = True) -> dict:
    """Run the soak (see the module doc); returns the summary (also in OUT/soak.json)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    ep = {k: f"ipc://{out}/{k}.ipc" for k in ("frames", "results", "control")}
    seconds = minutes * 60.0
    gallery = out / "gallery.db"
    for stale in [gallery, out / "soak.mcap"]:
        stale.unlink(missing_ok=True)
    engine = _spawn(out / "engine.log", "engine", "--frames", ep["frames"], "--results", ep["results"],
                    "--control", ep["control"], "--gallery", str(gallery), "--backend", backend)
    ctx = zmq.Context()
    recorder = sensor = None
    rows, expected, removed, enrolled_at = [], [], [], []
    try:
        if _ask(ctx, ep["control"], {"cmd": "status"}, timeout=300) is None:
            raise RuntimeError(f"the engine did not start; see {out / 'engine.log'}")
        recorder = _spawn(out / "record.log", "record", str(out / "soak.mcap"), "--endpoint", ep["frames"])
        results = ctx.socket(zmq.SUB)
        results.setsockopt(zmq.RCVHWM, 100_000)
        results.setsockopt(zmq.SUBSCRIBE, RESULT_TOPIC)
        results.connect(ep["results"])
        time.sleep(0.5)
        sensor = _spawn(out / "sensor.log", "sensor", "synthetic", "--walkers", str(tracks), "--fps", str(rate),
                        "--seconds", str(seconds), "--endpoint", ep["frames"], "--wait", "2", "--sensor", "soak")
        began = time.monotonic()
        next_sample, next_enroll, person = began + sample, began + 15.0, 0
        e2e, got, bad = [], 0, 0
        while sensor.poll() is None:
            if results.poll(100):
                while True:
                    try:
                        parts = results.recv_multipart(zmq.NOBLOCK)
                    except zmq.Again:
                        break
                    try:
                        header, _ = decode_result(parts)
                    except WireError:
                        bad += 1
                        continue
                    e2e.append((time.time() - header["t_pub"]) * 1e3)
                    got += len(header["tracks"])
            now = time.monotonic()
            # enroll a walker (3 s), and remove the oldest beyond three people; not in the last
            # seconds, when the walkers would stop before the enrollment could complete
            if now >= next_enroll and now - began + ENROLL_SECONDS + 2.0 < seconds:
                next_enroll = now + enroll_every
                name = f"soak-{person:03d}"
                reply = _ask(ctx, ep["control"], {"cmd": "enroll", "sensor": "soak", "track": person % tracks,
                                                  "name": name, "seconds": ENROLL_SECONDS}, timeout=10)
                if reply and reply.get("ok"):
                    expected.append(name)
                    enrolled_at.append(now - began)
                person += 1
                if len(expected) > 3:
                    old = expected[0]
                    reply = _ask(ctx, ep["control"], {"cmd": "remove", "name": old}, timeout=10)
                    if reply and reply.get("ok"):
                        expected.pop(0)
                        removed.append(old)
            if now >= next_sample:
                next_sample += sample
                status = _ask(ctx, ep["control"], {"cmd": "status"}, timeout=10) or {}
                rss, fds = _proc(engine.pid)
                rec_rss, rec_fds = _proc(recorder.pid)
                p50, p99 = (np.percentile(e2e, [50, 99]).tolist() if e2e else [float("nan")] * 2)
                row = {"t": round(now - began, 1), "e2e_p50_ms": p50, "e2e_p99_ms": p99, "results": got,
                       "results_expected": tracks / float(status.get("hop", 0.2)) * sample, "bad_results": bad,
                       "frames_missing": status.get("missing", -1), "rejected": sum(status.get("rejected", {}).values()),
                       "results_dropped": status.get("results_dropped", -1), "people": status.get("people", -1),
                       "engine_rss_mib": rss, "engine_fds": fds, "recorder_rss_mib": rec_rss, "recorder_fds": rec_fds}
                rows.append(row)
                e2e, got = [], 0
                if progress:
                    print(f"{row['t']:7.0f} s  e2e p50 {p50:5.1f} p99 {p99:5.1f} ms  results {row['results']:4d}/"
                          f"{row['results_expected']:.0f}  missing {row['frames_missing']}  dropped "
                          f"{row['results_dropped']}  people {row['people']}  engine {rss:.0f} MiB {fds} fds  "
                          f"recorder {rec_rss:.0f} MiB {rec_fds} fds", flush=True)
        final = _ask(ctx, ep["control"], {"cmd": "status"}, timeout=10) or {}
        listed = _ask(ctx, ep["control"], {"cmd": "list"}, timeout=10) or {}
        results.close()
    finally:
        _stop(sensor)
        time.sleep(2.0)  # the recorder drains what is queued
        _stop(recorder)
        _stop(engine)
        ctx.term()
    return _summary(out, rows, final, listed, expected, removed, warmup, tracks, rate, backend, minutes)


def _summary(out: Path, rows: list[dict], final: dict, listed: dict, expected: list[str], removed: list[str],
             warmup: float, tracks: int, rate: float, backend: str, minutes: float) -> dict:
    from engine.gallery import Gallery
    from engine.recording import Recording

    with Gallery(out / "gallery.db") as g:
        stored = {p.name: p.enrollments for p in g.people()}
    with Recording(out / "soak.mcap") as rec:
        recorded = rec.frame_count()
        times = np.array([f.t for f in rec.frames()])
    sensor_log = (out / "sensor.log").read_text()
    published = int(sensor_log.rsplit("stopped: ", 1)[1].split()[0]) if "stopped: " in sensor_log else -1
    after = [r for r in rows if r["t"] >= warmup]
    tail = after[-max(1, len(after) // 10):] if after else []
    rss0 = after[0]["engine_rss_mib"] if after else float("nan")
    rss_end = float(np.mean([r["engine_rss_mib"] for r in tail])) if tail else float("nan")
    gaps = int((np.diff(times) > 1.5 / rate).sum()) if len(times) > 1 else 0
    summary = {
        "minutes": minutes, "tracks": tracks, "rate": rate, "backend": backend, "samples": len(rows),
        "engine_rss_mib_after_warmup": rss0, "engine_rss_mib_end": rss_end,
        "engine_rss_growth_pct": 100.0 * (rss_end - rss0) / rss0 if rss0 == rss0 and rss0 > 0 else float("nan"),
        "engine_fds_min_max": [min((r["engine_fds"] for r in after), default=-1),
                               max((r["engine_fds"] for r in after), default=-1)],
        "recorder_rss_mib_after_warmup": after[0]["recorder_rss_mib"] if after else float("nan"),
        "recorder_rss_mib_end": tail[-1]["recorder_rss_mib"] if tail else float("nan"),
        "e2e_p50_ms_median": float(np.nanmedian([r["e2e_p50_ms"] for r in after])) if after else float("nan"),
        "e2e_p99_ms_max": float(np.nanmax([r["e2e_p99_ms"] for r in after])) if after else float("nan"),
        "results": int(sum(r["results"] for r in rows)), "bad_results": int(rows[-1]["bad_results"]) if rows else 0,
        "frames_missing_engine": int(final.get("missing", -1)),
        "frames_rejected_engine": int(sum(final.get("rejected", {}).values())) if final else -1,
        "results_dropped_engine": int(final.get("results_dropped", -1)),
        "frames_published": published, "frames_recorded": recorded, "recording_gaps": gaps,
        "enrolled": len(expected) + len(removed), "removed": len(removed),
        "gallery_expected": sorted(expected), "gallery_stored": stored,
        "gallery_listed": sorted(p["name"] for p in listed.get("people", [])),
    }
    summary["drops"] = (max(0, summary["frames_missing_engine"]) + max(0, summary["frames_rejected_engine"])
                        + max(0, summary["results_dropped_engine"]) + max(0, published - recorded) + gaps)
    summary["gallery_intact"] = (sorted(stored) == sorted(expected) == summary["gallery_listed"]
                                 and all(n == 1 for n in stored.values()))
    (out / "soak.json").write_text(json.dumps({"summary": summary, "rows": rows}, indent=2))
    _plot(out / "soak.png", rows, warmup)
    return summary


def _plot(path: Path, rows: list[dict], warmup: float) -> None:
    if not rows:
        return
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    t = np.array([r["t"] for r in rows]) / 60
    fig, ax = plt.subplots(4, 1, figsize=(9, 9), sharex=True)
    ax[0].plot(t, [r["e2e_p50_ms"] for r in rows], label="p50")
    ax[0].plot(t, [r["e2e_p99_ms"] for r in rows], label="p99")
    ax[0].set_ylabel("end to end (ms)")
    ax[0].legend(loc="upper right")
    ax[1].plot(t, [r["engine_rss_mib"] for r in rows], label="engine")
    ax[1].plot(t, [r["recorder_rss_mib"] for r in rows], label="recorder")
    ax[1].set_ylabel("RSS (MiB)")
    ax[1].legend(loc="upper right")
    ax[2].plot(t, [r["engine_fds"] for r in rows], label="engine")
    ax[2].plot(t, [r["recorder_fds"] for r in rows], label="recorder")
    ax[2].set_ylabel("open fds")
    ax[2].legend(loc="upper right")
    ax[3].plot(t, [r["results"] / max(r["results_expected"], 1) for r in rows], label="results / expected")
    ax[3].plot(t, [r["frames_missing"] + r["rejected"] + r["results_dropped"] for r in rows], label="drops (cumulative)")
    ax[3].set_ylabel("ratio / count")
    ax[3].set_xlabel("minutes")
    ax[3].legend(loc="upper right")
    for a in ax:
        a.axvline(warmup / 60, color="grey", lw=0.8, ls=":")
        a.grid(alpha=0.3)
    fig.suptitle("skelstream bench soak: engine + synthetic walkers + recorder + results subscriber")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(args) -> None:
    out = Path(args.out or f"runs/soak-{time.strftime('%Y%m%d-%H%M%S')}")
    print(f"soak: {args.minutes:g} min, {args.tracks} walkers at {args.rate:g} Hz, backend {args.backend}; an "
          f"enrollment every {args.enroll_every:g} s; a row every {args.sample:g} s; figures in {out}", flush=True)
    s = soak(args.minutes, out, int(args.tracks), args.rate, args.sample, args.enroll_every, args.warmup,
             args.backend.split(",")[0])
    print(f"engine RSS {s['engine_rss_mib_after_warmup']:.1f} MiB after warm-up -> {s['engine_rss_mib_end']:.1f} MiB "
          f"at the end ({s['engine_rss_growth_pct']:+.2f} %); fds {s['engine_fds_min_max']}; e2e p50 "
          f"{s['e2e_p50_ms_median']:.1f} ms (median of intervals), p99 max {s['e2e_p99_ms_max']:.1f} ms")
    print(f"drops {s['drops']} (engine: {s['frames_missing_engine']} frames missing, {s['frames_rejected_engine']} "
          f"rejected, {s['results_dropped_engine']} results dropped; recording: {s['frames_recorded']} of "
          f"{s['frames_published']} published frames, {s['recording_gaps']} gaps)")
    print(f"gallery {'intact' if s['gallery_intact'] else 'NOT intact'}: {s['enrolled']} enrolled, {s['removed']} "
          f"removed; expected {s['gallery_expected']}, stored {s['gallery_stored']}, listed {s['gallery_listed']}")
    print(f"wrote {out / 'soak.json'} and {out / 'soak.png'}")
    if args.json:  # --json, as every bench takes it: the same file where asked
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text((out / "soak.json").read_text())
        print(f"wrote {args.json}")
