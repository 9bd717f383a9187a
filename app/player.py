"""A replay the dashboard can steer: play, pause, seek, speed, loop.

The frames of the chosen recordings or skeleton files (anything `engine.sensors.replay` reads) are
held in memory and published from a background thread at their own pace. Sensor time never goes
backwards on the wire: after a seek back or a loop the timestamps continue from the last one sent,
so the engine sees a continuing walk, not a reused id.
"""

from __future__ import annotations

import copy
import threading
import time
from pathlib import Path

from engine.bus import Publisher
from engine.sensors.replay import replay_timeline


class Player:
    def __init__(self, publisher: Publisher, paths: list[str | Path], speed: float = 1.0, loop: bool = True,
                 bodies: bool = False):
        self.publisher = publisher
        self.timeline = list(replay_timeline([str(p) for p in paths], bodies=bodies))
        if not self.timeline:
            raise ValueError(f"nothing to replay in {', '.join(map(str, paths))}")
        self.clocks = [c for c, _ in self.timeline]
        self.duration = self.clocks[-1] - self.clocks[0]
        self.speed, self.loop = speed, loop
        self.paused = False
        self._index = 0
        self._offset = 0.0  # added to sensor times so they keep increasing after a seek or loop
        self._last_t = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="replay", daemon=True)

    @property
    def position(self) -> float:
        """Seconds from the start of the replay of the next frame."""
        return self.clocks[min(self._index, len(self.clocks) - 1)] - self.clocks[0]

    def start(self) -> "Player":
        self._thread.start()
        return self

    def seek(self, seconds: float) -> None:
        target = self.clocks[0] + min(max(seconds, 0.0), self.duration)
        with self._lock:
            self._index = next((i for i, c in enumerate(self.clocks) if c >= target), len(self.clocks) - 1)
            self._rebase()

    def _rebase(self) -> None:
        """Make the next frame's sensor time follow the last one sent."""
        if self._last_t is not None:
            _, frame = self.timeline[self._index]
            self._offset = self._last_t + 1.0 / max(frame.fps, 1.0) - frame.t

    def _run(self) -> None:
        wall = clock = None
        while not self._stop.is_set():
            if self.paused:
                wall = None
                time.sleep(0.02)
                continue
            with self._lock:
                if self._index >= len(self.timeline):
                    if not self.loop:
                        self.paused = True
                        self._index = len(self.timeline) - 1
                        continue
                    self._index = 0
                    self._rebase()
                    wall = None
                c, frame = self.timeline[self._index]
                if wall is None or c < clock:
                    wall, clock = time.monotonic(), c
                due = wall + (c - clock) / max(self.speed, 1e-6)
            delay = due - time.monotonic()
            if delay > 0.002:
                time.sleep(min(delay, 0.05))
                continue
            with self._lock:
                if self._index < len(self.timeline) and self.timeline[self._index][1] is frame:
                    out = copy.copy(frame)
                    out.t = frame.t + self._offset
                    self.publisher.send(out)
                    self._last_t = out.t
                    self._index += 1
                wall, clock = (time.monotonic(), c) if delay < -0.25 else (wall, clock)  # fell behind: re-anchor

    def close(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(2)
        self.publisher.close()
