"""Per-track windows: resampling by timestamp, history, resets, retirement."""

import numpy as np

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
