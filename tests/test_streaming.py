"""Frames over ZeroMQ on loopback: replay, record, fuzzing, backpressure, Ctrl-C, CURVE."""

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import zmq

from conftest import REPO
from engine.bus import Publisher, Subscriber, check_endpoint, make_keys, publish
from engine.datasets import read_file
from engine.fuzz import mutate
from engine.models.sge_la import prepare_windows
from engine.recorder import record
from engine.recording import Recording
from engine.sensors.replay import replay_frames, replay_timeline
from engine.sensors.synthetic import synthetic_frames
from engine.wire import WireError, decode_frame, encode_frame

_port = iter(range(17000 + os.getpid() % 2000, 30000))


def endpoint() -> str:
    return f"tcp://127.0.0.1:{next(_port)}"


def kgbd_walk(root: Path) -> Path:
    return sorted((root / "Data" / "Person001").glob("*.txt"))[0]


def test_replay_of_a_real_kgbd_walk_arrives_whole_and_in_order(kgbd_root):
    path = kgbd_walk(kgbd_root)
    seq = read_file(path)[0]
    ep = endpoint()
    pub = Publisher(ep)
    with Subscriber(ep) as sub:
        assert pub.wait_for_subscribers(1, timeout=5)
        thread = threading.Thread(target=publish, args=(replay_timeline([path]), pub, 8.0, False))
        thread.start()
        got = []
        while len(got) < len(seq):
            f = sub.recv(timeout=5)
            assert f is not None, f"only {len(got)} of {len(seq)} frames arrived"
            got.append(f)
        thread.join(10)
    assert [f.seq for f in got] == list(range(len(seq)))
    np.testing.assert_array_equal([f.t for f in got], seq.timestamps)
    np.testing.assert_array_equal(np.stack([f.joints[0] for f in got]), seq.joints)
    assert sub.stats.gaps == 0 and not sub.stats.rejected
    assert all(0 <= lat < 1.0 for lat in sub.stats.latencies)


def test_record_then_replay_gives_identical_frames(tmp_path):
    demo = REPO / "recordings" / "demo.mcap"
    out = tmp_path / "rec.mcap"
    ep = endpoint()
    ready = threading.Event()
    result = {}
    rec = threading.Thread(target=lambda: result.update(record(out, ep, idle=5.0, ready=ready, progress=False)))
    pub = Publisher(ep)
    rec.start()
    assert ready.wait(5) and pub.wait_for_subscribers(1, timeout=5)
    sent = publish(replay_timeline([demo], end=5.0), pub, speed=0, progress=False)
    rec.join(30)  # the recorder stops itself once no frame came for 5 s
    assert pub.dropped == 0
    with Recording(out) as r:
        seqs = [f.seq for f in r.frames()]
    assert result["frames"] == sent == 150 and result["missing"] == 0, (result, sorted(set(range(150)) - set(seqs)))
    with Recording(demo) as a, Recording(out) as b:
        src, got = list(a.frames(end=5.0)), list(b.frames())
    assert len(src) == len(got)
    for x, y in zip(src, got):
        assert x.t == y.t and (x.tracks == y.tracks).all()
        np.testing.assert_array_equal(x.joints, y.joints)
        np.testing.assert_array_equal(x.confidence, y.confidence)
    # the recording replays in turn
    frames = list(replay_frames([out]))
    assert len(frames) == sent and frames[0].t == 0.0


def test_replay_options_cut_loop_and_bodies(kgbd_root, tmp_path):
    walks = sorted((kgbd_root / "Data" / "Person001").glob("*.txt"))[:2]
    seqs = [read_file(w)[0] for w in walks]
    cut = list(replay_timeline(walks, start=1.0, end=2.0))
    assert len({f.sensor for _, f in cut}) == 2
    assert min(c for c, _ in cut) >= 0 and max(c for c, _ in cut) < 1.0
    first = [f for _, f in cut if f.sensor == walks[0].stem][0]
    assert first.t == pytest.approx(seqs[0].timestamps[0] + 1.0, abs=0.05)  # frames keep their own time
    bodies = list(replay_frames(walks, bodies=True, end=1.0))
    assert {f.sensor for f in bodies} == {"replay"} and max(len(f.tracks) for f in bodies) == 2
    # bodies from separate files recorded at one spot are spread apart on the floor, by a
    # translation only: the same gait windows, the same heights
    both = next(f for f in bodies if len(f.tracks) == 2)
    kept = next(f for f in replay_frames(walks, bodies=True, end=1.0, spread_bodies=False) if len(f.tracks) == 2)
    assert np.linalg.norm(both.joints[0, 0] - both.joints[1, 0]) > 1.0
    assert np.linalg.norm(kept.joints[0, 0] - kept.joints[1, 0]) < 1.0
    np.testing.assert_allclose(both.joints[..., 1], kept.joints[..., 1])
    moved = both.joints - kept.joints
    np.testing.assert_allclose(moved, moved[:, :1].repeat(moved.shape[1], 1), atol=1e-5)
    f = 6
    win = [prepare_windows(fr.joints[:1].repeat(f, 0), fr.confidence[:1].repeat(f, 0), fr.layout, f) for fr in (both, kept)]
    np.testing.assert_allclose(win[0], win[1], atol=1e-5)
    looped = replay_frames([walks[0]], loop=True)
    times = [next(looped).t for _ in range(2 * len(seqs[0]) + 5)]
    assert np.all(np.diff(times) > 0), "looping keeps times increasing"
    with pytest.raises(FileNotFoundError, match="nope"):
        list(replay_frames([tmp_path / "nope.mcap"]))


def test_subscriber_keeps_good_frames_among_bad_ones():
    rng = np.random.default_rng(1)
    ep = endpoint()
    ctx = zmq.Context.instance()
    raw = ctx.socket(zmq.PUB)
    raw.bind(ep)
    frames = list(synthetic_frames(2, seed=3, seconds=10))
    with Subscriber(ep) as sub:
        time.sleep(0.3)  # subscription reaches the PUB socket
        bad = 0
        for i, frame in enumerate(frames[:200]):
            for _ in range(5):
                parts = mutate(encode_frame(frame), rng)
                try:
                    decode_frame(parts)
                except WireError:
                    bad += parts[0].startswith(b"frame/")  # others the SUB filter drops unseen
                    raw.send_multipart(parts)
            frame.seq = i
            raw.send_multipart(encode_frame(frame))
        got = [sub.recv(timeout=2) for _ in range(200)]
    raw.close(linger=0)
    assert all(f is not None for f in got)
    assert [f.seq for f in got] == list(range(200))
    assert sum(sub.stats.rejected.values()) == bad > 500


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS"):
            return int(line.split()[1]) / 1024
    return 0.0


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs /proc to read memory use")
def test_slow_subscriber_neither_blocks_the_publisher_nor_grows_memory():
    ep = endpoint()
    pub = Publisher(ep)
    frame = next(synthetic_frames(6, seed=2))
    size = sum(len(p) for p in encode_frame(frame))
    with Subscriber(ep) as sub:  # never reads while the publisher sends
        assert pub.wait_for_subscribers(1, timeout=5)
        before = _rss_mb()
        t0 = time.perf_counter()
        n = 60_000
        for _ in range(n):
            pub.send(frame)
        elapsed = time.perf_counter() - t0
        grown = _rss_mb() - before
        assert n * size / 2**20 > 100  # more than 100 MB were offered to the slow subscriber
        assert grown < 50, f"memory grew by {grown:.0f} MB"
        assert elapsed < 30  # it never waited for the subscriber
        got = 0
        while sub.recv(timeout=0.5) is not None:
            got += 1
        pub.send(frame)  # one more after the subscriber caught up: the gap shows
        assert sub.recv(timeout=2) is not None
    pub.close()
    assert 0 < got < n
    assert sub.stats.gaps == n - got


def _run(*args: str, **kw) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "engine.cli", *args], cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **kw)


def test_a_replay_that_ends_flat_out_still_delivers_its_last_frames(tmp_path):
    # publish() closes its socket when a replay ends; frames still queued for a subscriber that
    # is momentarily busy (here: a recorder process paused during the burst) must leave first
    ep, out = f"ipc://{tmp_path}/burst.ipc", tmp_path / "burst.mcap"  # small kernel buffers
    frames = list(synthetic_frames(6, seed=3, seconds=40))[:990]  # under the high-water mark
    recorder = _run("record", str(out), "--endpoint", ep, "--idle", "3")
    try:
        pub = Publisher(ep)
        assert pub.wait_for_subscribers(1, timeout=30)
        recorder.send_signal(signal.SIGSTOP)
        threading.Timer(0.5, recorder.send_signal, (signal.SIGCONT,)).start()
        assert publish(((f.t, f) for f in frames), pub, speed=0, progress=False) == len(frames)
        assert recorder.wait(30) == 0
    finally:
        if recorder.poll() is None:
            recorder.kill()
    assert len(list(replay_frames([out]))) == len(frames), recorder.stdout.read()


def test_ctrl_c_stops_sensor_and_recorder_cleanly_after_a_publisher_crash(tmp_path):
    ep = endpoint()
    out = tmp_path / "crash.mcap"
    recorder = _run("record", str(out), "--endpoint", ep)
    sensor = _run("sensor", "synthetic", "--walkers", "2", "--endpoint", ep, "--wait", "1")
    try:
        with Subscriber(ep) as sub:
            assert sub.recv(timeout=20) is not None
        time.sleep(1.0)
        sensor.send_signal(signal.SIGINT)  # a clean stop of the sensor...
        assert sensor.wait(10) == 0 and "stopped" in sensor.stdout.read()
        sensor = _run("sensor", "synthetic", "--walkers", "2", "--endpoint", ep, "--quiet")
        with Subscriber(ep) as sub:
            assert sub.recv(timeout=20) is not None
        sensor.kill()  # ...then a crash of the next one
        sensor.wait(10)
        time.sleep(0.5)
        recorder.send_signal(signal.SIGINT)
        assert recorder.wait(10) == 0, recorder.stdout.read()
        log = recorder.stdout.read()
    finally:  # never leave a process behind, even when an assertion failed
        for proc in (sensor, recorder):
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)
    with Recording(out) as rec:
        assert not rec.truncated and rec.frame_count() >= 10
        n = rec.frame_count()
    assert f"{n} frames" in log
    info = subprocess.run([sys.executable, "-m", "engine.cli", "info", str(out)], cwd=REPO,
                          capture_output=True, text=True)
    assert info.returncode == 0, info.stderr
    assert str(n) in info.stdout


def test_beyond_loopback_needs_curve_and_curve_works(tmp_path):
    with pytest.raises(PermissionError, match="CURVE"):
        check_endpoint("tcp://0.0.0.0:5555", curve=False)
    check_endpoint("tcp://127.0.0.1:5555", curve=False)
    check_endpoint("ipc:///tmp/x", curve=False)
    public, secret = make_keys(tmp_path / "keys")
    assert secret.stat().st_mode & 0o777 == 0o600
    port = next(_port)
    pub = Publisher(f"tcp://0.0.0.0:{port}", secret_key=secret)
    frame = next(synthetic_frames(1))
    with Subscriber(f"tcp://127.0.0.1:{port}", server_key=public) as good, \
            Subscriber(f"tcp://127.0.0.1:{port}") as plain:
        assert pub.wait_for_subscribers(1, timeout=5)
        time.sleep(0.3)
        for _ in range(5):
            pub.send(frame)
        assert good.recv(timeout=2) is not None
        assert plain.recv(timeout=0.5) is None  # no key, no frames
    pub.close()
    with pytest.raises(ValueError, match="secret"):
        Publisher(f"tcp://0.0.0.0:{next(_port)}", secret_key=public)


def _replay_and_collect(*options: str, delay: float = 0.0, most: int = 1000):
    """Run `skelstream sensor replay` of the demo recording with ``options``, subscribe after
    ``delay`` seconds, and collect frames until it ends: (frames, subscriber stats, its output)."""
    ep = endpoint()
    sensor = _run("sensor", "replay", str(REPO / "recordings" / "demo.mcap"), "--endpoint", ep, *options)
    try:
        time.sleep(delay)
        with Subscriber(ep) as sub:
            frames = []
            while (f := sub.recv(timeout=2 if frames else 15)) is not None and len(frames) < most:
                frames.append(f)
        assert sensor.wait(20) == 0
    finally:
        if sensor.poll() is None:
            sensor.kill()
    return frames, sub.stats, sensor.stdout.read()


def test_replay_command_publishes_a_cut_and_exits_by_itself():
    frames, stats, out = _replay_and_collect("--wait", "1", "--speed", "4", "--start", "1", "--end", "3", most=100)
    assert len(frames) == 60 and frames[0].t == pytest.approx(1.0) and stats.gaps == 0
    assert "60 frames published" in out


def test_a_file_replay_waits_for_its_first_subscriber_by_default():
    """Started before anyone listens, a flat-out replay of a recording still delivers every frame
    from the first (it waits, bounded, saying so); with --no-wait it starts at once."""
    # nobody subscribes for 1.5 s: a flat-out replay that did not wait would be over by then
    frames, stats, out = _replay_and_collect("--speed", "0", "--end", "2", delay=1.5)
    assert "waiting for 1 subscriber(s)" in out and "--no-wait" in out
    assert frames and frames[0].t == pytest.approx(0.0) and stats.gaps == 0
    assert f"{len(frames)} frames published" in out
    quick = _run("sensor", "replay", str(REPO / "recordings" / "demo.mcap"), "--endpoint", endpoint(),
                 "--speed", "0", "--end", "1", "--no-wait")
    assert quick.wait(20) == 0 and "waiting" not in quick.stdout.read()
