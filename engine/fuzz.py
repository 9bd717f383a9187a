"""``skelstream bench fuzz``: malformed and adversarial frame messages, at scale, through the
decoder and through a running engine's receive loop.

Messages come from two sources, mixed:
- `hypothesis` strategies for the frame schema (`message_strategy`): every header field drawn
  from valid values and from values of the wrong type or range, layouts by name, by joint list
  and garbage, payloads that fit or not, NaN and inf among the coordinates, extra keys;
- mutations of valid frames (`mutate`): byte flips, truncation, parts dropped, added or
  reordered, header fields of the wrong type or value, huge shapes (a header claiming 10^5
  bodies or joints), NaN/inf, garbage, unknown layouts, wrong topics.
A share (10 %) of untouched valid frames from 6 synthetic walkers goes in among them.

Decoder: every message through `engine.wire.decode_frame`; anything but a frame or a
`WireError` is a crash. Engine: a real `Engine` (its own thread, the bundled checkpoints) on ipc
sockets, fed through an XPUB socket that never drops (``XPUB_NODROP``), so the engine must see
exactly what was sent: at the end its counts of frames received and of rejections per reason
equal those of decoding the same messages here, the good frames' walkers got results, and the
engine thread is alive. Messages whose topic is not ``frame/...`` never reach it (ZeroMQ's
subscription filter) and are counted apart.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from pathlib import Path
from typing import Iterator

import msgpack
import numpy as np

from engine.skeleton import CANONICAL, LAYOUTS
from engine.wire import FRAME_TOPIC, WireError, decode_frame, decode_result, encode_frame

_FIELDS = ("v", "sensor", "seq", "t", "t_pub", "fps", "layout", "tracks")
_WRONG = [None, "x", -1, float("nan"), float("inf"), [1.5], {"a": 1}, 2**63, -2**63, True, b"\x00", 1e308, ""]


def message_strategy():
    """A hypothesis strategy of frame messages (lists of bytes parts), valid and not."""
    from hypothesis import strategies as st

    text = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=12)
    anything = st.one_of(st.none(), st.booleans(), st.integers(-2**63, 2**64 - 1),
                         st.floats(allow_nan=True, allow_infinity=True), text, st.binary(max_size=8),
                         st.lists(st.integers(-5, 5), max_size=3), st.dictionaries(text, st.integers(), max_size=2))
    layout = st.integers(0, 5).flatmap(lambda k: st.sampled_from(sorted(LAYOUTS)) if k < 4 else anything if k == 4
                                       else st.lists(st.sampled_from(CANONICAL + ("Elbow", "", "Nose")), max_size=40))

    def field(valid):  # mostly valid, so that the later checks get their turn
        return st.integers(0, 7).flatmap(lambda k: anything if k == 0 else valid)

    header = st.fixed_dictionaries(
        {"v": field(st.just(1)), "sensor": field(text), "seq": field(st.integers(0, 2**64 - 1)),
         "t": field(st.floats(0, 1e6)), "t_pub": field(st.floats(0, 2e9)),
         "fps": field(st.floats(1, 120)), "layout": layout,
         "tracks": field(st.lists(st.integers(-2**63, 2**63 - 1), max_size=8))},
        optional={k: anything for k in ("extra", "bodies", "joints")})

    @st.composite
    def message(draw):
        h = draw(header)
        drop = draw(st.integers(0, 3).flatmap(lambda k: st.lists(st.sampled_from(_FIELDS), max_size=2) if k == 0
                                               else st.just([])))
        h = {k: v for k, v in h.items() if k not in drop}
        sensor = h.get("sensor") if isinstance(h.get("sensor"), str) else draw(text)
        topic = draw(st.sampled_from([FRAME_TOPIC + sensor.encode()] * 5 + [FRAME_TOPIC + b"other", b"", b"frame",
                                                                          b"result/x"]))
        bodies = len(h["tracks"]) if isinstance(h.get("tracks"), list) else draw(st.integers(0, 4))
        lay = h.get("layout")
        joints = (len(LAYOUTS[lay]) if isinstance(lay, str) and lay in LAYOUTS
                  else len(lay) if isinstance(lay, list) else draw(st.integers(0, 33)))
        fit = draw(st.sampled_from(["fit", "fit", "fit", "short", "long", "empty"]))
        n = {"fit": bodies * joints, "short": max(0, bodies * joints - 1), "long": bodies * joints + 1, "empty": 0}[fit]
        rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
        coords = rng.normal(0, 1, n * 3).astype("<f4")
        conf = rng.random(n).astype("<f4")
        special = draw(st.sampled_from([None, None, None, np.nan, np.inf, -np.inf]))
        if special is not None and n:
            (coords if draw(st.booleans()) else conf)[draw(st.integers(0, n - 1))] = special
        try:
            raw = msgpack.packb(h)
        except (OverflowError, TypeError, ValueError):
            raw = draw(st.binary(max_size=40))
        parts = [topic, raw, coords.tobytes(), conf.tobytes()]
        order = draw(st.sampled_from(["keep"] * 6 + ["swap", "drop", "add"]))
        if order == "swap":
            i, j = draw(st.integers(0, 3)), draw(st.integers(0, 3))
            parts[i], parts[j] = parts[j], parts[i]
        elif order == "drop":
            del parts[draw(st.integers(0, 3))]
        elif order == "add":
            parts.append(draw(st.binary(max_size=8)))
        return [p if p else b"" for p in parts] or [b""]

    return message()


def hypothesis_messages(n: int, seed: int = 0) -> list[list[bytes]]:
    """``n`` messages drawn by hypothesis (generation only: no shrinking, no database)."""
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis import seed as hseed

    out: list[list[bytes]] = []

    @hseed(seed)
    @settings(max_examples=n, database=None, deadline=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(message_strategy())
    def collect(parts):
        out.append(parts)

    collect()
    return out


def _header(raw: bytes) -> dict:
    try:
        header = msgpack.unpackb(raw)
    except Exception:  # noqa: BLE001 - a message drawn by hypothesis may hold anything
        return {}
    return header if isinstance(header, dict) else {}


def mutate(parts: list[bytes], rng: np.random.Generator) -> list[bytes]:
    """One random corruption of a frame message of 4 parts (see the module doc)."""
    parts = list(parts)
    kind = int(rng.integers(11))
    k = int(rng.integers(len(parts)))
    if kind == 0:  # flip bytes
        b = bytearray(parts[k])
        for i in rng.integers(0, max(1, len(b)), size=int(rng.integers(1, 6))):
            if b:
                b[i] ^= int(rng.integers(1, 256))
        parts[k] = bytes(b)
    elif kind == 1:  # truncate
        parts[k] = parts[k][: int(rng.integers(0, len(parts[k]) + 1))]
    elif kind == 2:  # drop, add or reorder parts
        r = rng.random()
        if r < 0.33:
            del parts[k]
        elif r < 0.66:
            parts.insert(k, rng.bytes(int(rng.integers(0, 16))))
        else:
            i, j = rng.permutation(len(parts))[:2]
            parts[i], parts[j] = parts[j], parts[i]
    elif kind == 3:  # a header field of the wrong type or value, or missing
        header = _header(parts[1])
        key = _FIELDS[int(rng.integers(len(_FIELDS)))]
        if rng.random() < 0.2:
            header.pop(key, None)
        else:
            header[key] = _WRONG[int(rng.integers(len(_WRONG)))]
        parts[1] = msgpack.packb(header)
    elif kind == 4:  # NaN or inf among joints or confidences
        i = 2 + int(rng.integers(2))
        a = np.frombuffer(parts[i][: len(parts[i]) // 4 * 4], "<f4").copy()
        if len(a):
            a[int(rng.integers(len(a)))] = [np.nan, np.inf, -np.inf][int(rng.integers(3))]
        parts[i] = a.tobytes()
    elif kind == 5:  # random garbage
        parts = [rng.bytes(int(rng.integers(0, 64))) for _ in range(int(rng.integers(1, 6)))]
    elif kind == 6:  # unknown layout or joint names
        header = _header(parts[1])
        header["layout"] = (["Elbow"] * 25, "kinect_v9", list(CANONICAL[:3]), [], [1, 2])[int(rng.integers(5))]
        parts[1] = msgpack.packb(header)
    elif kind == 7:  # wrong topic
        parts[0] = [b"frame/other", b"frame/", b"result/x", b"", b"frame"][int(rng.integers(5))]
    elif kind == 8:  # huge shapes: many bodies or a long joint list, the payload fitting or not
        header = _header(parts[1])
        if rng.random() < 0.5:
            header["tracks"] = list(range(int(rng.choice([65, 1000, 100_000]))))
        else:
            header["layout"] = list(CANONICAL) * int(rng.choice([2, 100, 4000]))
        parts[1] = msgpack.packb(header)
    elif kind == 9:  # repeated track ids, or ids beyond 64 bits
        header = _header(parts[1])
        tracks = header.get("tracks") if isinstance(header.get("tracks"), list) and header.get("tracks") else [0]
        header["tracks"] = tracks + tracks[:1] if rng.random() < 0.5 else [2**64 - 1] * len(tracks)
        parts[1] = msgpack.packb(header)
    else:  # the header replaced by another msgpack value
        parts[1] = msgpack.packb([None, 1, "x", [], {}, 1.5][int(rng.integers(6))])
    return parts


def messages(n: int, seed: int = 0, good: float = 0.1, hypothesis: int = 20_000,
             walkers: int = 6) -> Iterator[list[bytes]]:
    """``n`` messages (lists of parts): a share ``good`` of valid frames from ``walkers``
    synthetic walkers (in order, so the engine can encode them), the rest alternately drawn by
    hypothesis (``hypothesis`` distinct ones, re-used with a mutation on later rounds) and
    mutations of the walkers' frames."""
    from engine.sensors.synthetic import synthetic_frames

    rng = np.random.default_rng(seed)
    drawn = hypothesis_messages(min(hypothesis, n), seed) if hypothesis else []
    live = synthetic_frames(walkers, seed=seed, sensor="fuzz")
    seq = 0
    current = None
    for i in range(n):
        if current is None or rng.random() < good:
            frame = next(live)
            frame.seq, frame.t_pub = seq, time.time()
            seq += 1
            yield encode_frame(frame)
            # mutations start from a copy on another sensor: a mutant that is still valid (a
            # flipped coordinate) must not reset the walkers' histories with a repeated time
            frame.sensor = "fuzz-m"
            current = encode_frame(frame)
        elif drawn and i % 2:
            parts = drawn[(i // 2) % len(drawn)]
            yield (parts if i // 2 < len(drawn) else mutate(parts, rng) if len(parts) == 4 and rng.random() < 0.5
                   else parts)
        else:
            yield mutate(current, rng)


def _classify(parts: list[bytes]) -> str:
    """"frame", a WireError reason, or "filtered" (a topic the engine's subscription never sees)."""
    if not parts[0].startswith(FRAME_TOPIC):
        return "filtered"
    try:
        decode_frame(parts)
        return "frame"
    except WireError as exc:
        return exc.reason


def fuzz_decoder(n: int, seed: int = 0, progress: bool = True, hypothesis: int = 20_000) -> dict:
    """Every message through `decode_frame`; returns counts by outcome and the crashes."""
    counts: Counter = Counter()
    crashes = []
    t0 = time.monotonic()
    for i, parts in enumerate(messages(n, seed, hypothesis=hypothesis)):
        try:
            decode_frame(parts)
            counts["frame"] += 1
        except WireError as exc:
            counts[exc.reason] += 1
        except Exception as exc:  # a crash: anything but a frame or a WireError
            crashes.append(f"{type(exc).__name__}: {exc} on {[p[:40] for p in parts]}")
        if progress and (i + 1) % 100_000 == 0:
            print(f"decoder: {i + 1} messages, {len(crashes)} crashes ({time.monotonic() - t0:.0f} s)", flush=True)
    return {"messages": n, "outcomes": dict(counts), "crashes": len(crashes), "crash_examples": crashes[:10],
            "seconds": time.monotonic() - t0}


def fuzz_engine(n: int, seed: int = 1, folder: str | Path | None = None, progress: bool = True,
                action: bool = True, hypothesis: int = 20_000) -> dict:
    """``n`` messages through a running engine's receive loop (see the module doc)."""
    import tempfile

    import zmq

    from engine.server import Engine, EngineConfig

    folder = Path(folder or tempfile.mkdtemp(prefix="skelstream-fuzz-"))
    ep = {k: f"ipc://{folder}/{k}.ipc" for k in ("frames", "results", "control")}
    engine = Engine(EngineConfig(frames=[ep["frames"]], results=ep["results"], control=ep["control"],
                                 gallery=str(folder / "g.db"), action=action))
    stop = threading.Event()
    errors: list[BaseException] = []

    def serve():
        try:
            engine.run(stop)
        except BaseException as exc:  # noqa: BLE001 - reported as a crash
            errors.append(exc)

    runner = threading.Thread(target=serve, daemon=True)
    runner.start()
    ctx = zmq.Context.instance()
    results = ctx.socket(zmq.SUB)
    results.setsockopt(zmq.SUBSCRIBE, b"result/")
    results.setsockopt(zmq.RCVHWM, 1_000_000)
    results.connect(ep["results"])
    pub = ctx.socket(zmq.XPUB)
    pub.setsockopt(zmq.XPUB_NODROP, 1)  # block rather than drop: the engine sees every message
    pub.setsockopt(zmq.SNDHWM, 10_000)
    pub.bind(ep["frames"])
    pub.recv()  # the engine's subscription
    counts: Counter = Counter()
    rows, named = 0, set()

    def take(parts):
        nonlocal rows
        header, _ = decode_result(parts)
        if header["sensor"] == "fuzz":  # the untouched walkers
            rows += 1
            named.update(r["track"] for r in header["tracks"])

    t0 = time.monotonic()
    try:
        for i, parts in enumerate(messages(n, seed, hypothesis=hypothesis)):
            counts[_classify(parts)] += 1
            while True:
                try:
                    pub.send_multipart(parts, flags=zmq.NOBLOCK)
                    break
                except zmq.Again:  # the engine is busy: wait for room, never drop
                    time.sleep(0.001)
                    if not runner.is_alive():
                        raise RuntimeError(f"the engine stopped after {i} messages: {errors}") from None
            while results.poll(0):
                take(results.recv_multipart())
            if progress and (i + 1) % 100_000 == 0:
                print(f"engine: {i + 1} messages sent ({time.monotonic() - t0:.0f} s)", flush=True)
        deadline = time.monotonic() + 60
        want = counts["frame"]
        while engine.sub.stats.received < want and time.monotonic() < deadline and runner.is_alive():
            time.sleep(0.1)
        time.sleep(0.5)
        while results.poll(100):
            take(results.recv_multipart())
        alive = runner.is_alive()
    finally:
        stop.set()
        runner.join(30)
        pub.close(0)
        results.close(0)
    rejected = dict(engine.sub.stats.rejected)
    expected = {k: v for k, v in counts.items() if k not in ("frame", "filtered")}
    return {"messages": n, "sent": dict(counts), "engine_received": engine.sub.stats.received,
            "engine_rejected": rejected, "results_messages": rows, "walkers_with_results": sorted(named),
            "engine_alive": alive,
            "step_errors": engine.counts["step_errors"],
            "crashes": len(errors) + (0 if alive else 1) + engine.counts["step_errors"],
            "errors": [repr(e) for e in errors],
            "counts_match": engine.sub.stats.received == counts["frame"] and rejected == expected,
            "seconds": time.monotonic() - t0}


def main(args) -> None:
    import json

    n = args.messages
    report = {}
    if args.target in ("decoder", "both"):
        d = fuzz_decoder(n, args.seed)
        report["decoder"] = d
        print(f"decoder: {d['messages']} messages in {d['seconds']:.0f} s, {d['crashes']} crashes; outcomes "
              + ", ".join(f"{k} {v}" for k, v in sorted(d["outcomes"].items(), key=lambda kv: -kv[1])), flush=True)
    if args.target in ("engine", "both"):
        e = fuzz_engine(n, args.seed + 1)
        report["engine"] = e
        print(f"engine: {e['messages']} messages in {e['seconds']:.0f} s, {e['crashes']} crashes, alive "
              f"{e['engine_alive']}; frames received {e['engine_received']} of {e['sent'].get('frame', 0)} valid sent; "
              f"rejected by reason {e['engine_rejected']}; {e['sent'].get('filtered', 0)} filtered by topic; "
              f"counts match {e['counts_match']}; {e['results_messages']} result messages for the walkers "
              f"{e['walkers_with_results']}", flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2))
