"""MediaPipe adapter: model bundle built offline, tracker, placement, and the real video."""

import subprocess
import sys
import zipfile
from collections import defaultdict

import numpy as np
import pytest

from conftest import REPO
from engine.bus import Publisher, publish, timeline
from engine.sensors.mediapipe import Tracker, mediapipe_frames, place
from engine.sensors.pose_model import ALIGN, make_pose_task
from engine.sensors.replay import replay_frames
from engine.skeleton import INDEX, MEDIAPIPE, to_canonical

pytest.importorskip("mediapipe")


def test_tracker_keeps_ids_through_a_crossing_drops_duplicates_and_retires():
    tr = Tracker(gate=0.1, timeout=0.5)
    ids = []
    for k in range(20):  # two people walking towards each other and past
        a, b = 0.2 + 0.03 * k, 0.8 - 0.03 * k
        pos = np.array([[a, 0.7], [b, 0.3], [b + 0.01, 0.3]])  # the third is a duplicate of b
        keep, got = tr.update(pos, np.array([0.9, 0.8, 0.5]), k / 30)
        assert list(keep) == [0, 1]
        ids.append(tuple(got))
    assert set(ids) == {(0, 1)}
    _, got = tr.update(np.array([[0.5, 0.5]]), np.ones(1), 5.0)  # long after: both retired
    assert list(got) == [2]


def test_place_recovers_the_root_of_a_projected_body():
    rng = np.random.default_rng(0)
    world = rng.normal(0, 0.4, (33, 3))
    root, size, fov = np.array([0.8, -0.2, 4.0]), (1280, 720), 60.0
    f = 640 / np.tan(np.radians(30))
    z = root[2]  # weak perspective: one depth for the whole body
    image = ((world[:, :2] + root[:2]) * f / z + [640, 360]) / [1280, 720]
    np.testing.assert_allclose(place(world, image, np.ones(33), size, fov), root, rtol=1e-6, atol=1e-6)


def test_pose_bundle_is_aligned_and_accepted(tmp_path):
    path = make_pose_task(tmp_path / "pose.task")
    with zipfile.ZipFile(path) as zf:
        assert sorted(zf.namelist()) == ["pose_detector.tflite", "pose_landmarks_detector.tflite"]
        raw = path.read_bytes()
        for info in zf.infolist():
            assert info.compress_type == zipfile.ZIP_STORED
            start = info.header_offset + 30 + len(info.filename) + len(info.extra)
            assert start % ALIGN == 0 and raw[start:start + 4] != b"PK\x03\x04"


@pytest.fixture(scope="module")
def video_frames(walk_video, tmp_path_factory):
    model = make_pose_task(tmp_path_factory.mktemp("model") / "pose.task")
    return list(mediapipe_frames(str(walk_video), model=model, num_poses=2))


@pytest.mark.realdata
def test_the_walking_woman_keeps_one_id_and_plausible_bones(video_frames):
    assert len(video_frames) == 230
    seen = defaultdict(list)
    for k, f in enumerate(video_frames):
        assert f.layout is MEDIAPIPE or f.layout == MEDIAPIPE
        for b, i in enumerate(f.tracks):
            seen[int(i)].append((k, f.joints[b], f.confidence[b]))
    # the woman: the track that crosses the scene (her root moves metres sideways)
    spans = {i: np.ptp([to_canonical(j[None], c[None], MEDIAPIPE)[0][0, INDEX["SpineBase"], 0] for _, j, c in rows])
             for i, rows in seen.items() if len(rows) > 20}
    woman = max(spans, key=spans.get)
    frames = [k for k, _, _ in seen[woman]]
    assert spans[woman] > 3.0
    assert sum(47 <= k <= 200 for k in frames) >= 0.8 * (200 - 47 + 1)  # one id over most of her crossing
    joints = np.stack([j for _, j, _ in seen[woman]])
    canon, _, _ = to_canonical(joints, np.ones(joints.shape[:2], np.float32), MEDIAPIPE)
    for a, b, lo, hi in (("HipLeft", "KneeLeft", 0.3, 0.55), ("KneeRight", "AnkleRight", 0.28, 0.52),
                         ("ShoulderLeft", "ElbowLeft", 0.2, 0.38)):
        length = np.median(np.linalg.norm(canon[:, INDEX[a]] - canon[:, INDEX[b]], axis=-1))
        assert lo < length < hi, (a, b, length)
    # her height (head to feet) is a person's; y is up
    assert 1.2 < np.median(canon[:, INDEX["Head"], 1] - canon[:, INDEX["FootLeft"], 1]) < 2.0
    # the man, on the box, is another id seen at the same time
    others = [i for i, rows in seen.items() if i != woman and len(rows) > 50
              and len({k for k, _, _ in rows} & set(frames)) > 50]
    assert others


@pytest.mark.realdata
def test_mediapipe_recording_made_over_the_wire_replays_identically(video_frames, tmp_path):
    out = tmp_path / "mediapipe.mcap"
    ep = f"ipc://{tmp_path}/mediapipe.ipc"
    recorder = subprocess.Popen([sys.executable, "-m", "engine.cli", "record", str(out), "--endpoint", ep,
                                 "--idle", "5"], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        pub = Publisher(ep)
        assert pub.wait_for_subscribers(1, timeout=30)
        assert publish(timeline(video_frames), pub, speed=0, progress=False) == 230
        assert pub.dropped == 0
        assert recorder.wait(60) == 0  # it stops once no frame came for 5 s
    finally:
        if recorder.poll() is None:
            recorder.kill()
    replayed = list(replay_frames([out]))
    assert len(replayed) == 230, recorder.stdout.read()
    for a, b in zip(video_frames, replayed):
        assert a.t == b.t and (a.tracks == b.tracks).all() and b.layout == MEDIAPIPE
        np.testing.assert_array_equal(a.joints, b.joints)
