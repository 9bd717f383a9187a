import numpy as np
import pytest

from engine import skeleton as sk
from engine.sensors.synthetic import Walker


def test_vocabulary_tree_and_mirror_pairs():
    assert len(sk.CANONICAL) == 25 and len(set(sk.CANONICAL)) == 25
    assert len(sk.BONES) == 24
    # every joint reaches the root through PARENT
    for i in range(25):
        seen, j = set(), i
        while sk.PARENT[j] != j:
            assert j not in seen
            seen.add(j)
            j = sk.PARENT[j]
        assert sk.CANONICAL[j] == "SpineBase"
    assert (sk.FLIP[sk.FLIP] == np.arange(25)).all()
    assert sk.FLIP[sk.INDEX["HandTipLeft"]] == sk.INDEX["HandTipRight"]
    assert sk.FLIP[sk.INDEX["Head"]] == sk.INDEX["Head"]


def test_layout_sizes():
    assert [len(sk.LAYOUTS[n]) for n in ("kinect_v2", "kinect_v1", "kgbd", "msr_action3d", "mediapipe")] \
        == [25, 20, 20, 20, 33]
    for name in ("kinect_v1", "kgbd", "msr_action3d"):
        assert set(sk.LAYOUTS[name].joints) == set(sk.KINECT_V1.joints)


def test_v1_mapping_renames_and_masks_missing_joints():
    rng = np.random.default_rng(0)
    joints = rng.normal(size=(4, 20, 3)).astype(np.float32)
    conf = np.ones((4, 20), np.float32)
    out, c, derived = sk.to_canonical(joints, conf, sk.KINECT_V1)
    # HipCenter (v1 index 0) -> SpineBase, ShoulderCenter (2) -> SpineShoulder
    np.testing.assert_array_equal(out[:, sk.INDEX["SpineBase"]], joints[:, 0])
    np.testing.assert_array_equal(out[:, sk.INDEX["SpineShoulder"]], joints[:, 2])
    for name in ("Neck", "HandTipLeft", "ThumbLeft", "HandTipRight", "ThumbRight"):
        assert (c[:, sk.INDEX[name]] == 0).all() and (out[:, sk.INDEX[name]] == 0).all()
    assert not derived.any()
    # a masked source joint stays masked
    conf[1, 3] = 0
    _, c, _ = sk.to_canonical(joints, conf, sk.KINECT_V1)
    assert c[1, sk.INDEX["Head"]] == 0 and c[0, sk.INDEX["Head"]] == 1


def test_mediapipe_derives_spine_and_flags_it():
    lay = sk.MEDIAPIPE
    joints = np.zeros((1, 33, 3), np.float32)
    joints[0, lay.index("left_hip")] = [-0.1, 0, 0]
    joints[0, lay.index("right_hip")] = [0.1, 0, 0]
    joints[0, lay.index("left_knee")] = [-0.1, -0.4, 0]
    conf = np.ones((1, 33), np.float32)
    conf[0, lay.index("left_ear")] = 0
    out, c, derived = sk.to_canonical(joints, conf, lay)
    np.testing.assert_allclose(out[0, sk.INDEX["SpineBase"]], [0, 0, 0], atol=1e-7)
    np.testing.assert_allclose(out[0, sk.INDEX["KneeLeft"]], [-0.1, -0.4, 0])
    assert derived[sk.INDEX["SpineBase"]] and not derived[sk.INDEX["KneeLeft"]]
    assert c[0, sk.INDEX["Head"]] == 0  # derived from an ear that is missing
    assert (c > 0).sum() == 23  # Head and Neck need the left ear


def test_layout_for_and_unknown_names():
    assert sk.layout_for(list(sk.KGBD.joints)) is sk.KGBD
    custom = sk.layout_for(["Head", "HipCenter"])
    assert custom.name == "custom" and custom.joints == ("Head", "SpineBase")
    with pytest.raises(KeyError, match="Pelvis"):
        sk.layout_for(["Head", "Pelvis"])
    with pytest.raises(KeyError, match="unknown layout"):
        sk.layout_for("kinect_v3")


def _walker_pose():
    w = Walker.random(np.random.default_rng(3))
    return np.stack([w.pose(t) for t in np.arange(0, 2, 1 / 30)]).astype(np.float32)


def test_normalisation_centres_faces_and_scales():
    joints = _walker_pose()
    out = sk.normalize(joints)
    np.testing.assert_allclose(out[:, sk.INDEX["SpineBase"]], 0, atol=1e-6)
    assert abs(np.median(np.linalg.norm(out[:, sk.INDEX["SpineShoulder"]], axis=-1)) - 1) < 1e-5
    yaw = sk.facing_angle(out)
    assert np.abs(np.arctan2(np.sin(yaw).mean(), np.cos(yaw).mean())) < 1e-5
    # faces -z: right shoulder at larger x; the feet point to -z
    assert (out[:, sk.INDEX["ShoulderRight"], 0] > out[:, sk.INDEX["ShoulderLeft"], 0]).all()
    assert (out[:, sk.INDEX["FootLeft"], 2] < out[:, sk.INDEX["AnkleLeft"], 2]).mean() > 0.9
    # rotation keeps bone lengths
    np.testing.assert_allclose(sk.bone_lengths(sk.face_forward(sk.center(joints))),
                               sk.bone_lengths(joints), rtol=1e-4, atol=1e-5)


def test_face_forward_any_heading():
    joints = sk.center(_walker_pose())
    for angle in np.linspace(-3, 3, 7):
        turned = np.einsum("ab,tjb->tja", sk.rotation_y(angle), joints).astype(np.float32)
        out = sk.face_forward(turned, per_frame=True)
        np.testing.assert_allclose(sk.facing_angle(out), 0, atol=1e-4)


def test_velocities_bones_and_mirror():
    joints = _walker_pose()
    times = np.arange(len(joints)) / 30.0
    v = sk.velocities(joints, times)
    assert (v[0] == 0).all()
    np.testing.assert_allclose(v[5], (joints[5] - joints[4]) * 30, rtol=1e-4)
    b = sk.bones(joints)
    assert (b[:, sk.INDEX["SpineBase"]] == 0).all()
    np.testing.assert_allclose(b[:, sk.INDEX["KneeLeft"]],
                               joints[:, sk.INDEX["KneeLeft"]] - joints[:, sk.INDEX["HipLeft"]])
    m = sk.mirror(joints)
    np.testing.assert_allclose(m[:, sk.INDEX["HandLeft"], 0], -joints[:, sk.INDEX["HandRight"], 0])
    np.testing.assert_allclose(sk.mirror(m), joints)


@pytest.mark.parametrize("a,b", [([0, 1, 0], [0, 0.8, 0.6]), ([1, 0, 0], [-1, 0, 0]), ([0, 1, 0], [0, 1, 0]),
                                 ([0.2, -0.3, 0.9], [-0.5, 0.1, 0.4])])
def test_rotation_between_is_a_rotation_taking_a_onto_b(a, b):
    a, b = np.array(a, float), np.array(b, float)
    r = sk.rotation_between(a, b)
    np.testing.assert_allclose(r @ r.T, np.eye(3), atol=1e-9)
    assert np.linalg.det(r) == pytest.approx(1.0)
    np.testing.assert_allclose(r @ (a / np.linalg.norm(a)), b / np.linalg.norm(b), atol=1e-9)


def test_upright_levels_the_mean_torso_axis_and_skips_missing_torsos():
    joints = np.zeros((4, 25, 3))
    joints[:, sk.INDEX["SpineShoulder"]] = [0, 0.5, 0.2]
    joints[:, sk.INDEX["Head"]] = [0, 0.7, 0.3]
    conf = np.ones((4, 25))
    out = sk.upright(joints, conf)
    np.testing.assert_allclose(out[:, sk.INDEX["SpineShoulder"]], [[0, np.hypot(0.5, 0.2), 0]] * 4, atol=1e-9)
    conf[:, sk.INDEX["SpineBase"]] = 0
    np.testing.assert_array_equal(sk.upright(joints, conf), joints)
