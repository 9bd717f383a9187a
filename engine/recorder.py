"""``skelstream record``: subscribe to frames and write them to a recording, losing nothing.

Every valid message is stored byte for byte as received (log time = receive time). Ctrl-C,
SIGTERM, ``--duration`` or ``--idle`` (no frame for that many seconds, e.g. after the
publisher crashed) end the recording: the file is then finished with its summary and index.
Chunks are small, so even if the recorder itself is killed, everything but the last chunk
(64 KiB, about two seconds of six bodies) stays readable.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Iterable

from engine.bus import DEFAULT_FRAMES, Subscriber, stop_signals
from engine.recording import RecordingWriter


def record(out: str | Path, endpoints: str | Iterable[str] = DEFAULT_FRAMES, sensors: Iterable[str] | None = None,
           server_key: str | Path | None = None, duration: float | None = None, idle: float | None = None,
           ready: threading.Event | None = None, stop: threading.Event | None = None,
           progress: bool = True) -> dict:
    """Record until stopped (see the module docstring); returns the subscriber's statistics.
    ``ready`` is set once subscribed; setting ``stop`` ends the recording (for threads)."""
    frames = 0
    began = time.monotonic()
    last_frame = began
    with stop_signals(stop) as stopping, Subscriber(endpoints, sensors, server_key) as sub, \
            RecordingWriter(out) as writer:
        if ready is not None:
            ready.set()
        last_report = began
        while not stopping.is_set():
            if duration is not None and time.monotonic() - began >= duration:
                break
            got = sub.recv_parts(timeout=0.2)
            if got is None:
                # idle only counts when nothing is queued: a recorder that was itself paused
                # (a busy machine) still drains what arrived meanwhile
                if idle is not None and time.monotonic() - last_frame >= idle:
                    if progress:
                        print(f"no frame for {idle:g} s: stopping", flush=True)
                    break
                continue
            writer.write(got[0], log_time=time.time())
            frames += 1
            last_frame = time.monotonic()
            if progress and last_frame - last_report > 5:
                last_report = last_frame
                print(f"recorded {sub.stats.summary()}", flush=True)
        stats = sub.stats
    if progress:
        print(f"wrote {out}: {stats.summary()}", flush=True)
    return {"frames": frames, "missing": stats.gaps, "rejected": dict(stats.rejected)}
