"""The live window's preparation, whole-context filling against last-window filling (issue 17,
item 1), side by side in one process, warm loop, one thread.

    OMP_NUM_THREADS=1 python results/engine/live_fill/bench.py

A synthetic walker's 4 s context as the engine keeps it (its sensor drops joints now and then,
so joints are filled in time as well as from others); `whole` fills, joins the spine and levels
every frame of the context and keeps the last window (the path before), `live` is
`prepare_last_windows` (the context's torso levels the window, only the last window is filled).
Prints median ms per call over interleaved rounds and the largest difference between the two.
"""
import time

import numpy as np

from engine.missing import SHARED_JOINTS, fill_missing, reduce_joints
from engine.models.sge_la import INPUT_JOINTS, prepare_last_windows
from engine.sensors.synthetic import synthetic_frames
from engine.skeleton import INDEX, center, common_spine, face_forward, upright
from engine.windows import TrackWindows


def whole(j, c, length=6):
    c = reduce_joints(c, SHARED_JOINTS)
    j, _ = fill_missing(j, c)
    w = face_forward(center(upright(common_spine(j))[:, -length:], per_frame=False))
    return np.ascontiguousarray(w[:, :, [INDEX[x] for x in INPUT_JOINTS]], np.float32)


def main():
    tw = TrackWindows(history=5.0)
    frames = synthetic_frames(1, seed=0)
    for _ in range(150):
        tw.add(next(frames), 0.0)
    _, j, c = tw.ready(30.0, 120)
    live = lambda: prepare_last_windows(j, c, 6, upright=True, common_joints=True, shared_joints=True)  # noqa: E731
    times = {"whole": [], "live": []}
    for _ in range(20):
        for name, fn in (("whole", lambda: whole(j, c)), ("live", live)):
            for _ in range(50):
                t = time.perf_counter()
                fn()
                times[name].append(time.perf_counter() - t)
    for name, v in times.items():
        print(f"{name:6s} {np.median(v) * 1e3:.3f} ms per window (median of {len(v)})")
    print(f"max abs difference {np.abs(whole(j, c) - live()).max():.1e}")


if __name__ == "__main__":
    main()
