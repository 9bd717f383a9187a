"""``skelstream app --bench N[,N...]``: the dashboard's redraw time with N tracks.

N synthetic walkers move through the window's state (bodies, identities with top-5 and attention)
exactly as the engine client would fill it; each frame the window redraws (3D view, table,
top matches, heatmaps, status) and the 3D view is rendered at once (``repaint``), timed
together. Under Xvfb the GL rendering is Mesa's software rasteriser: a desktop GPU only makes
the render part faster.
"""

from __future__ import annotations

import json
import time

import numpy as np


def measure(tracks: int, frames: int = 150) -> dict:
    from PySide6 import QtWidgets

    from app.client import Body, EngineClient, Identity
    from app.window import MainWindow, share_gl_contexts
    from engine.sensors.synthetic import synthetic_frames
    from engine.skeleton import to_canonical

    share_gl_contexts()
    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication([])
    client = EngineClient("inproc://bench-ui-results", "inproc://bench-ui-control")
    client.last_status = float("inf")  # no engine here: show it as connected
    window = MainWindow(client)
    window.poll_timer.stop()
    window.draw_timer.stop()
    window.show()
    app.processEvents()
    names = [f"person {i}" for i in range(12)]
    rng = np.random.default_rng(0)
    att = rng.dirichlet(np.ones(6), (3, 6)).astype(np.float32)
    times = []
    for k, frame in enumerate(synthetic_frames(tracks, seed=1, seconds=frames / 30)):
        joints, conf, _ = to_canonical(frame.joints, frame.confidence, frame.layout)
        now = time.monotonic()
        for b in range(tracks):
            key = ("bench", b)
            body = client.bodies.setdefault(key, Body(joints[b], conf[b], now))
            body.joints, body.confidence, body.seen = joints[b], conf[b], now
            if conf[b][0] > 0:
                body.trail.append(joints[b][0].copy())
            ident = client.identities.setdefault(key, Identity())
            ident.decision, ident.score = names[b % len(names)], 0.8
            ident.top = [(n, 0.8 - 0.05 * i) for i, n in enumerate(names[:5])]
            ident.attention = att
        start = time.perf_counter()
        window.redraw()
        window.scene.repaint()
        app.processEvents()
        if k >= 10:  # first frames: shader compilation, first layouts
            times.append((time.perf_counter() - start) * 1e3)
    window.close()
    client.close()
    return {"tracks": tracks, "frames": len(times), "p50_ms": float(np.percentile(times, 50)),
            "p99_ms": float(np.percentile(times, 99)), "scene_p50_ms": float(np.median(window.scene.draw_ms[10:]))}


def main(args) -> None:
    rows = []
    print(f"{'tracks':>7}{'redraw p50 ms':>15}{'p99 ms':>9}{'of which 3D data':>18}")
    for n in [int(x) for x in str(args.tracks).split(",")]:
        r = measure(n)
        rows.append(r)
        print(f"{n:>7}{r['p50_ms']:>15.1f}{r['p99_ms']:>9.1f}{r['scene_p50_ms']:>18.1f}", flush=True)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(rows, fh, indent=2)
