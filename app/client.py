"""The dashboard's link to an engine, without Qt: what the app knows about the live scene.

An `EngineClient` subscribes to the engine's PUB socket (the frames it saw, its results and its
status) and talks to its REP control socket. `poll()` drains whatever arrived without blocking
and folds it into plain state the UI draws from:

- ``bodies[(sensor, track)]``: the newest joints, confidence and a short trail of root positions;
- ``identities[(sensor, track)]``: decision, score, top-k, seconds walked, decision history,
  the action label and its score, and the attention matrices of the newest gait window;
- ``status``: the engine's last status message; ``connected`` turns False when no status came
  for ``timeout`` seconds (the engine went away). ZeroMQ reconnects by itself; a control
  request that times out drops its socket so the next one starts afresh (the "lazy pirate").

Bad messages are counted by reason in ``rejected`` and never raise.
"""

from __future__ import annotations

import json
import time
from collections import Counter, deque
from dataclasses import dataclass, field

import numpy as np
import zmq

from engine.skeleton import INDEX, to_canonical
from engine.wire import (FRAME_TOPIC, RESULT_TOPIC, STATUS_TOPIC, WireError, decode_frame, decode_result,
                         decode_status)

Key = tuple[str, int]
TRAIL = 45  # root positions kept per body (1.5 s at 30 Hz)


HIPS = [INDEX["HipLeft"], INDEX["HipRight"]]


@dataclass
class Body:
    joints: np.ndarray  # [25, 3] canonical joints
    confidence: np.ndarray  # [25]
    seen: float  # receive clock
    trail: deque = field(default_factory=lambda: deque(maxlen=TRAIL))


@dataclass
class Identity:
    decision: str = "unknown"
    score: float = 0.0
    seconds: float = 0.0
    top: list = field(default_factory=list)  # [(name, gait score)], in the ranking's order
    cue: str = "gait"  # what ranked them: "gait" or "gait+shape" (engine/shape.py)
    action: str = ""  # nearest action prototype of the newest action window ("" until one)
    action_score: float = 0.0
    attention: np.ndarray | None = None  # SGE-LA: [3, f, f]; A3D: [1, f, 20] (cells its glimpses covered)
    glimpses: list = field(default_factory=list)  # A3D: [{frames: [first, end], joints: [names]}]
    history: deque = field(default_factory=lambda: deque(maxlen=50))  # [(receive clock, decision)]


class EngineClient:
    """See the module docstring. ``results`` is the engine's PUB endpoint, ``control`` its REP."""

    def __init__(self, results: str, control: str, timeout: float = 3.0, body_timeout: float = 1.0,
                 context: zmq.Context | None = None):
        self.results, self.control = results, control
        self.timeout, self.body_timeout = timeout, body_timeout
        self.ctx = context or zmq.Context.instance()
        self.sub = self.ctx.socket(zmq.SUB)
        self.sub.setsockopt(zmq.RCVHWM, 2000)
        self.sub.setsockopt(zmq.LINGER, 0)
        for topic in (FRAME_TOPIC, RESULT_TOPIC, STATUS_TOPIC):
            self.sub.setsockopt(zmq.SUBSCRIBE, topic)
        self.sub.connect(results)
        self._req: zmq.Socket | None = None
        self.bodies: dict[Key, Body] = {}
        self.identities: dict[Key, Identity] = {}
        self.status: dict = {}
        self.last_status = -np.inf
        self.frame_times: deque = deque(maxlen=120)  # receive clocks of frames (sensor fps)
        self.rejected: Counter = Counter()

    @property
    def connected(self) -> bool:
        return time.monotonic() - self.last_status < self.timeout

    def sensor_fps(self) -> float:
        t = self.frame_times
        sensors = max(1, len({k[0] for k in self.bodies}))
        return (len(t) - 1) / (t[-1] - t[0]) / sensors if len(t) > 2 and t[-1] > t[0] else 0.0

    # --- receiving ---------------------------------------------------------------------
    def poll(self, budget: float = 0.01) -> int:
        """Take the messages that arrived (for at most ``budget`` seconds); returns how many."""
        n, start = 0, time.monotonic()
        while time.monotonic() - start < budget:
            try:
                parts = self.sub.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                break
            n += 1
            try:
                self._take(parts)
            except WireError as exc:
                self.rejected[exc.reason] += 1
        now = time.monotonic()
        for key in [k for k, b in self.bodies.items() if now - b.seen > self.body_timeout]:
            del self.bodies[key]
        return n

    def _take(self, parts: list[bytes]) -> None:
        now = time.monotonic()
        topic = parts[0]
        if topic.startswith(FRAME_TOPIC):
            frame = decode_frame(parts)
            self.frame_times.append(now)
            joints, conf, _ = to_canonical(frame.joints, frame.confidence, frame.layout)
            for b, track in enumerate(frame.tracks.tolist()):
                key = (frame.sensor, track)
                body = self.bodies.get(key)
                if body is None:
                    body = self.bodies[key] = Body(joints[b], conf[b], now)
                body.joints, body.confidence, body.seen = joints[b], conf[b], now
                hips = conf[b][HIPS] > 0
                if conf[b][0] > 0:  # the root's path on the floor (skip frames that lost it)
                    body.trail.append(joints[b][0].copy())
                elif hips.all():  # a sensor without a spine base (OpenNI): the hips' midpoint
                    body.trail.append(joints[b][HIPS].mean(0))
        elif topic.startswith(RESULT_TOPIC):
            header, attention = decode_result(parts)
            for i, row in enumerate(header["tracks"]):
                key = (header["sensor"], int(row["track"]))
                ident = self.identities.setdefault(key, Identity())
                if not ident.history or ident.history[-1][1] != row["decision"]:
                    ident.history.append((now, row["decision"]))
                ident.decision, ident.score = str(row["decision"]), float(row["score"])
                ident.seconds = float(row.get("seconds", 0.0))
                ident.top = [(str(n), float(s)) for n, s in row.get("top", [])]
                ident.cue = str(row.get("cue", "gait"))
                if "action" in row:
                    ident.action, ident.action_score = str(row["action"]), float(row.get("action_score", 0.0))
                ident.attention = attention[i].copy()
                ident.glimpses = list(row.get("glimpses", []))
        elif topic == STATUS_TOPIC:
            self.status = decode_status(parts)
            self.last_status = now
        else:
            raise WireError("bad-topic", f"unexpected topic {topic[:40]!r}")

    def forget_gone(self) -> None:
        """Drop the identities of tracks no longer seen."""
        for key in [k for k in self.identities if k not in self.bodies]:
            del self.identities[key]

    # --- control -----------------------------------------------------------------------
    def request(self, cmd: str, timeout: float = 3.0, **args) -> dict:
        """One control request; ``{"ok": False, "error": ...}`` when the engine does not answer."""
        if self._req is None:
            self._req = self.ctx.socket(zmq.REQ)
            self._req.setsockopt(zmq.LINGER, 0)
            self._req.connect(self.control)
        self._req.send(json.dumps({"cmd": cmd, **args}).encode())
        if self._req.poll(int(timeout * 1000)):
            try:
                return json.loads(self._req.recv())
            except ValueError as exc:
                return {"ok": False, "error": f"bad reply from the engine: {exc}"}
        self._req.close()  # a REQ socket that got no reply cannot send again: start afresh
        self._req = None
        return {"ok": False, "error": f"the engine at {self.control} did not answer within {timeout:g} s"}

    def close(self) -> None:
        self.sub.close()
        if self._req is not None:
            self._req.close()
