"""The distilled gait student (trainers/methods/distill.py, results/distill/RULE.md): the targets
are the teacher's matching features of the clean windows (the same for a window and its mirror
image, which the recipe relies on), held-out walks never reach the data, the loss is what it says,
and a student checkpoint is a gait encoder the engine's loaders, ONNX export and matching take."""

import numpy as np
import pytest
import torch

from engine.checkpoint import load_gait
from engine.embed import window_features
from engine.models.a3d import A3D, A3DConfig
from engine.models.sge_la import mirror_windows, prepare_windows, window_options
from trainers.methods.distill import Distill, DistillConfig, cosine_distance, relational_kl


def test_head_needs_the_global_map_only():
    with pytest.raises(ValueError, match="attention=none"):
        A3DConfig(attention="rl", head=64)
    net = A3D(A3DConfig(channels=8, attention="none", head=32)).eval()
    assert net.dim == 32 and net(torch.randn(5, 6, 20, 3)).shape == (5, 32)


def test_cosine_distance_by_hand():
    s = torch.tensor([[3.0, 4.0], [1.0, 0.0]])
    t = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    assert float(cosine_distance(s, t)) == pytest.approx(((1 - 0.6) + (1 - 0.0)) / 2)


def test_relational_kl_by_hand_and_zero_when_the_neighbourhoods_agree():
    t = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.6, 0.8]])
    s = torch.tensor([[2.0, 0.0], [0.0, 1.0], [0.8, 0.6]])
    assert float(relational_kl(3 * t, t, 0.1)) == pytest.approx(0.0, abs=1e-6)  # lengths do not matter
    tau, cos = 0.5, lambda a: torch.nn.functional.normalize(a, dim=1) @ torch.nn.functional.normalize(a, dim=1).T
    ct, cs, want = cos(t), cos(s), 0.0
    for i in range(3):  # by hand: softmax over the two other windows, KL(teacher || student)
        others = [j for j in range(3) if j != i]
        pt = torch.softmax(ct[i, others] / tau, 0)
        ps = torch.softmax(cs[i, others] / tau, 0)
        want += float((pt * (pt.log() - ps.log())).sum()) / 3
    assert want > 0.01 and float(relational_kl(s, t, tau)) == pytest.approx(want, rel=1e-5)
    method = Distill(DistillConfig(channels=8, head=16, mirror=0.0, relational=2.0, tau=tau))
    method.model.eval()
    x, target = torch.randn(4, 6, 20, 3), torch.nn.functional.normalize(torch.randn(4, 16), dim=1)
    with torch.no_grad():
        terms = method(x, torch.Generator().manual_seed(0), target)
        feature = method.model(x)
    assert set(terms) == {"cosine", "relational"}
    assert float(terms["relational"]) == pytest.approx(2.0 * float(relational_kl(feature, target, tau)), rel=1e-5)
    with pytest.raises(ValueError, match="tau"):
        DistillConfig(relational=1.0, tau=0.0)


def test_mirrored_training_windows_keep_their_target():
    torch.manual_seed(0)
    method = Distill(DistillConfig(channels=8, head=16, mirror=1.0)).train()
    method.model.eval()  # batch norm on its running statistics: the loss depends on the input alone
    x, target = torch.randn(4, 6, 20, 3), torch.nn.functional.normalize(torch.randn(4, 16), dim=1)
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        mirrored = float(cosine_distance(method.model(mirror_windows(x)), target))
        plain = float(cosine_distance(method.model(x), target))
        assert float(method(x, gen, target)["cosine"]) == pytest.approx(mirrored, abs=1e-6)  # p = 1: every window
        assert abs(mirrored - plain) > 1e-4
        method.eval()  # validation: never mirrored
        assert float(method(x, gen, target)["cosine"]) == pytest.approx(plain, abs=1e-6)
    with pytest.raises(ValueError, match="teacher feature"):
        method(x, gen, None)


@pytest.mark.realdata
def test_side_symmetric_teacher_gives_a_window_and_its_mirror_the_same_target(kgbd_root):
    from engine.datasets import open_dataset
    model, meta = load_gait(None)
    ds = open_dataset(kgbd_root)
    seq = ds.read(ds.items[0].path)
    w = torch.from_numpy(prepare_windows(seq.joints, seq.confidence, seq.layout, 6, **window_options(meta["input"]))[:32])
    with torch.no_grad():
        a = window_features(model, model.encode(w)["sequence"].numpy())
        b = window_features(model, model.encode(mirror_windows(w))["sequence"].numpy())
    assert np.abs(a - b).max() < 1e-4
    assert np.abs(a - a[::-1]).max() > 0.1  # and different windows differ


@pytest.mark.realdata
def test_teacher_data_targets_are_the_teachers_features_of_clean_windows(kgbd_root):
    from trainers.config import TrainConfig
    from trainers.data import TeacherWalkData
    cfg = TrainConfig(data_root=str(kgbd_root), limit_people=3, upright=True, common_joints=True, shared_joints=True,
                      joint_dropout=1.0, batch=16)
    data = TeacherWalkData(cfg, 6, "", progress=False)
    held = set(data.info["held_out"])
    seen = {data.fit.walk_id[w] for w in set(data.fit.walk)} | {data.val.walk_id[w] for w in set(data.val.walk)}
    assert held and not held & seen
    model, _ = load_gait(None)
    idx = data.batches(seed=0)[0]
    batch = data.tensors(idx, train=True, rng=np.random.default_rng(0))
    with torch.no_grad():
        want = window_features(model, model.encode(torch.from_numpy(data.fit.windows[idx]))["sequence"].numpy())
    np.testing.assert_allclose(batch["target"], want, atol=1e-5)
    assert not np.allclose(batch["x"], data.fit.windows[idx])  # the input lost joints, the target did not
    every = np.concatenate(data.batches(seed=1))
    assert len(np.unique(every)) == len(every) and len(every) > len(data.fit.windows) - cfg.batch


@pytest.mark.realdata
def test_the_bundled_student_is_a_live_gait_model_by_its_short_name(kgbd_root, tmp_path):
    """`--checkpoint fast`: the engine runs the bundled student (calibrated threshold, no agent: an
    empty glimpse map and no glimpses), and a walk of an enrolled person is named once 12 s of it
    have been seen (its first seconds look more like another of the three, to the default too)."""
    import time

    from conftest import live_engine
    from engine.checkpoint import FAST_GAIT, checkpoint_base
    from engine.datasets import open_dataset
    from engine.embed import gait_embedding
    from engine.gallery import Enrollment, Gallery
    from engine.wire import decode_result
    assert checkpoint_base("fast") == FAST_GAIT
    model, meta = load_gait("fast")
    assert meta["method"] == "distill" and meta["identity"]["threshold"] > 0 and model.dim == 512
    ds = open_dataset(kgbd_root)
    people = sorted({it.meta["subject"] for it in ds.items})[:3]
    walks = {p: [it.path for it in ds.items if it.meta["subject"] == p] for p in people}
    with Gallery(tmp_path / "g.db") as g:
        for p in people:
            g.enroll(p, [Enrollment(gait_embedding(model, meta, ds.read(w))[0], str(w)) for w in walks[p][:-1]],
                     meta["name"], meta["fingerprint"])
    rows = []
    with live_engine(tmp_path, [walks[people[0]][-1]], 4.0, (b"result/",), action=False, checkpoint="fast",
                     backend="onnx") as (sub, sender):
        deadline = time.time() + 60
        while time.time() < deadline and (sender.is_alive() or sub.poll(500)) and len(rows) < 60:
            if sub.poll(200):
                header, att = decode_result(sub.recv_multipart())
                assert att.shape[1:] == (1, 6, 20) and not att.any()  # no attention to show
                rows += header["tracks"]
    assert len(rows) >= 50
    assert all("glimpses" not in r for r in rows)
    assert rows[-1]["top"][0][0] == people[0]


def test_side_limb_noise_moves_one_sides_limbs_only_and_hands_with_wrists():
    from engine.models.sge_la import INPUT_JOINTS
    from trainers.methods.distill import side_limb_noise
    x = torch.randn(400, 6, 20, 3)
    gen = torch.Generator().manual_seed(0)
    assert torch.equal(side_limb_noise(x, 0.0, gen), x)
    y = side_limb_noise(x, 0.5, gen)
    moved = (y - x).abs().amax((1, 3)) > 0  # [B, 20]
    idx = {n: i for i, n in enumerate(INPUT_JOINTS)}
    limbs = {s: [idx[j + s] for j in ("Elbow", "Wrist", "Hand", "Knee", "Ankle", "Foot")] for s in ("Left", "Right")}
    left, right = moved[:, limbs["Left"]].all(1), moved[:, limbs["Right"]].all(1)
    assert not (left & right).any() and 0.4 < float((left | right).float().mean()) < 0.6  # one side, about half
    assert left.any() and right.any()
    others = [i for i in range(20) if i not in limbs["Left"] + limbs["Right"]]
    assert not moved[:, others].any()  # torso, head, shoulders, hips untouched
    d = y - x
    assert torch.allclose(d[:, :, idx["HandLeft"]], d[:, :, idx["WristLeft"]], atol=1e-6)  # hands follow wrists
    assert torch.allclose(d[:, :, idx["FootRight"]], d[:, :, idx["AnkleRight"]], atol=1e-6)
    per_joint = d[left][:, :, idx["ElbowLeft"]]  # a constant offset (4 cm) plus jitter (2 cm) per frame
    assert 0.03 < float(per_joint.mean(1).std()) < 0.05
    assert 0.015 < float((per_joint - per_joint.mean(1, keepdim=True)).std()) < 0.025


def test_limb_noise_reaches_the_training_loss_only():
    torch.manual_seed(0)
    x, target = torch.randn(8, 6, 20, 3), torch.nn.functional.normalize(torch.randn(8, 16), dim=1)
    clean = Distill(DistillConfig(channels=8, head=16, mirror=0.0))
    noisy = Distill(DistillConfig(channels=8, head=16, mirror=0.0, limb_noise=1.0))
    noisy.load_state_dict(clean.state_dict())  # the same network, only the switch differs
    for m in (clean, noisy):
        m.train()
        m.model.eval()  # batch norm on running statistics: the loss depends on the input alone
    loss = lambda m: float(m(x, torch.Generator().manual_seed(1), target)["cosine"])  # noqa: E731
    from trainers.methods.distill import side_limb_noise
    with torch.no_grad():  # training: the network sees the displaced windows (the same draws), the target stays
        displaced = side_limb_noise(x, 1.0, torch.Generator().manual_seed(1))
        assert loss(noisy) == pytest.approx(float(cosine_distance(noisy.model(displaced), target)), abs=1e-6)
        assert loss(clean) == pytest.approx(float(cosine_distance(clean.model(x), target)), abs=1e-6)
        noisy.eval()  # validation: never displaced
        assert loss(noisy) == pytest.approx(loss(clean), abs=1e-6)


@pytest.mark.realdata
def test_a_student_exports_beside_the_default_with_its_card(kgbd_root, tmp_path):
    from conftest import REPO
    from trainers.export import main as export_main
    from trainers.run import main as run_main
    run_main(["distill", "--config", str(REPO / "trainers/configs/distill_kgbd.yaml"), f"data_root={kgbd_root}",
              "limit_people=3", "batch=16", "channels=8", "limb_noise=0.5", "epochs=1", "steps_per_epoch=2",
              "device=cpu", f"out={tmp_path / 'run'}"])
    export_main([str(tmp_path / "run" / "best"), "--out", str(tmp_path / "student")])
    card = (tmp_path / "student.md").read_text()
    assert "student of gait_sge_la" in card and "No labels were used" in card and "limbs displaced with p 0.5" in card
    assert f"--out {tmp_path / 'student'}" in card  # the command that made it, as it was run
    model, meta = load_gait(tmp_path / "student")
    assert meta["method"] == "distill" and model.dim == 512
