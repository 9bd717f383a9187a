"""What idling between windows costs a model call on this machine (issue 17, one track).

    OMP_NUM_THREADS=1 python results/engine/live_fill/idle.py [--rounds 3]

The bundled encoders' ONNX exports (`skelstream export fast --onnx --cache`, the same for the
default), one thread, batch 1, a real-shaped window; each call after a sleep of 0 (back to back),
33 ms (one frame at 30 Hz: how the live engine waits for the next frame) or 200 ms (one hop of
6 frames: how long a single track's engine idles between windows). Median ms per call, rounds
interleaved.
"""
import argparse
import time

import numpy as np

from engine.runtime import example_input, load_encoder


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--calls", type=int, default=30)
    args = p.parse_args()
    sessions = {}
    for name in ("fast", None):
        enc, meta = load_encoder("gait", name, backend="onnx", threads=1)
        sessions[meta["name"]] = (enc.session, example_input("gait", meta, 1).numpy())
    gaps = (0.0, 0.033, 0.2)
    times = {(n, g): [] for n in sessions for g in gaps}
    for _ in range(args.rounds):
        for name, (sess, x) in sessions.items():
            for _ in range(10):
                sess.run(x)
            for gap in gaps:
                for _ in range(args.calls):
                    if gap:
                        time.sleep(gap)
                    t = time.perf_counter()
                    sess.run(x)
                    times[(name, gap)].append((time.perf_counter() - t) * 1e3)
    for name in sessions:
        row = "  ".join(f"after {int(g * 1000):3d} ms idle: {np.median(times[(name, g)]):5.2f}" for g in gaps)
        print(f"{name:14s} {row}  (ms per window, median of {args.rounds * args.calls})")


if __name__ == "__main__":
    main()
