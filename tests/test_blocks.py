"""The contrastive blocks (trainers/blocks): each augmentation keeps shapes and its invariants,
the queue enqueues and wraps, the EMA and InfoNCE do what they say."""

import torch
import torch.nn.functional as F

from trainers.blocks.augment import joint_jitter, pose_shear, spatio_temporal, temporal_crop_resize
from trainers.blocks.contrast import Queue, info_nce, momentum_update


def _x(n=8, t=50, j=25, seed=0):
    return torch.randn(n, t, j, 3, generator=torch.Generator().manual_seed(seed))


def test_pose_shear_is_one_linear_map_per_sequence_with_unit_diagonal():
    x = _x()
    y = pose_shear(x, torch.Generator().manual_seed(1))
    assert y.shape == x.shape
    for i in range(len(x)):  # recover the matrix from the points: least squares, exact
        a = x[i].reshape(-1, 3)
        s = torch.linalg.lstsq(a, y[i].reshape(-1, 3)).solution
        assert torch.allclose(a @ s, y[i].reshape(-1, 3), atol=1e-4)
        assert torch.allclose(torch.diagonal(s), torch.ones(3), atol=1e-4)
        off = s[~torch.eye(3, dtype=torch.bool)]
        assert off.abs().max() <= 1 + 1e-4 and off.abs().max() > 0.05
    z = pose_shear(2 * x + 1 * 0, torch.Generator().manual_seed(1))
    assert torch.allclose(z, 2 * y, atol=1e-5)  # linear: the same draw scales with the input


def test_joint_jitter_moves_exactly_the_chosen_joints_the_same_way_at_every_frame():
    x = _x()
    y, mask = joint_jitter(x, torch.Generator().manual_seed(2), joints=15, return_mask=True)
    assert y.shape == x.shape and (mask.sum(1) == 15).all()
    assert torch.equal(y[~mask[:, None, :].expand(-1, x.shape[1], -1)], x[~mask[:, None, :].expand(-1, x.shape[1], -1)])
    assert (y != x).any(-1)[mask[:, None, :].expand(-1, x.shape[1], -1)].float().mean() > 0.99
    for i in range(len(x)):  # one matrix for all moved joints and frames
        a, b = x[i][:, mask[i]].reshape(-1, 3), y[i][:, mask[i]].reshape(-1, 3)
        m = torch.linalg.lstsq(a, b).solution
        assert torch.allclose(a @ m, b, atol=1e-4) and m.abs().max() <= 1 + 1e-4


def test_temporal_crop_resize_keeps_the_first_and_last_frame_of_its_crop():
    x = _x(t=80)
    y, (start, crop) = temporal_crop_resize(x, torch.Generator().manual_seed(3), length=64, l_min=0.1,
                                            return_crop=True)
    assert y.shape == (8, 64, 25, 3)
    assert (crop >= 8).all() and (crop <= 80).all() and (start + crop <= 80).all() and len(set(crop.tolist())) > 1
    rows = torch.arange(8)
    assert torch.allclose(y[:, 0], x[rows, start], atol=1e-5)
    assert torch.allclose(y[:, -1], x[rows, start + crop - 1], atol=1e-5)
    ramp = torch.arange(80.0)[None, :, None, None].expand(1, 80, 25, 3)  # linear in time stays linear
    r, (s, c) = temporal_crop_resize(ramp, torch.Generator().manual_seed(4), length=64, return_crop=True)
    expect = s.float() + torch.linspace(0, 1, 64) * (c.float() - 1)
    assert torch.allclose(r[0, :, 0, 0], expect, atol=1e-4)


def test_spatio_temporal_composes_and_is_deterministic_from_the_generator():
    x = _x(t=70)
    a = spatio_temporal(x, torch.Generator().manual_seed(5), length=64)
    b = spatio_temporal(x, torch.Generator().manual_seed(5), length=64)
    c = spatio_temporal(x, torch.Generator().manual_seed(6), length=64)
    assert a.shape == (8, 64, 25, 3) and torch.equal(a, b) and not torch.equal(a, c)


def test_queue_enqueues_in_order_and_wraps_around():
    q = Queue(dim=4, size=10, generator=torch.Generator().manual_seed(0))
    first = F.normalize(torch.randn(6, 4), dim=1)
    q.enqueue(first)
    assert torch.equal(q.keys[:6], first) and int(q.ptr) == 6
    second = F.normalize(torch.randn(6, 4), dim=1)
    q.enqueue(second)
    assert torch.equal(q.keys[6:], second[:4]) and torch.equal(q.keys[:2], second[4:]) and int(q.ptr) == 2
    assert torch.equal(q.keys[2:6], first[2:6])  # the oldest are replaced first


def test_momentum_update_and_info_nce():
    query, key = torch.nn.Linear(3, 2), torch.nn.Linear(3, 2)
    before = key.weight.clone()
    momentum_update(key, query, m=0.9)
    assert torch.allclose(key.weight, 0.9 * before + 0.1 * query.weight)
    q = F.normalize(torch.randn(16, 8), dim=1)
    negatives = F.normalize(torch.randn(100, 8), dim=1)
    matched = info_nce(q, q, negatives)
    shuffled = info_nce(q, q.roll(1, 0), negatives)
    assert matched < shuffled  # positives that agree give the lower loss
    # cross-contrast (ISC Eq. 6-8): the other representation's keys and queue are what the loss sees
    other_keys = F.normalize(torch.randn(16, 8), dim=1)
    assert not torch.isclose(info_nce(q, other_keys, negatives), matched)


def test_action_encoders_map_sequences_to_features_and_learn():
    import numpy as np

    from engine.models.action import SKELETON_JOINTS, graph_adjacency, make_encoder
    a = graph_adjacency()
    assert a.shape == (20, 20) and np.allclose(a, a.T)
    links = (a > 0) & ~np.eye(20, dtype=bool)
    assert links.sum() == 2 * 19  # a tree over the 20 joints: 19 bones
    head, spine_shoulder = SKELETON_JOINTS.index("Head"), SKELETON_JOINTS.index("SpineShoulder")
    assert links[head, spine_shoulder]  # bridged over the Neck that Kinect v1 lacks
    x = torch.randn(4, 64, 20, 3)
    for kind, kwargs in (("seq", {"hidden": 32}), ("graph", {"channels": (16, 32)}), ("image", {"width": 16, "dim": 64})):
        enc = make_encoder(kind, **kwargs)
        out = enc(x)
        assert out.shape == (4, enc.dim), kind
        out.pow(2).mean().backward()
        assert all(p.grad is not None for p in enc.parameters() if p.requires_grad), kind


def test_isc_cross_contrast_uses_the_other_representations_keys_and_queue(monkeypatch):
    import trainers.methods.isc as isc
    cfg = isc.ISCConfig(reps=("seq", "graph"), intra=True, inter=True, queue=32, proj=8, seq_hidden=8, frames=16)
    monkeypatch.setattr(isc, "encoder_kwargs", lambda c, kind: {"seq": {"hidden": 8}, "graph": {"channels": (8,)},
                                                                  "image": {"width": 8, "dim": 16}}[kind])
    model = isc.ISC(cfg)
    calls = []
    real = isc.info_nce
    monkeypatch.setattr(isc, "info_nce", lambda q, k, neg, t: calls.append((q, k, neg)) or real(q, k, neg, t))
    queues_before = {r: model.queues[r].keys.clone() for r in cfg.reps}
    terms = model.losses(torch.randn(4, 20, 20, 3), torch.Generator().manual_seed(0))
    assert set(terms) == {"intra_seq", "intra_graph", "inter_seq_graph", "inter_graph_seq"}
    by_name = dict(zip(terms, calls))
    keys_of = {r: model.queues[r].keys[:4] for r in cfg.reps}  # what each branch enqueued
    q_seq, k, neg = by_name["inter_seq_graph"]
    assert torch.equal(k, keys_of["graph"]) and torch.equal(neg, queues_before["graph"])
    q_graph, k, neg = by_name["inter_graph_seq"]
    assert torch.equal(k, keys_of["seq"]) and torch.equal(neg, queues_before["seq"])
    _, k, neg = by_name["intra_seq"]
    assert torch.equal(k, keys_of["seq"]) and torch.equal(neg, queues_before["seq"])
    sum(terms.values()).backward()
    assert all(p.grad is None for p in model.key.parameters())  # the key encoders only follow (EMA)


def test_shuffled_keys_come_back_in_the_batch_order():
    """Keys of a BatchNorm branch are computed in two halves of a shuffled batch (MoCo's shuffle
    BN): in eval mode (no batch statistics) they equal the plain forward, row for row; in
    training mode they differ (other statistics), yet stay unit vectors."""
    from trainers.methods.isc import ISC, ISCConfig
    torch.manual_seed(0)
    model = ISC(ISCConfig(reps=("graph",), inter=False, graph_channels=(8, 8), proj=16, queue=32))
    branch = model.key["graph"]
    x = torch.randn(10, 8, 20, 3)
    gen = torch.Generator().manual_seed(0)
    branch.eval()
    with torch.no_grad():
        assert torch.allclose(ISC._keys(branch, x, gen), branch(x), atol=1e-5)
        branch.train()
        keys = ISC._keys(branch, x, gen)
        assert not torch.allclose(keys, branch(x), atol=1e-3)
        assert torch.allclose(keys.norm(dim=1), torch.ones(10), atol=1e-5)


def test_sequence_encoder_segments_join_the_spans_of_the_clip():
    """``segments`` S: the BiGRU outputs averaged over S equal spans and joined ([N, S * 2H]);
    S = 1 is the plain mean over time. Rebuilt from a checkpoint's architecture the same."""
    import pytest

    from engine.models.action import encoder_from, make_encoder, with_motion
    torch.manual_seed(0)
    enc = make_encoder("seq", hidden=8, motion=True, segments=4).eval()
    x = torch.randn(3, 32, 20, 3)
    with torch.no_grad():
        out, _ = enc.gru(with_motion(x).flatten(2))
        f = enc(x)
    assert f.shape == (3, 64) and enc.dim == 64
    assert torch.allclose(f[:, :16], out[:, :8].mean(1)) and torch.allclose(f[:, 48:], out[:, 24:].mean(1))
    assert torch.allclose(f.reshape(3, 4, 16).mean(1), out.mean(1), atol=1e-6)  # equal spans: their mean is the plain mean
    again = encoder_from({"kind": "seq", "hidden": 8, "motion": True, "segments": 4})
    again.load_state_dict(enc.state_dict())
    with torch.no_grad():
        assert torch.equal(again.eval()(x), f)
    with pytest.raises(ValueError, match="segments"):
        make_encoder("seq", hidden=8, segments=0)
    with pytest.raises(ValueError, match="segments"):
        make_encoder("seq", hidden=8, segments=[1, 0])


def test_sequence_encoder_pyramid_joins_the_whole_clip_and_its_spans():
    """``segments`` [1, 4]: the whole-clip mean first, then the 4 span means ([N, 5 * 2H]); the
    same weights as a 4-span encoder give the same span block."""
    from engine.models.action import encoder_from, make_encoder
    torch.manual_seed(0)
    pyr = make_encoder("seq", hidden=8, motion=True, segments=[1, 4]).eval()
    spans = encoder_from({"kind": "seq", "hidden": 8, "motion": True, "segments": 4})
    whole = encoder_from({"kind": "seq", "hidden": 8, "motion": True})
    for other in (spans, whole):
        other.load_state_dict(pyr.state_dict())
        other.eval()
    x = torch.randn(3, 30, 20, 3)
    with torch.no_grad():
        f = pyr(x)
        assert f.shape == (3, 80) and pyr.dim == 80
        assert torch.equal(f[:, :16], whole(x)) and torch.equal(f[:, 16:], spans(x))
