"""``skelstream bench wire``: frames publisher -> subscriber on loopback, against bare pyzmq.

Both sides run in separate processes. For each transport (tcp on 127.0.0.1, ipc where the
platform has it) and each implementation:
- ``30 Hz``: frames of N bodies x 25 joints at 30 Hz for some seconds: latency (receive time
  minus publish time) p50/p99, and frames missing;
- ``flat out``: as fast as the publisher can send: messages/s received, and missing.
``skelstream`` encodes and validates every frame (engine.wire, engine.bus); ``pyzmq`` sends the
same four parts of the same sizes, pre-encoded, and only unpacks a timestamp and a sequence
number. The ratio skelstream / pyzmq of the flat-out rates is printed.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import struct
import tempfile
import time

import numpy as np
import zmq

from engine.bus import Publisher, Subscriber
from engine.skeleton import KINECT_V2
from engine.wire import Frame, encode_frame

_STAMP = struct.Struct("<dQ")
WARMUP = "warmup"


def _frame(bodies: int, sensor: str = "bench") -> Frame:
    rng = np.random.default_rng(0)
    return Frame(sensor, 0, 0.0, KINECT_V2, np.arange(bodies),
                 rng.normal(0, 1, (bodies, 25, 3)).astype(np.float32),
                 np.ones((bodies, 25), np.float32), 30.0)


def _publisher(impl: str, endpoint: str, count: int, rate: float, bodies: int, started, done) -> None:
    ctx = zmq.Context()
    frame, warm = _frame(bodies), _frame(bodies, WARMUP)
    if impl == "skelstream":
        pub = Publisher(endpoint, context=ctx, hwm=1000)
        send_warm = lambda: pub.send(warm)  # noqa: E731
    else:
        pub = ctx.socket(zmq.PUB)
        pub.setsockopt(zmq.SNDHWM, 1000)
        pub.bind(endpoint)
        parts = encode_frame(frame)
        pad = b"\0" * max(0, len(parts[1]) - _STAMP.size)

        def send(seq: int, topic: bytes = parts[0]) -> None:
            try:
                pub.send_multipart([topic, _STAMP.pack(time.time(), seq) + pad, parts[2], parts[3]],
                                   flags=zmq.NOBLOCK, copy=False)
            except zmq.Again:
                pass
        send_warm = lambda: send(0, b"frame/" + WARMUP.encode())  # noqa: E731
    while not started.wait(0.01):  # until the subscriber is connected and receiving
        send_warm()
    t0 = time.perf_counter()
    for i in range(count):
        if rate:
            delay = t0 + i / rate - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
        if impl == "skelstream":
            pub.send(frame)
        else:
            send(i)
    done.wait(30)
    pub.close(linger=0)
    ctx.term()


def _receive(impl: str, endpoint: str, count: int, started, ctx: zmq.Context) -> dict:
    """Receive until ``count`` frames or 1 s of silence; the first warm-up frame tells the
    publisher (``started``) that the subscription is in place."""
    lat, seqs, rejected, t_first = [], [], 0, None
    if impl == "skelstream":
        sub = Subscriber(endpoint, context=ctx)
        recv = lambda wait: sub.recv(timeout=wait)  # noqa: E731
    else:
        sub = ctx.socket(zmq.SUB)
        sub.setsockopt(zmq.RCVHWM, 1000)
        sub.setsockopt(zmq.SUBSCRIBE, b"frame/")
        sub.connect(endpoint)
        poller = zmq.Poller()
        poller.register(sub, zmq.POLLIN)
        recv = lambda wait: sub.recv_multipart() if poller.poll(int(wait * 1000)) else None  # noqa: E731
    while len(seqs) < count:
        got = recv(10.0 if t_first is None else 1.0)
        if got is None:
            if not started.is_set():
                raise RuntimeError(f"{endpoint}: the publisher sent nothing")
            break
        if impl == "skelstream":
            warm, t_pub, seq = got.sensor == WARMUP, got.t_pub, got.seq
        else:
            warm = got[0].endswith(WARMUP.encode())
            t_pub, seq = _STAMP.unpack_from(got[1])
        if warm:
            started.set()
            continue
        if t_first is None:
            t_first = time.perf_counter()
        lat.append(time.time() - t_pub)
        seqs.append(seq)
    if impl == "skelstream":
        rejected = sum(sub.stats.rejected.values())
    elapsed = time.perf_counter() - t_first
    sub.close(linger=0)
    seqs = np.asarray(seqs)
    lat_ms = np.asarray(lat) * 1e3
    return {"received": int(len(seqs)), "missing": int(count - len(seqs)), "rejected": int(rejected),
            "in_order": bool((np.diff(seqs) > 0).all()),
            "rate": float((len(seqs) - 1) / elapsed) if elapsed > 0 else 0.0,
            "p50_ms": float(np.percentile(lat_ms, 50)), "p99_ms": float(np.percentile(lat_ms, 99))}


def run(impl: str, endpoint: str, count: int, rate: float, bodies: int) -> dict:
    """One publisher process -> this process; figures of the receiving side."""
    ctx = mp.get_context("spawn")
    started, done = ctx.Event(), ctx.Event()
    proc = ctx.Process(target=_publisher, args=(impl, endpoint, count, rate, bodies, started, done))
    proc.start()
    zctx = zmq.Context()
    try:
        res = _receive(impl, endpoint, count, started, zctx)
    finally:
        done.set()
        proc.join(30)
        zctx.term()
    return res


def main(args) -> None:
    tmp = tempfile.mkdtemp(prefix="skelstream-bench-")
    transports = {"tcp": "tcp://127.0.0.1:{port}"}
    if zmq.has("ipc"):
        transports["ipc"] = f"ipc://{tmp}/bench-{{port}}"
    loads = {"30 Hz": (int(args.seconds * 30), 30.0), "flat out": (args.messages, 0.0)}
    results, port = [], 5790 + os.getpid() % 200
    print(f"{'transport':<10}{'load':<10}{'impl':<12}{'msgs/s':>10}{'p50 ms':>9}{'p99 ms':>9}{'missing':>9}")
    for tname, pattern in transports.items():
        for lname, (count, rate) in loads.items():
            for impl in ("skelstream", "pyzmq"):
                port += 1
                r = run(impl, pattern.format(port=port), count, rate, args.bodies)
                r |= {"transport": tname, "load": lname, "impl": impl, "bodies": args.bodies, "sent": count}
                results.append(r)
                print(f"{tname:<10}{lname:<10}{impl:<12}{r['rate']:>10.0f}{r['p50_ms']:>9.2f}"
                      f"{r['p99_ms']:>9.2f}{r['missing']:>9}", flush=True)
    for tname in transports:
        rate = {r["impl"]: r["rate"] for r in results if r["transport"] == tname and r["load"] == "flat out"}
        print(f"{tname}: flat-out rate skelstream / pyzmq = {rate['skelstream'] / rate['pyzmq']:.2f}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"bodies": args.bodies, "results": results}, fh, indent=2)
