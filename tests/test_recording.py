"""Recordings: exact storage of wire messages, several sensors, seek by time, cut-off files."""

import numpy as np
import pytest

from engine.datasets import read_file
from engine.recording import Recording, RecordingWriter, TruncatedRecordingWarning, write_sequences
from engine.sensors.synthetic import walkers
from engine.sequence import SkeletonDataError
from engine.skeleton import KGBD, KINECT_V2
from engine.wire import Frame, WireError, decode_frame, encode_frame


def _frame(sensor, seq, t, bodies=2):
    rng = np.random.default_rng(seq)
    return Frame(sensor, seq, t, KINECT_V2, np.arange(bodies, dtype=np.int64),
                 rng.normal(size=(bodies, 25, 3)).astype(np.float32),
                 rng.random((bodies, 25)).astype(np.float32), 30.0, t_pub=1000.0 + t)


def test_messages_are_stored_byte_for_byte_and_interleaved(tmp_path):
    path = tmp_path / "r.mcap"
    sent = []
    with RecordingWriter(path) as w:
        for k in range(90):
            for sensor, offset in (("kinect", 0.0), ("webcam", 0.01)):
                parts = encode_frame(_frame(sensor, k, k / 30 + offset))
                w.write(parts)
                sent.append(parts)
    with Recording(path) as rec:
        assert set(rec.sensors) == {"kinect", "webcam"} and rec.frame_count() == 180
        assert rec.frame_count("webcam") == 90 and not rec.truncated
        got = [parts for _, parts in rec.messages()]
        assert got == sent
        frames = list(rec.frames(sensors=["webcam"]))
        assert [f.seq for f in frames] == list(range(90))
        assert frames[5].t_pub == 1000.0 + frames[5].t


def test_seek_by_time(tmp_path):
    path = tmp_path / "r.mcap"
    with RecordingWriter(path, chunk_size=2048) as w:
        for k in range(300):
            w.write_frame(_frame("s", k, 5.0 + k / 30), log_time=5.0 + k / 30)
    with Recording(path) as rec:
        assert rec.start == pytest.approx(5.0) and rec.duration == pytest.approx(299 / 30)
        got = list(rec.frames(start=4.0, end=5.0))
        assert [f.seq for f in got] == list(range(120, 150))
        assert next(rec.frames(start=9.0)).seq == 270


def test_cut_off_recording_reads_up_to_last_complete_chunk(tmp_path):
    path = tmp_path / "r.mcap"
    with RecordingWriter(path, chunk_size=4096) as w:
        for k in range(200):
            w.write_frame(_frame("s", k, k / 30))
    data = path.read_bytes()
    cut = tmp_path / "cut.mcap"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.warns(TruncatedRecordingWarning, match="last complete chunk"):
        rec = Recording(cut)
    assert rec.truncated
    seqs = [f.seq for f in rec.frames()]
    assert 40 < len(seqs) < 200 and seqs == list(range(len(seqs)))
    (whole,) = [s for s in read_file(path) if s.meta["track"] == "0"]
    with pytest.warns(TruncatedRecordingWarning):
        part = [s for s in read_file(cut) if s.meta["track"] == "0"][0]
    assert part.joints.tobytes() == whole.joints[: len(part)].tobytes()


def test_not_a_recording(tmp_path):
    bad = tmp_path / "bad.mcap"
    bad.write_bytes(b"hello, not mcap at all")
    with pytest.raises(SkeletonDataError, match=r"bad\.mcap: not a readable MCAP recording"):
        Recording(bad)
    with pytest.raises(FileNotFoundError, match="no such recording"):
        Recording(tmp_path / "none.mcap")


def test_writer_rejects_bad_messages_and_negative_times(tmp_path):
    with RecordingWriter(tmp_path / "r.mcap") as w:
        parts = encode_frame(_frame("s", 0, 0.0))
        with pytest.raises(WireError, match="bad-payload"):
            w.write([parts[0], parts[1], parts[2][:-4], parts[3]])
        with pytest.raises(SkeletonDataError, match="times >= 0"):
            w.write(encode_frame(_frame("s", 1, -1.0)))
        w.write(parts)
    assert Recording(tmp_path / "r.mcap").frame_count() == 1


def test_decode_checks_schema():
    parts = encode_frame(_frame("s", 3, 0.5))
    assert decode_frame(parts).seq == 3
    for broken, reason in [
        (parts[:3], "bad-parts"), ([b"nope", *parts[1:]], "bad-topic"),
        ([parts[0], b"\xc1", *parts[2:]], "bad-header"),
        ([b"frame/other", *parts[1:]], "bad-topic"),
    ]:
        with pytest.raises(WireError) as err:
            decode_frame(broken)
        assert err.value.reason == reason
    # a non-registered layout travels as its names
    f = _frame("s", 0, 0.0, bodies=1)
    sub = Frame("s", 0, 0.0, KGBD, f.tracks, f.joints[:, :20], f.confidence[:, :20], 30.0)
    assert decode_frame(encode_frame(sub)).layout is KGBD


def test_synthetic_walkers_are_deterministic_and_distinct(tmp_path):
    a = walkers(3, 4.0, seed=5)
    b = walkers(3, 4.0, seed=5)
    assert all(x.joints.tobytes() == y.joints.tobytes() for x, y in zip(a, b))
    from engine.skeleton import bone_lengths
    lengths = [np.median(bone_lengths(s.joints), 0) for s in a]
    assert min(np.abs(lengths[i] - lengths[j]).max() for i in range(3) for j in range(i + 1, 3)) > 0.01
    write_sequences(tmp_path / "w.mcap", {"synthetic": a})
    back = read_file(tmp_path / "w.mcap")
    assert [s.meta["subject"] for s in back] == [s.meta["subject"] for s in a]
