"""Missing joints never reach a model as coordinates (engine/missing.py): whatever a missing
joint's stored values, the windows, the encodings and the action inputs are the same; stand-ins
come from given joints; given joints are untouched."""

import numpy as np
import pytest
import torch

from engine.checkpoint import load_action, load_gait
from engine.missing import SENSOR_JOINTS, fill_missing, reduce_joints
from engine.models.action import action_input, action_view
from engine.models.sge_la import prepare_last_windows, prepare_windows
from engine.sensors.synthetic import Walker
from engine.skeleton import CANONICAL, INDEX, KINECT_V2


def _walk(frames: int = 60) -> np.ndarray:
    """[T, 25, 3] canonical joints of a synthetic walker."""
    walker = Walker.random(np.random.default_rng(3))
    return np.stack([walker.pose(t / 30.0) for t in range(frames)]).astype(np.float32)


def _garbage(joints: np.ndarray, conf: np.ndarray, seed: int) -> np.ndarray:
    """The same joints with wild values wherever the joint is missing."""
    out = joints.copy()
    out[conf == 0] = np.random.default_rng(seed).normal(0, 50, (int((conf == 0).sum()), 3))
    return out


@pytest.mark.parametrize("sensor", ["export18", "openni15"])
def test_a_missing_joint_cannot_change_a_gait_encoding(sensor):
    joints = _walk()
    conf = reduce_joints(np.ones(joints.shape[:2], np.float32), SENSOR_JOINTS[sensor])
    conf[10:20, INDEX["KneeLeft"]] = 0  # and a tracking loss of a few frames
    model, meta = load_gait()
    feats = []
    for seed in (0, 1):
        w = prepare_windows(_garbage(joints, conf, seed), conf, KINECT_V2, 6, upright=True, common_joints=True)
        assert np.isfinite(w).all() and np.abs(w).max() < 3  # stand-ins sit on the body, not at the origin
        feats.append(model.encode(torch.from_numpy(w))["sequence"].numpy())
    assert np.array_equal(feats[0], feats[1])
    # the engine's batched path agrees with the per-sequence one
    last = [prepare_last_windows(_garbage(joints, conf, s)[None, -12:], conf[None, -12:], 6, True, True) for s in (2, 3)]
    assert np.array_equal(last[0], last[1])


def test_a_missing_joint_cannot_change_an_action_input():
    joints = _walk(45)
    conf = reduce_joints(np.ones(joints.shape[:2], np.float32), SENSOR_JOINTS["openni15"])
    model, meta = load_action()
    frames = int(meta["input"]["frames"])
    x = [action_input(_garbage(joints, conf, s), conf, frames) for s in (0, 1)]
    assert np.array_equal(x[0], x[1])
    live = [action_view(_garbage(joints, conf, s)[:frames], conf[:frames]) for s in (0, 1)]
    assert np.array_equal(live[0], live[1])
    with torch.no_grad():
        out = model(torch.from_numpy(np.stack(x)))
        assert torch.equal(out[0], out[1])


def test_stand_ins_come_from_given_joints_and_given_joints_stay():
    joints = _walk(30)
    conf = reduce_joints(np.ones(joints.shape[:2], np.float32), SENSOR_JOINTS["openni15"])
    conf[5:9, INDEX["ElbowRight"]] = 0
    filled, flags = fill_missing(_garbage(joints, conf, 0), conf)
    assert np.array_equal(flags, conf == 0)
    assert np.array_equal(filled[conf > 0], joints[conf > 0])  # bit for bit
    # a joint the sensor never gives: its nearest given neighbour on the chain
    assert np.array_equal(filled[:, INDEX["HandLeft"]], joints[:, INDEX["WristLeft"]])
    assert np.array_equal(filled[:, INDEX["FootRight"]], joints[:, INDEX["AnkleRight"]])
    hips = joints[:, [INDEX["HipLeft"], INDEX["HipRight"]]].mean(1)
    assert np.allclose(filled[:, INDEX["SpineBase"]], hips)
    # a joint lost for a few frames: interpolated between the frames around the gap
    e = INDEX["ElbowRight"]
    expect = joints[4, e] + (joints[9, e] - joints[4, e]) * (np.arange(5, 9) - 4)[:, None] / 5
    assert np.allclose(filled[5:9, e], expect, atol=1e-6)
    # nothing missing: the very same array back
    full = np.ones(joints.shape[:2], np.float32)
    assert fill_missing(joints, full)[0] is joints


def test_every_sensor_joint_set_gives_finite_model_windows():
    joints = _walk(24)
    for sensor, keep in SENSOR_JOINTS.items():
        assert set(keep) <= set(CANONICAL), sensor
        conf = reduce_joints(np.ones(joints.shape[:2], np.float32), keep)
        w = prepare_windows(np.where(conf[..., None] > 0, joints, 0), conf, KINECT_V2, 6, upright=True, common_joints=True)
        assert len(w) == 4 and np.isfinite(w).all(), sensor


def test_shared_joints_make_every_sensor_give_the_same_window():
    joints = _walk(24)
    full = np.ones(joints.shape[:2], np.float32)
    windows = {sensor: prepare_windows(np.where(reduce_joints(full, keep)[..., None] > 0, joints, 0),
                                       reduce_joints(full, keep), KINECT_V2, 6, upright=True, common_joints=True,
                                       shared_joints=True)
               for sensor, keep in SENSOR_JOINTS.items()}
    for sensor, w in windows.items():
        np.testing.assert_allclose(w, windows["kinect_v2"], atol=1e-6, err_msg=sensor)
    # while without the option a sensor with fewer joints gives other windows
    plain = [prepare_windows(joints, reduce_joints(full, keep), KINECT_V2, 6, upright=True, common_joints=True)
             for keep in (SENSOR_JOINTS["kinect_v2"], SENSOR_JOINTS["openni15"])]
    assert np.abs(plain[0] - plain[1]).max() > 0.01
