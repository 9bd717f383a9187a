"""Fuzzing at small scale (the 1e6-message run is `skelstream bench fuzz`, docs/RESULTS.md):
hypothesis-drawn and mutated frame messages through the decoder and through a running engine's
receive loop. Nothing crashes; every rejection is counted with its reason, and the engine's
counts equal the sender's own decoding of the same messages; the valid walkers among them get
results."""

import msgpack
import numpy as np

from engine.bus import Stats
from engine.fuzz import fuzz_decoder, fuzz_engine, hypothesis_messages, mutate
from engine.sensors.synthetic import synthetic_frames
from engine.wire import MAX_BODIES, WireError, decode_frame, encode_frame, encode_status

REASONS = {"bad-header", "bad-payload", "bad-parts", "bad-topic", "bad-layout", "non-finite", "bad-shape",
           "bad-version"}


def test_decoder_fuzz_never_crashes_and_names_a_reason():
    r = fuzz_decoder(6000, seed=3, progress=False, hypothesis=600)
    assert r["crashes"] == 0, r["crash_examples"]
    assert REASONS <= set(r["outcomes"])
    assert 600 < r["outcomes"]["frame"] < 3000  # the untouched walkers' frames (10 %) and valid mutants


def test_hypothesis_messages_cover_the_schema():
    drawn = hypothesis_messages(400, seed=1)
    assert len(drawn) == 400 and all(isinstance(p, bytes) for m in drawn for p in m)
    outcomes = set()
    for parts in drawn:
        try:
            decode_frame(parts)
            outcomes.add("frame")
        except WireError as exc:
            outcomes.add(exc.reason)
    assert len(outcomes) >= 6, outcomes


def test_huge_or_repeated_bodies_are_refused_before_anything_is_allocated():
    parts = encode_frame(next(synthetic_frames(2, seed=1)))
    header = msgpack.unpackb(parts[1])
    for change, reason in (({"tracks": list(range(MAX_BODIES + 1))}, "bad-shape"), ({"tracks": [4, 4]}, "bad-header"),
                           ({"tracks": [2**64 - 1, 0]}, "bad-header"),
                           ({"tracks": [1, 2], "layout": []}, "bad-layout")):  # once crashed the engine's step
        bad = parts[:1] + [msgpack.packb(header | change)] + [b"", b""]
        try:
            decode_frame(bad)
            raise AssertionError(f"{change} accepted")
        except WireError as exc:
            assert exc.reason == reason
    rng = np.random.default_rng(0)
    for _ in range(200):  # every mutation kind keeps the parts bytes
        assert all(isinstance(p, bytes) for p in mutate(parts, rng))


def test_wild_sequence_numbers_and_clocks_leave_the_statistics_packable():
    """The engine once died packing its status after a frame with seq 2**64 - 1 (gaps beyond
    64 bits) and t_pub 1e308 (latency -inf): a jump that large is a restart, not lost frames,
    and a clock an hour off is no latency."""
    stats = Stats()
    frame = next(synthetic_frames(1, seed=1))
    for seq, t_pub in ((0, 1.0e9), (2**64 - 1, 1e308), (5, 1.7e9), (6, 0.0)):
        frame.seq, frame.t_pub = seq, t_pub
        stats.note(frame, 1.7e9)
    assert stats.gaps == 0 and stats.restarts == 2 and list(stats.latencies) == [0.0]
    encode_status({"missing": stats.gaps, "restarts": stats.restarts})


def test_engine_receive_loop_fuzz(tmp_path):
    r = fuzz_engine(4000, seed=5, folder=tmp_path, progress=False, hypothesis=400)
    assert r["crashes"] == 0 and r["engine_alive"], r["errors"]
    assert r["counts_match"], (r["sent"], r["engine_received"], r["engine_rejected"])
    assert r["walkers_with_results"] == [0, 1, 2, 3, 4, 5]
