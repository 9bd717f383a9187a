"""Per-track windows: resampling by timestamp, history, resets, retirement."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.skeleton import KINECT_V1, KINECT_V2
from engine.windows import TrackWindows
from engine.wire import Frame


def frame(t, tracks, value=None, layout=KINECT_V2, sensor="s"):
    j = len(layout)
    joints = np.array([np.full((j, 3), t if value is None else value, np.float32) + i for i in range(len(tracks))],
                      np.float32).reshape(len(tracks), j, 3)
    return Frame(sensor, 0, t, layout, np.array(tracks), joints, np.ones((len(tracks), j), np.float32), 30.0)


def test_a_15hz_track_is_resampled_to_30hz_by_timestamp():
    w = TrackWindows(history=4.0)
    for k in range(10):
        w.add(frame(k / 15, [7]), now=k / 15)
    joints, conf = w.frames(("s", 7), fps=30.0, n=6)
    # joints hold their own timestamp: resampled values are the wanted instants
    np.testing.assert_allclose(joints[:, 0, 0], 9 / 15 - np.arange(5, -1, -1) / 30, atol=1e-6)
    assert (conf == 1).all()
    assert w.frames(("s", 7), fps=30.0, n=40) is None  # not enough history yet


def test_several_tracks_come_out_in_one_batch_and_v1_bodies_are_canonical():
    w = TrackWindows()
    for k in range(12):
        w.add(frame(k / 30, [1, 2]), now=k / 30)
        w.add(frame(k / 30, [5], layout=KINECT_V1, sensor="old"), now=k / 30)
    keys, joints, conf = w.ready(30.0, 6)
    assert sorted(keys) == [("old", 5), ("s", 1), ("s", 2)]
    assert joints.shape == (3, 6, 25, 3)
    old = conf[keys.index(("old", 5))]
    assert old[:, 2].max() == 0 and old[:, 0].min() == 1  # Kinect v1 has no Neck: masked


def test_reused_ids_reset_history_and_silent_tracks_retire():
    w = TrackWindows(history=1.0, timeout=2.0)
    for k in range(60):
        w.add(frame(k / 30, [3]), now=k / 30)
    assert w.span(("s", 3)) <= 1.0 + 1e-9
    w.add(frame(0.5, [3]), now=2.1)  # the same id, back in time: another person or a restart
    assert w.counts["resets"] == 1 and w.span(("s", 3)) == 0
    w.add(frame(0.6, [4]), now=2.2)
    assert w.retire(now=4.15) == [("s", 3)] and list(w.tracks) == [("s", 4)]
    assert w.counts["retired"] == 1
    w.add(frame(9.0, []), now=5.0)  # an empty frame is fine
    assert w.counts["frames"] == 63


def test_offline_resampling_matches_the_wanted_instants_and_masks():
    from engine.sequence import SkeletonSequence, resample
    t = np.arange(8) / 12.0  # a 12 Hz file
    joints = np.repeat(t[:, None, None], len(KINECT_V1), 1).repeat(3, 2).astype(np.float32)
    conf = np.ones((8, len(KINECT_V1)), np.float32)
    conf[3, 5] = 0
    joints[3, 5] = 0
    seq = SkeletonSequence(joints, conf, t, KINECT_V1, 12.0)
    out = resample(seq, 30.0)
    np.testing.assert_allclose(out.timestamps, np.arange(18) / 30.0)  # 7/12 s = 17.5 frames: 18 instants
    # each instant's joints hold its own time, except the masked joint around frame 3
    given = out.confidence[:, 5] > 0
    np.testing.assert_allclose(out.joints[:, 0, 0], out.timestamps, atol=1e-6)
    assert not given[(out.timestamps > 2 / 12) & (out.timestamps < 4 / 12)].any()  # between frames 2-3 and 3-4
    assert given[out.timestamps <= 2 / 12 + 1e-9].all() and given[out.timestamps >= 4 / 12 - 1e-9].all()
    assert (out.joints[~given, 5] == 0).all()  # a masked joint keeps coordinates 0
    assert out.fps == 30.0
    assert resample(out, 30.0) is out  # already at the rate: untouched


@pytest.mark.realdata
def test_a_walk_recorded_at_15hz_gets_the_30hz_walks_embedding(kgbd_root):
    """Offline embeddings cut windows by time, as the engine does: a KGBD walk decimated to 15 Hz
    (every other frame) gives nearly the embedding of the full 30 Hz walk; cut by frame count,
    as before, its 6-frame windows spanned 0.4 s and it did not."""
    from dataclasses import replace

    from engine.checkpoint import load_gait
    from engine.datasets import open_dataset
    from engine.embed import gait_embedding, window_features
    from engine.models.sge_la import prepare_windows, window_options

    model, meta = load_gait(None)
    ds = open_dataset(kgbd_root)
    seq = ds.read(ds.items[0].path)
    half = replace(seq, joints=seq.joints[::2], confidence=seq.confidence[::2], timestamps=seq.timestamps[::2],
                   fps=seq.fps / 2)
    full, _ = gait_embedding(model, meta, seq)
    now, _ = gait_embedding(model, meta, half)
    windows = prepare_windows(half.joints, half.confidence, half.layout, 6, **window_options(meta["input"]))
    with torch.no_grad():
        before = window_features(model, model.encode(torch.from_numpy(windows))["sequence"].numpy()).mean(0)
    before /= np.linalg.norm(before)
    assert float(full @ now) > 0.95  # 0.967 measured; 0.789 cut by frame count
    assert float(full @ now) > float(full @ before) + 0.1


def test_instants_on_frames_take_the_frames_and_others_blend():
    """`interpolate`: a sensor at the model's rate gives instants on its frames, which are taken
    as they are (a missing joint at 0, its confidence 0); an instant between frames blends them
    and is given only where both frames give the joint; the two paths agree where they meet."""
    from engine.sequence import _blend, interpolate

    rng = np.random.default_rng(0)
    times = np.arange(12) / 30.0
    joints = rng.normal(size=(12, 25, 3)).astype(np.float32)
    conf = (rng.random((12, 25)) > 0.2).astype(np.float32)
    joints[conf == 0] = 0
    want = times[-1] - (5 - np.arange(6)) / 30.0  # the engine's instants: the newest frame and back
    out, c = interpolate(times, joints, want, conf)
    np.testing.assert_array_equal(out, joints[6:])
    np.testing.assert_array_equal(c, conf[6:])
    hi = np.arange(6, 12)
    general = _blend(times, joints, want, conf, hi, hi - 1, np.ones(6, bool), np.zeros(6, bool))
    np.testing.assert_array_equal(out, general[0])
    np.testing.assert_array_equal(c, general[1])
    mid, mc = interpolate(times, joints, np.array([times[3] + 1 / 60]), conf)
    both = (conf[3] > 0) & (conf[4] > 0)
    np.testing.assert_array_equal(mc[0], np.minimum(conf[3], conf[4]))
    np.testing.assert_allclose(mid[0][both], (joints[3][both] + joints[4][both]) / 2, atol=1e-6)
    assert (mid[0][~both] == 0).all()


def test_a_long_history_keeps_its_newest_seconds_in_order():
    """The history buffers grow and drop old frames by moving a start index: after many times its
    capacity, a track holds exactly its last `history` seconds, in order, and a window resampled
    from it reads those frames."""
    w = TrackWindows(history=1.0)
    for i in range(500):
        w.add(frame(i / 30.0, [3], value=float(i)), now=0.0)
    tr = w.tracks[("s", 3)]
    assert len(tr.times) == len(tr.joints) == len(tr.confidence) == 31
    np.testing.assert_allclose(tr.times, np.arange(469, 500) / 30.0)
    np.testing.assert_array_equal(tr.joints[:, 0, 0], np.arange(469, 500, dtype=np.float32))
    joints, _ = w.frames(("s", 3), fps=30.0, n=6)
    np.testing.assert_array_equal(joints[:, 0, 0], np.arange(494, 500, dtype=np.float32))
    assert len(tr._j) <= 128  # bounded: the buffers do not grow with the stream


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.floats(0.001, 0.2), st.booleans()), min_size=1, max_size=400),
       st.floats(0.1, 3.0))
def test_the_history_buffers_hold_what_a_plain_list_would(steps, history):
    """Any stream of frames (irregular intervals, now and then a joint lost): the track's history
    is the frames of its last ``history`` seconds, in order, exactly as a plain list keeps them,
    and every window resampled from it equals the same resampling of that list."""
    from engine.sequence import interpolate

    w = TrackWindows(history=history)
    rng = np.random.default_rng(len(steps))
    t, ref = 0.0, []
    for dt, lost in steps:
        t += dt
        f = frame(t, [1], value=float(rng.normal()))
        if lost:
            f.confidence[0, 3] = 0
        w.add(f, now=0.0)
        ref.append((t, np.where(f.confidence[0, :, None] > 0, f.joints[0], 0), f.confidence[0].copy()))  # lost: 0
        while ref[-1][0] - ref[0][0] > history:
            ref.pop(0)
    tr = w.tracks[("s", 1)]
    assert tr.times == [r[0] for r in ref]
    np.testing.assert_array_equal(tr.joints, np.stack([r[1] for r in ref]))
    np.testing.assert_array_equal(tr.confidence, np.stack([r[2] for r in ref]))
    got = w.frames(("s", 1), fps=30.0, n=4)
    times = np.array([r[0] for r in ref])
    want = times[-1] - (3 - np.arange(4)) / 30.0
    if want[0] < times[0] - 1e-6:
        assert got is None
    else:
        expect = interpolate(times, np.stack([r[1] for r in ref]), want, np.stack([r[2] for r in ref]))
        np.testing.assert_allclose(got[0], expect[0], atol=1e-6)
        np.testing.assert_array_equal(got[1], expect[1])
