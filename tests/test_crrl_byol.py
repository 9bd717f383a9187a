"""CRRL (seed 003) and skeleton BYOL (seed 004): their losses, schedules and data against hand
computations (issue 15)."""

import math

import numpy as np
import pytest
import torch
from torch import nn

from engine import checkpoint
from engine.checkpoint import load_action
from engine.models.action import SKELETON_JOINTS, STGCNEncoder, partition_adjacency
from trainers import config
from trainers.blocks.augment import byol_view, side_joints
from trainers.methods.byol import BYOL, BYOLConfig, byol_loss, ema_coefficient
from trainers.methods.crrl import CRRL, CRRLConfig, distillation_loss, reconstruction_loss, velocity

SMALL_CRRL = dict(hidden=8, mlp=16, queue=8, frames=12)


def clips(n=6, t=12, seed=0):
    return torch.randn(n, t, 20, 3, generator=torch.Generator().manual_seed(seed))


def test_velocity_is_the_next_frame_minus_this_one_and_the_last_repeated():
    x = clips(2, 5)
    v = velocity(x)
    assert torch.equal(v[:, :4], x[:, 1:] - x[:, :-1]) and torch.equal(v[:, 4], v[:, 3])


def test_reconstruction_targets_are_the_clip_forwards_from_h1_and_reversed_from_hT():
    x = clips(3, 7)
    h = torch.randn(3, 7, 4)

    class Recite:  # a decoder that "recites" exactly what each hint stands for
        def __init__(self, first, last):
            self.first, self.last = first, last

        def __call__(self, hint, frames):
            assert frames == 7
            return self.first if torch.equal(hint, h[:, 0]) else self.last

    assert reconstruction_loss(x, h, Recite(x, x.flip(1))) == 0  # forwards from h_1, backwards from h_T
    swapped = reconstruction_loss(x, h, Recite(x.flip(1), x))
    assert swapped > 0.5  # the reversed clip is a different target
    wrong = reconstruction_loss(x, h, Recite(x, x))  # reciting forwards from h_T is wrong
    assert wrong == pytest.approx(float(((x - x.flip(1)) ** 2).mean()))


def test_distillation_loss_against_a_hand_computation_and_in_the_crrl_step(tmp_path):
    t, s = torch.tensor([[1.0, 2.0], [0.0, -1.0]]), torch.tensor([[0.5, 2.0], [1.0, 1.0]])
    assert float(distillation_loss(t, s)) == pytest.approx((0.25 + 0 + 1 + 4) / 4)
    # step 1: a CML query encoder, saved as a checkpoint; step 2 distils it into the SER encoder
    cml = CRRL(CRRLConfig(fusion="cml", **SMALL_CRRL))
    meta = cml.checkpoints({"training": {}, "metrics": {}})["cml"][1]
    path = checkpoint.save(tmp_path / "cml", cml.encoder(), meta)
    crrl = CRRL(CRRLConfig(fusion="crrl", teacher=str(path), distill_weight=0.1, **SMALL_CRRL)).eval()
    x = clips()
    terms = crrl(x, torch.Generator())
    assert set(terms) == {"reconstruct", "distill"}
    teacher, _ = load_action(path)
    h_s = crrl.project(crrl.student.states(x).mean(1))
    hand = 0.1 * ((teacher.eval()(x) - h_s) ** 2).mean()
    assert float(terms["distill"].detach()) == pytest.approx(float(hand.detach()), rel=1e-5)
    # the teacher is frozen: a training step leaves it as it was, and it stays in eval mode
    crrl.train()
    before = [p.clone() for p in crrl.teacher.parameters()]
    opt = torch.optim.SGD([p for p in crrl.parameters() if p.requires_grad], lr=1.0)
    sum(crrl(x, torch.Generator()).values()).backward()
    opt.step()
    assert not crrl.teacher.training and all(torch.equal(a, b) for a, b in zip(before, crrl.teacher.parameters()))
    assert not any(p is q for p in crrl.teacher.parameters() for q in crrl.student.parameters())


def test_crrl_variants_need_the_right_teacher_and_cml_contrasts_coordinates_with_velocities(tmp_path):
    with pytest.raises(ValueError, match="teacher=RUN/cml"):
        CRRLConfig(fusion="crrl")
    with pytest.raises(ValueError, match="uses no teacher"):
        CRRLConfig(fusion="ser", teacher="x")
    with pytest.raises(ValueError, match="fusion must be one of"):
        CRRLConfig(fusion="late")
    joint = CRRL(CRRLConfig(fusion="joint", **SMALL_CRRL))
    assert joint.student is joint.query and set(joint(clips(), torch.Generator())) == {"contrast", "reconstruct"}
    ser = CRRL(CRRLConfig(fusion="ser", **SMALL_CRRL))
    path = checkpoint.save(tmp_path / "ser", ser.encoder(), ser.checkpoints({"training": {}, "metrics": {}})["ser"][1])
    start = CRRL(CRRLConfig(fusion="ser_pretrain_cml", teacher=str(path), **SMALL_CRRL))
    assert all(torch.equal(a, b) for a, b in zip(start.query.state_dict().values(), ser.encoder().state_dict().values()))
    assert start.teacher is None
    # the key side sees velocities: the contrast changes when only the velocities change
    cml = CRRL(CRRLConfig(fusion="cml", **SMALL_CRRL)).eval()
    x = clips()
    with torch.no_grad():
        a = cml(x, torch.Generator())["contrast"]
        b = cml(x + 5.0, torch.Generator())["contrast"]  # same velocities, other coordinates
    assert float(a) != pytest.approx(float(b))
    with torch.no_grad():
        k1 = cml.key(velocity(x))
        k2 = cml.key(velocity(x + 5.0))
    assert torch.allclose(k1, k2, atol=1e-6)


def test_crrl_motion_input_is_kept_by_its_checkpoint(tmp_path):
    """``motion=true`` (not the paper's): the encoder reads positions and motion; the checkpoint
    rebuilds the same encoder, features equal, and the reconstruction target stays the positions."""
    from engine import checkpoint
    from engine.checkpoint import load_action
    from trainers.methods.crrl import CRRL, CRRLConfig
    torch.manual_seed(0)
    m = CRRL(CRRLConfig(fusion="ser", hidden=16, mlp=32, frames=12, motion=True)).eval()
    assert m.student.motion and m.student.gru.input_size == 6 * m.decoder.out.out_features // 3
    x = torch.randn(3, 12, m.decoder.out.out_features // 3, 3)
    terms = m(x, torch.Generator().manual_seed(0))
    assert set(terms) == {"reconstruct"} and torch.isfinite(terms["reconstruct"])
    run = {"training": {}, "metrics": {}}
    (name, (enc, meta)), = m.checkpoints(run).items()
    path = checkpoint.save(tmp_path / name, enc, meta)
    loaded, meta = load_action(path)
    assert meta["architecture"]["motion"] is True
    torch.testing.assert_close(loaded(x), m.student(x))


def test_ema_follows_the_cosine_schedule_from_0_99_to_1():
    assert ema_coefficient(0.99, 0.0) == pytest.approx(0.99)
    assert ema_coefficient(0.99, 0.5) == pytest.approx(0.995)
    assert ema_coefficient(0.99, 1.0) == pytest.approx(1.0)
    assert ema_coefficient(0.99, 0.25) == pytest.approx(1 - 0.01 * (math.cos(math.pi / 4) + 1) / 2)
    model = BYOL(BYOLConfig(width=0.125, proj_hidden=16, proj_dim=8))
    with torch.no_grad():
        for p in model.online.parameters():
            p.add_(1.0)
    old = [p.clone() for p in model.target.parameters()]
    model.after_step(0.25)
    lam = ema_coefficient(0.99, 0.25)
    for t0, t1, o in zip(old, model.target.parameters(), model.online.parameters()):
        torch.testing.assert_close(t1, lam * t0 + (1 - lam) * o)
    assert float(model.lam) == pytest.approx(lam)


def test_momentum_bn_statistics_follow_the_online_batch_statistics():
    model = BYOL(BYOLConfig(width=0.125, proj_hidden=16, proj_dim=8, bn_momentum=0.8)).train()
    seen = []
    first_bn = model.online["encoder"].norm
    hook = first_bn.register_forward_hook(lambda m, i, o: seen.append(i[0].detach()))
    target_bn = model.target["encoder"].norm
    old_mean, old_var = target_bn.running_mean.clone(), target_bn.running_var.clone()
    model(clips(8, 16), torch.Generator().manual_seed(1))
    hook.remove()
    assert len(seen) == 2  # the two views through the online network
    mean = torch.stack([s.mean((0, 2)) for s in seen]).mean(0)  # [N, C, T]: per channel
    var = torch.stack([s.var((0, 2), unbiased=True) for s in seen]).mean(0)
    model.after_step(0.5)
    torch.testing.assert_close(target_bn.running_mean, 0.8 * old_mean + 0.2 * mean)
    torch.testing.assert_close(target_bn.running_var, 0.8 * old_var + 0.2 * var)
    assert not model.target.training  # the target always normalises with its running statistics
    # validation batches do not move the target's statistics
    model.eval()
    model(clips(8, 16), torch.Generator())
    snap = target_bn.running_mean.clone()
    model.train()
    model.after_step(0.6)
    torch.testing.assert_close(target_bn.running_mean, snap)


def test_byol_loss_is_the_normalised_l2_distance():
    p, z = torch.tensor([[3.0, 4.0]]), torch.tensor([[1.0, 0.0]])
    assert float(byol_loss(p, z)) == pytest.approx(float(((p / 5 - z) ** 2).sum()))


def test_each_pipeline_keeps_shapes_and_masks_whole_sides():
    x = clips(64, 30)
    left, right = side_joints(SKELETON_JOINTS)
    assert left.sum() == right.sum() == 8 and not (left & right).any()
    for pipeline in ("aggressive", "conservative"):
        v, mask = byol_view(x, torch.Generator().manual_seed(3), SKELETON_JOINTS, pipeline)
        assert v.shape == x.shape and mask.shape == x.shape[:3] and torch.isfinite(v).all()
        lost = ~mask[:, 0]  # the same joints lost at every frame
        assert torch.equal(mask, mask[:, :1].expand_as(mask))
        for row in lost:
            assert not row.any() or torch.equal(row, left) or torch.equal(row, right)
        if pipeline == "conservative":
            assert mask.all()
        else:
            assert 0.25 < lost.any(1).float().mean() < 0.75  # p 0.5 per sequence
    v, mask = byol_view(x, torch.Generator(), SKELETON_JOINTS, "aggressive", without=("drop",))
    assert mask.all()


def test_stgcn_masked_joints_cannot_change_the_features():
    enc = STGCNEncoder(width=0.125).eval()
    x = clips(3, 16)
    mask = torch.ones(3, 16, 20, dtype=torch.bool)
    mask[:, :, side_joints(SKELETON_JOINTS)[0]] = False
    moved = x.clone()
    moved[~mask] = 1e3  # whatever a dropped joint's coordinates say
    torch.testing.assert_close(enc(x, mask), enc(moved, mask))
    assert not torch.allclose(enc(x), enc(moved))
    parts = partition_adjacency()
    assert parts.shape == (3, 20, 20) and np.allclose(parts.sum((0, 1)), 1)  # each column normalised
    assert np.all(np.diag(parts[0]) > 0) and np.all(np.diag(parts[1]) == 0)


def test_multi_view_pairs_come_from_one_action_instance():
    from trainers.action_data import ActionSet
    from trainers.data import ClipData
    from trainers.methods.sge_la import SGELAConfig
    meta, x = [], []
    for a in range(3):
        for s in range(1, 4):
            for e in range(2):
                for v in (1, 2, 3):
                    meta.append({"action": f"a{a}", "subject": f"s{s}", "session": f"e{e}", "view": f"v0{v}"})
                    x.append(np.full((4, 20, 3), 1000 * a + 100 * s + 10 * e + v, np.float32))
    sets = {"nwucla": ActionSet(np.stack(x), np.zeros(len(x), int), ["a"], meta)}
    cfg, _ = config.load(None, ["dataset=nwucla", "batch=4", "multi_view=true", "val_fraction=0.1"], SGELAConfig)
    data = ClipData(cfg, 4, progress=False, sets=sets)
    rng = np.random.default_rng(0)
    other_view = 0
    for idx in data.batches(seed=0):
        batch = data.tensors(idx, train=True, rng=rng)
        a, b = batch["x"][:, 0, 0, 0].astype(int), batch["pair"][:, 0, 0, 0].astype(int)
        assert np.array_equal(a // 10, b // 10)  # same action, subject and session
        assert not np.any(b % 10 == 3)  # never the test view
        other_view += int(np.sum(a != b))
    assert other_view > 0  # pairs do cross cameras
    assert "pair" not in data.tensors(np.arange(2), train=False)


def test_distillation_teaches_a_narrower_student_without_labels():
    """The student sees only the teacher's class distributions, never the labels: on clips whose
    class moves every joint left or right, a teacher that knows the rule passes it on."""
    from trainers.action_data import ActionSet
    from trainers.evaluate.action import distill

    gen = torch.Generator().manual_seed(0)
    y = torch.randint(0, 2, (96,), generator=gen)
    x = torch.randn(96, 8, 20, 3, generator=gen) * 0.3
    x[..., 0] += (2 * y - 1)[:, None, None].float()

    class Oracle(nn.Module):
        def forward(self, v):
            m = v[..., 0].mean((1, 2))
            return torch.stack([-m, m], 1) * 5

    test = ActionSet(x[64:].numpy(), y[64:].numpy(), ["neg", "pos"], [{}] * 32)
    student = STGCNEncoder(width=0.125)
    r = distill(Oracle(), student, x[:64].numpy(), test, 2, "cpu", epochs=30, lr=3e-3, progress=False)
    assert r["accuracy"] >= 75
