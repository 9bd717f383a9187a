"""SGE-LA pieces against the paper's equations, on small hand-made inputs."""

import math

import numpy as np
import pytest
import torch

from engine.models.sge_la import SGELA, SGEConfig, locality_mask, prepare_windows, to_axes
from engine.skeleton import KINECT_V2, rotation_y
from engine.sensors.synthetic import Walker
from trainers.blocks.losses import alignment_loss, consecutive_contrastive_loss
from trainers.evaluate.metrics import cmc, mean_average_precision, nauc, summary
from trainers.methods.sge_la import SGELAConfig, SGELAMethod


def test_locality_mask_eq5():
    f = 6
    m = locality_mask(f)
    sigma = f / 2
    for t in range(f):  # 0-based t; p_t = f - t + 1 in 1-based terms
        p = f - 1 - t
        for j in range(f):
            assert m[t, j].item() == pytest.approx(math.exp(-(j - p) ** 2 / (2 * sigma ** 2)), rel=1e-6)
    assert (m.flip(1).diagonal() == 1).all()  # the clinodiagonal is the centre
    fwd = locality_mask(f, reverse=False)
    assert (fwd.diagonal() == 1).all()
    narrow = locality_mask(8, window=2)
    assert narrow[0, 7 - 4].item() == 1.0  # outside [p - D, p + D]: untouched
    assert narrow[0, 7 - 2].item() == pytest.approx(math.exp(-4 / 2))


def test_alignment_loss_eq7():
    mask = locality_mask(3)
    a = torch.tensor([[[0.2, 0.3, 0.5], [0.1, 0.8, 0.1], [0.6, 0.3, 0.1]]])
    expected = 0.5 * sum(float(a[0, t, j] - mask[t, j] * a[0, t, j]) ** 2 for t in range(3) for j in range(3))
    assert alignment_loss(a, mask).item() == pytest.approx(expected, rel=1e-6)
    # attention exactly on the clinodiagonal costs nothing
    anti = torch.eye(3).flip(1)[None]
    assert alignment_loss(anti, mask).item() == pytest.approx(0.0, abs=1e-7)


def _lcl_by_hand(z, tau):
    n = len(z)
    views = torch.cat([z[1:], z[:-1]])
    views = views / views.norm(dim=1, keepdim=True)
    sim = views @ views.T / tau

    def ell(i, j):
        den = sum(math.exp(sim[i, k]) for k in range(2 * n - 2) if k != i)
        return -math.log(math.exp(sim[i, j]) / den)

    return sum(ell(k, k + n - 1) + ell(k + n - 1, k) for k in range(n - 1)) / (2 * n - 2)


def test_lcl_loss_algorithm1():
    torch.manual_seed(0)
    z = torch.randn(5, 4)
    assert consecutive_contrastive_loss(z, 0.5).item() == pytest.approx(_lcl_by_hand(z, 0.5), rel=1e-5)
    # positive pairs are adjacent sequences: a chain of slowly changing vectors beats shuffled ones
    base = torch.randn(8, 16)
    smooth = torch.cumsum(base * 0.05, 0) + torch.randn(1, 16)
    shuffled = smooth[torch.tensor([0, 4, 1, 6, 2, 7, 3, 5])]
    assert consecutive_contrastive_loss(smooth, 0.1) < consecutive_contrastive_loss(shuffled, 0.1)


def test_pretext_targets():
    windows = torch.arange(2 * 4 * 20 * 3, dtype=torch.float32).reshape(2, 4, 20, 3)
    rev = SGELAMethod(SGELAConfig(length=4, hidden=8, lcl=False))
    inp, target, teacher = rev.pretext(windows)
    x = to_axes(windows)
    assert torch.equal(inp, x) and torch.equal(target[:, :, 0], x[:, :, 3]) and torch.equal(teacher, target)
    pred = SGELAMethod(SGELAConfig(length=4, hidden=8, lcl=False, pretext="prediction", attention="bas"))
    _, target, teacher = pred.pretext(windows)
    assert torch.equal(target[:, 0], x[:, 1]) and teacher is None
    sort = SGELAMethod(SGELAConfig(length=4, hidden=8, lcl=False, pretext="sorting", attention="bas"))
    inp, target, _ = sort.pretext(windows, torch.Generator().manual_seed(1))
    assert torch.equal(target, x)
    assert torch.equal(inp.sort(2).values, x.sort(2).values) and not torch.equal(inp, x)
    with pytest.raises(ValueError, match="mbas"):
        SGELAConfig(attention="mbas", pretext="sorting")


def test_model_shapes_and_attention_rows_sum_to_one():
    torch.manual_seed(0)
    model = SGELA(SGEConfig(length=6, hidden=16))
    x = torch.randn(4, 6, 20, 3)
    out = model(to_axes(x), aux=to_axes(x).flip(2))
    assert out["output"].shape == (3, 4, 6, 20) and out["scores"].shape == (3, 4, 6, 6)
    torch.testing.assert_close(out["scores"].sum(-1), torch.ones(3, 4, 6))
    enc = model.encode(x)
    assert enc["frames"].shape == (4, 6, 48) and enc["sequence"].shape == (4, 288)
    # the three axes have separate weights: changing only Y inputs leaves X's encoding unchanged
    y_only = x.clone()
    y_only[..., 1] += 1.0
    enc2 = model.encode(y_only)
    torch.testing.assert_close(enc2["frames"][..., :16], enc["frames"][..., :16])
    assert not torch.allclose(enc2["frames"][..., 16:32], enc["frames"][..., 16:32])


def test_windows_ignore_walking_direction_and_position():
    walker = Walker.random(np.random.default_rng(4))
    joints = np.stack([walker.pose(t) for t in np.arange(0, 1, 1 / 30)]).astype(np.float32)
    conf = np.ones(joints.shape[:2], np.float32)
    base = prepare_windows(joints, conf, KINECT_V2, 6)
    turned = np.einsum("ab,tjb->tja", rotation_y(1.1), joints).astype(np.float32) + np.float32([2, 0.3, -1])
    moved = prepare_windows(turned, conf, KINECT_V2, 6)
    assert base.shape == (5, 6, 20, 3)
    np.testing.assert_allclose(moved, base, atol=1e-4)


def test_upright_windows_ignore_sensor_tilt_and_roll():
    from engine.skeleton import rotation_between

    walker = Walker.random(np.random.default_rng(5))
    joints = np.stack([walker.pose(t) for t in np.arange(0, 1, 1 / 30)]).astype(np.float32)
    conf = np.ones(joints.shape[:2], np.float32)
    tilt = rotation_between(np.array([0.0, 1.0, 0.0]), np.array([0.0, 0.9, 0.35])).astype(np.float32)
    np.testing.assert_allclose(tilt @ [0, 1, 0], np.array([0, 0.9, 0.35]) / np.hypot(0.9, 0.35), atol=1e-6)
    tilted = joints @ (rotation_y(0.7).astype(np.float32) @ tilt).T
    base = prepare_windows(joints, conf, KINECT_V2, 6, upright=True)
    np.testing.assert_allclose(prepare_windows(tilted, conf, KINECT_V2, 6, upright=True), base, atol=1e-4)
    # without levelling the tilt shows (about 21 degrees: centimetres at the head)
    assert np.abs(prepare_windows(tilted, conf, KINECT_V2, 6) - prepare_windows(joints, conf, KINECT_V2, 6)).max() > 0.1
    # levelling a level walker changes it only by its mean lean
    assert np.abs(base - prepare_windows(joints, conf, KINECT_V2, 6)).max() < 0.05


def test_metrics_on_a_toy_ranking():
    classes = np.array(["a", "b", "c", "d"])
    scores = np.array([[0.9, 0.1, 0.0, 0.0],    # a: rank 1
                       [0.8, 0.5, 0.1, 0.0],    # b: rank 2
                       [0.1, 0.2, 0.3, 0.9]])   # c: rank 2
    labels = np.array(["a", "b", "c"])
    curve = cmc(scores, labels, classes)
    np.testing.assert_allclose(curve, [1 / 3, 1, 1, 1])
    assert nauc(curve) == pytest.approx((1 / 3 + 3) / 4)
    s = summary(scores, labels, classes)
    assert s["rank1"] == pytest.approx(100 / 3) and s["rank5"] == 100
    # mAP: probe 0 finds its items at ranks 1 and 3 -> AP = (1/1 + 2/3) / 2; probe 1 at rank 2 -> 1/2
    gallery = np.array(["x", "y", "x", "z"])
    s2 = np.array([[0.9, 0.8, 0.7, 0.1], [0.1, 0.5, 0.9, 0.2]])
    assert mean_average_precision(s2, np.array(["x", "y"]), gallery) == pytest.approx(((1 + 2 / 3) / 2 + 1 / 2) / 2)


def test_windows_from_a_mediapipe_layout():
    from engine.skeleton import INDEX, MEDIAPIPE

    walker = Walker.random(np.random.default_rng(2))
    canon = np.stack([walker.pose(t) for t in np.arange(0, 0.4, 1 / 30)]).astype(np.float32)
    mp = np.zeros((len(canon), 33, 3), np.float32)
    for name, src in MEDIAPIPE.derived.items():
        if len(src) == 1:
            mp[:, MEDIAPIPE.index(src[0])] = canon[:, INDEX[name]]
    for side in ("left", "right"):  # ears beside the head, pinkies beside the index fingers
        mp[:, MEDIAPIPE.index(f"{side}_ear")] = canon[:, INDEX["Head"]]
        mp[:, MEDIAPIPE.index(f"{side}_pinky")] = mp[:, MEDIAPIPE.index(f"{side}_index")]
    w = prepare_windows(mp, np.ones(mp.shape[:2], np.float32), MEDIAPIPE, 6)
    assert w.shape == (2, 6, 20, 3) and np.isfinite(w).all()
    ref = prepare_windows(canon, np.ones(canon.shape[:2], np.float32), KINECT_V2, 6)
    # SpineBase is derived as the hip midpoint, as the walker's pelvis is: limbs agree exactly
    for k in (5, 13, 18):  # ElbowLeft, KneeLeft, AnkleRight in the Kinect v1 order
        np.testing.assert_allclose(w[:, :, k], ref[:, :, k], atol=1e-5)


def test_batched_last_windows_equal_the_per_sequence_preparation():
    from engine.models.sge_la import prepare_last_windows
    from engine.skeleton import rotation_between

    rng = np.random.default_rng(0)
    contexts, confs = [], []
    for k in range(3):
        walker = Walker.random(rng)
        j = np.stack([walker.pose(t) for t in np.arange(0, 1, 1 / 30)]).astype(np.float32)
        tilt = rotation_between(np.array([0.0, 1.0, 0.0]), rng.normal(size=3) * 0.2 + [0, 1, 0]).astype(np.float32)
        contexts.append(j @ tilt.T)
        confs.append(np.ones(j.shape[:2], np.float32))
    joints, conf = np.stack(contexts), np.stack(confs)
    for opts in ({}, {"upright": True, "common_joints": True}):
        batch = prepare_last_windows(joints, conf, 6, **opts)
        for k in range(3):
            np.testing.assert_allclose(batch[k], prepare_windows(joints[k], conf[k], KINECT_V2, 6, **opts)[-1], atol=1e-5)


@pytest.mark.parametrize("case", ["flicker", "torso lost for a while", "a hip never given"])
def test_the_live_path_fills_only_the_last_window_and_agrees_with_the_whole_context(case):
    """The engine prepares a window from a 4 s context: the levelling reads the whole context's
    torso, the filling only the last window (`fill_missing(last=)`); joints lost for a few frames
    inside and before the window, and sensors without some joints, give the values of filling
    the whole context."""
    from engine.missing import SENSOR_JOINTS, SHARED_JOINTS, fill_missing, reduce_joints
    from engine.models.sge_la import prepare_last_windows
    from engine.skeleton import INDEX

    rng = np.random.default_rng(1)
    walker = Walker.random(rng)
    joints = np.stack([walker.pose(t) for t in np.arange(0, 4, 1 / 30)]).astype(np.float32)[None].repeat(2, 0)
    conf = np.ones(joints.shape[:3], np.float32)
    conf[1] = reduce_joints(conf[1], SENSOR_JOINTS["openni15"])  # two joint sets in one batch
    lost = rng.random(conf.shape) < 0.1  # flickering joints, the last window's too
    if case == "torso lost for a while":
        lost[:, 30:60, INDEX["HipLeft"]] = True
        lost[:, -3:, INDEX["ShoulderRight"]] = True
    if case == "a hip never given":  # the torso is then filled from other joints: the whole-context path
        lost[0, :, INDEX["HipRight"]] = True
    conf[lost] = 0
    joints[conf == 0] = rng.normal(0, 50, (int((conf == 0).sum()), 3))  # never read
    full, filled = fill_missing(joints, conf)
    last, last_filled = fill_missing(joints, conf, last=6)
    np.testing.assert_array_equal(last, full[:, -6:])
    np.testing.assert_array_equal(last_filled, filled[:, -6:])
    opts = {"upright": True, "common_joints": True, "shared_joints": True}
    batch = prepare_last_windows(joints, conf, 6, **opts)
    for k in range(2):
        ref = prepare_windows(joints[k], conf[k], KINECT_V2, 6, **opts)[-1]
        np.testing.assert_allclose(batch[k], ref, atol=1e-5)
    assert np.abs(batch).max() < 3 and reduce_joints(conf, SHARED_JOINTS).any()


def test_the_bundled_gait_encoder_is_blind_to_which_side_it_sees():
    """`SymmetricGait`: a window and its mirror image (x negated, left and right swapped) give the
    same matching feature, and the plain encoder's differ; its fingerprint is not the weights'
    alone, so galleries made with the plain encoder re-encode."""
    from engine.checkpoint import DEFAULT_GAIT, fingerprint, load_gait
    from engine.embed import window_features
    from engine.models.sge_la import SymmetricGait, mirror_windows
    from engine.runtime import example_input

    model, meta = load_gait(None)
    assert isinstance(model, SymmetricGait)
    assert meta["fingerprint"] != fingerprint(DEFAULT_GAIT) and meta["fingerprint"].startswith(fingerprint(DEFAULT_GAIT))
    x = example_input("gait", meta, 4)
    mx = mirror_windows(x)
    assert torch.equal(mirror_windows(mx), x)
    same = window_features(model, model.encode(x)["sequence"].numpy())
    flipped = window_features(model, model.encode(mx)["sequence"].numpy())
    np.testing.assert_allclose(same, flipped, atol=1e-4)
    plain = model.model
    a = window_features(plain, plain.encode(x)["sequence"].numpy())
    b = window_features(plain, plain.encode(mx)["sequence"].numpy())
    assert (a * b).sum(1).max() < 0.99  # one side and the other are different windows to the plain encoder
