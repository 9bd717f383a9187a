"""ZeroMQ transport for frames: publisher, subscriber with counted rejects and gaps, the shared
publishing loop of every adapter, and the loopback-or-CURVE rule.

- A `Publisher` binds a PUB socket and never blocks: when a subscriber is slow its queue fills
  to the high-water mark and further frames for it are dropped by ZeroMQ (memory stays
  bounded); the subscriber sees the gap in the sequence numbers and counts it.
- A `Subscriber` validates every message (`engine.wire.decode_frame`); a bad one is dropped and
  counted by reason, never raised out of `recv`.
- Binding anywhere but loopback (127.0.0.1, ::1, localhost, ipc://, inproc://) needs CURVE:
  the publisher's secret key file (``skelstream keys DIR`` makes a pair), and subscribers the
  publisher's public key.
"""

from __future__ import annotations

import signal
import threading
import time
from collections import Counter, deque
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator

import zmq
import zmq.auth

from engine.wire import FRAME_TOPIC, Frame, WireError, decode_frame, encode_frame

DEFAULT_FRAMES = "tcp://127.0.0.1:5555"  # adapters publish frames here
HWM = 1000  # queued messages per peer before ZeroMQ drops (about 3 MB of 6-body frames)
FLUSH_MS = 2000  # on close, a publisher waits at most this long for queued frames to leave
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "[::1]", "::1")


def is_loopback(endpoint: str) -> bool:
    """True for endpoints no other machine can reach."""
    scheme, _, rest = endpoint.partition("://")
    if scheme in ("ipc", "inproc"):
        return True
    host = rest.rsplit(":", 1)[0]
    return scheme == "tcp" and host in LOOPBACK_HOSTS


def check_address(endpoint: str) -> None:
    """A clear error for an endpoint that is not a ZeroMQ address at all."""
    scheme, sep, rest = endpoint.partition("://")
    if not sep or scheme not in ("tcp", "ipc", "inproc") or not rest:
        raise ValueError(f"endpoint {endpoint!r}: expected tcp://HOST:PORT, ipc://PATH or inproc://NAME")


def check_endpoint(endpoint: str, curve: bool) -> None:
    """Refuse to expose frames beyond loopback without CURVE."""
    check_address(endpoint)
    if not is_loopback(endpoint) and not curve:
        raise PermissionError(
            f"endpoint {endpoint}: binding beyond loopback needs CURVE encryption; pass the server "
            "secret key file (make a pair with `skelstream keys DIR`)")


def make_keys(folder: str | Path, name: str = "server") -> tuple[Path, Path]:
    """A CURVE key pair ``name.key`` (public) and ``name.key_secret`` (mode 0600) in ``folder``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    public, secret = zmq.auth.create_certificates(str(folder), name)
    Path(secret).chmod(0o600)
    return Path(public), Path(secret)


def _load_key(path: str | Path, secret: bool) -> tuple[bytes, bytes | None]:
    try:
        public, private = zmq.auth.load_certificate(str(path))
    except (OSError, ValueError) as exc:
        raise ValueError(f"{path}: not a CURVE key file ({exc})") from None
    if secret and private is None:
        raise ValueError(f"{path}: holds no secret key (give the .key_secret file)")
    return public, private


_NOBLOCK, _RCVMORE = int(zmq.NOBLOCK), int(zmq.RCVMORE)
_NOBLOCK_MORE = int(zmq.NOBLOCK | zmq.SNDMORE)


@dataclass
class Stats:
    """What a subscriber received: frames, rejects by reason, gaps, latency samples (s)."""

    received: int = 0
    rejected: Counter = field(default_factory=Counter)
    gaps: int = 0  # frames missing between consecutive sequence numbers
    restarts: int = 0  # a sensor's sequence went backwards (publisher restarted)
    latencies: deque = field(default_factory=lambda: deque(maxlen=1000))  # the newest (s)
    last_seq: dict = field(default_factory=dict)

    MAX_GAP = 1_000_000  # a longer jump of a sequence is a restarted sensor, not lost frames
    MAX_SENSORS = 4096  # sensors remembered (the oldest forgotten first): bounded under any input

    def note(self, frame: Frame, now: float) -> None:
        self.received += 1
        last = self.last_seq.pop(frame.sensor, None)  # re-inserted below: the dict stays in recency order
        if last is not None:
            if last + 1 < frame.seq <= last + self.MAX_GAP:
                self.gaps += frame.seq - last - 1
            elif frame.seq != last + 1:
                self.restarts += 1
        self.last_seq[frame.sensor] = frame.seq
        if len(self.last_seq) > self.MAX_SENSORS:
            del self.last_seq[next(iter(self.last_seq))]
        if 0 < frame.t_pub and abs(now - frame.t_pub) < 3600:  # a publisher clock an hour off says nothing
            self.latencies.append(now - frame.t_pub)

    def summary(self) -> str:
        rej = ", ".join(f"{k} {v}" for k, v in sorted(self.rejected.items())) or "none"
        return f"{self.received} frames, {self.gaps} missing, rejected: {rej}"


class Publisher:
    """A PUB socket (XPUB, to see subscribers arrive) publishing frames; assigns each sensor's
    sequence numbers and ``t_pub``."""

    def __init__(self, endpoint: str = DEFAULT_FRAMES, secret_key: str | Path | None = None,
                 hwm: int = HWM, context: zmq.Context | None = None):
        check_endpoint(endpoint, secret_key is not None)
        self.endpoint = endpoint
        self.socket = (context or zmq.Context.instance()).socket(zmq.XPUB)
        self.socket.setsockopt(zmq.SNDHWM, hwm)
        self.socket.setsockopt(zmq.LINGER, FLUSH_MS)  # close() flushes what is queued, bounded
        self.socket.setsockopt(zmq.XPUB_VERBOSE, 1)  # every subscriber's subscription, not only the first
        if secret_key is not None:
            public, private = _load_key(secret_key, secret=True)
            self.socket.curve_secretkey, self.socket.curve_publickey = private, public
            self.socket.curve_server = True
        try:
            self.socket.bind(endpoint)
        except zmq.ZMQError as exc:
            self.socket.close()
            raise OSError(f"cannot publish on {endpoint}: {exc}") from None
        self._seq: Counter = Counter()
        self.sent = self.dropped = 0
        self.subscriptions = 0

    def wait_for_subscribers(self, n: int = 1, timeout: float | None = None) -> bool:
        """Block until ``n`` subscriptions arrived (so a replay loses no first frames), or
        ``timeout`` seconds passed; True when they did."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.subscriptions < n:
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                return False
            if self.socket.poll(None if left is None else int(left * 1000) + 1, zmq.POLLIN):
                msg = self.socket.recv()
                self.subscriptions += 1 if msg[:1] == b"\x01" else 0
        return True

    def send(self, frame: Frame) -> Frame:
        """Publish ``frame`` with the next sequence number of its sensor; never blocks."""
        frame.seq = seq = self._seq[frame.sensor]
        self._seq[frame.sensor] = seq + 1
        frame.t_pub = time.time()
        self.send_parts(encode_frame(frame))
        return frame

    def send_parts(self, parts: list[bytes]) -> None:
        """Publish an already encoded message (drops, like ZeroMQ, when no peer can take it)."""
        send = self.socket.send  # send_multipart without its per-part type checks and flag conversions
        try:
            for part in parts[:-1]:
                send(part, _NOBLOCK_MORE)
            send(parts[-1], _NOBLOCK)
            self.sent += 1
        except zmq.Again:  # refused at the first part: nothing of the message was queued
            self.dropped += 1

    def close(self, linger: int | None = None) -> None:
        """Close; frames still queued get up to ``linger`` ms (default FLUSH_MS) to leave, so a
        replay that ends flat out loses none of its last frames. 0 discards them."""
        self.socket.close(linger=linger)

    def __enter__(self) -> "Publisher":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class Subscriber:
    """A SUB socket on one or more publishers; `recv` returns valid frames only."""

    def __init__(self, endpoints: str | Iterable[str] = DEFAULT_FRAMES, sensors: Iterable[str] | None = None,
                 server_key: str | Path | None = None, hwm: int = HWM, context: zmq.Context | None = None):
        self.socket = (context or zmq.Context.instance()).socket(zmq.SUB)
        self.socket.setsockopt(zmq.RCVHWM, hwm)
        self.socket.setsockopt(zmq.LINGER, 0)
        if server_key is not None:
            self.socket.curve_serverkey = _load_key(server_key, secret=False)[0]
            self.socket.curve_publickey, self.socket.curve_secretkey = zmq.curve_keypair()
        for topic in ([FRAME_TOPIC + s.encode() for s in sensors] if sensors else [FRAME_TOPIC]):
            self.socket.setsockopt(zmq.SUBSCRIBE, topic)
        for ep in [endpoints] if isinstance(endpoints, str) else endpoints:
            check_address(ep)
            try:
                self.socket.connect(ep)
            except zmq.ZMQError as exc:
                self.socket.close()
                raise OSError(f"cannot connect to {ep}: {exc}") from None
        self.stats = Stats()
        self._poller = zmq.Poller()
        self._poller.register(self.socket, zmq.POLLIN)

    def recv_parts(self, timeout: float | None = None) -> tuple[list[bytes], Frame] | None:
        """The next valid message ``(parts, frame)``, or None after ``timeout`` seconds (None:
        wait for ever). Invalid messages are counted in ``stats.rejected`` and skipped."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            try:  # whatever is queued first, without a poll per message
                parts = self._recv_parts()
            except zmq.Again:
                left = None if deadline is None else max(0.0, deadline - time.monotonic())
                if not self._poller.poll(None if left is None else int(left * 1000)):
                    return None
                continue
            try:
                frame = decode_frame(parts)
            except WireError as exc:
                self.stats.rejected[exc.reason] += 1
                continue
            self.stats.note(frame, time.time())
            return parts, frame

    def _recv_parts(self) -> list[bytes]:
        """`recv_multipart(NOBLOCK)` without its per-part flag and option conversions (a fifth of
        the receive cost of a frame): raises zmq.Again when nothing is queued."""
        recv, more = self.socket.recv, self.socket.get
        parts = [recv(_NOBLOCK)]
        while more(_RCVMORE):
            parts.append(recv(0))
        return parts

    def recv(self, timeout: float | None = None) -> Frame | None:
        """The next valid frame, or None after ``timeout`` seconds."""
        got = self.recv_parts(timeout)
        return None if got is None else got[1]

    def close(self, linger: int = 0) -> None:
        self.socket.close(linger=linger)

    def __enter__(self) -> "Subscriber":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def paced(timeline: Iterable[tuple[float, Frame]], speed: float = 1.0) -> Iterator[Frame]:
    """Frames of ``(clock, frame)`` pairs released at their clock times (seconds; ``speed``
    times faster; 0 = flat out)."""
    start = c0 = None
    for clock, frame in timeline:
        if speed > 0:
            if start is None:
                start, c0 = time.monotonic(), clock
            delay = start + (clock - c0) / speed - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        yield frame


def timeline(frames: Iterable[Frame]) -> Iterator[tuple[float, Frame]]:
    """``(frame.t, frame)``: pace frames by their own timestamps."""
    return ((f.t, f) for f in frames)


@contextmanager
def stop_signals(event: threading.Event | None = None) -> Iterator[threading.Event]:
    """While active, Ctrl-C (SIGINT) and SIGTERM set the returned event instead of raising in
    the middle of a send or a file write; loops check it. Off the main thread: no handlers."""
    event = event or threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield event
        return
    old = {sig: signal.signal(sig, lambda *_: event.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield event
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)


def publish(frames: Iterable[tuple[float, Frame]], publisher: Publisher, speed: float = 1.0,
            progress: bool = True, stop: threading.Event | None = None) -> int:
    """The publishing loop every adapter shares: pace ``(clock, frame)`` pairs (see `paced`),
    publish, stop cleanly on Ctrl-C, SIGTERM or ``stop`` (the socket is closed, nothing
    hangs). Returns the number of frames published."""
    count = 0
    last_report = time.monotonic()
    with stop_signals(stop) as stopping:
        try:
            for frame in paced(frames, speed):
                if stopping.is_set():
                    break
                publisher.send(frame)
                count += 1
                if progress and time.monotonic() - last_report > 5:
                    last_report = time.monotonic()
                    print(f"published {count} frames (t = {frame.t:.1f} s)", flush=True)
        finally:
            publisher.close()
    if progress:
        print(f"stopped: {count} frames published on {publisher.endpoint}"
              + (f" ({publisher.dropped} dropped: no peer could take them)" if publisher.dropped else ""), flush=True)
    return count
