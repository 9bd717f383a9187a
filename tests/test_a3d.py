"""A3D on skeletons (seed 001): the policy's log-probabilities and REINFORCE gradient on toy cases
with known answers, the value baseline leaving the expected gradient unbiased, glimpses inside the
feature map, masked joints unable to change the features, the triplet terms, the tracklet
protocol's split and ranks, and an A3D checkpoint in the live engine."""

import math

import numpy as np
import pytest
import torch

from engine.models.a3d import A3D, A3DConfig, GRID, glimpse_joints
from engine.models.sge_la import INPUT_JOINTS
from trainers.methods.a3d import A3DMethod, A3DMethodConfig, reinforce_terms, triplet_loss

SMALL = dict(channels=8, hidden=16)


def test_grid_is_a_permutation_of_the_model_joints():
    assert sorted(GRID) == sorted(INPUT_JOINTS)


def test_policy_log_probability_and_reinforce_gradient_match_the_closed_form():
    std = math.sqrt(0.03)
    mean = torch.tensor([[0.2, -0.4]], requires_grad=True)
    action = torch.tensor([[0.5, -0.1]])
    log_prob = torch.distributions.Normal(mean, std).log_prob(action).sum(-1)  # as `A3D.run` computes it
    closed = sum(-(a - m) ** 2 / (2 * std ** 2) - math.log(std * math.sqrt(2 * math.pi))
                 for a, m in zip([0.5, -0.1], [0.2, -0.4]))
    assert float(log_prob.detach()) == pytest.approx(closed, rel=1e-6)
    reward, baseline = torch.tensor([1.0]), torch.tensor([[0.25]])
    terms = reinforce_terms(log_prob[:, None], baseline, reward)
    terms["reinforce"].backward()
    # d/dm of -(R - b) log pi(a) = -(R - b)(a - m) / sigma^2
    expected = -(1.0 - 0.25) * (action - mean.detach()) / std ** 2
    assert torch.allclose(mean.grad, expected, rtol=1e-5)
    assert float(terms["value"]) == pytest.approx((0.25 - 1.0) ** 2)


def test_reinforce_teaches_the_agent_where_the_reward_is():
    """A toy with a known answer: reward 1 when the second glimpse lands in the right half of the
    joint grid. Trained by REINFORCE alone (with its value baseline), the agent's mean location
    moves right, and at test time (the policy's mean) its glimpses are there."""
    torch.manual_seed(0)
    net = A3D(A3DConfig(glimpses=2, **SMALL))
    value = torch.nn.Linear(16, 1)
    opt = torch.optim.Adam(list(net.parameters()) + list(value.parameters()), 1e-2)
    x = torch.randn(64, 6, 20, 3) * 0.2
    gen = torch.Generator().manual_seed(1)
    right = net.pool_size()[1] // 2
    for _ in range(150):
        out = net.run(x, sample=True, generator=gen)
        reward = (out["starts"][:, 1, 1] >= right).float()
        terms = reinforce_terms(out["log_prob"], value(out["hidden"].detach()).squeeze(-1), reward)
        opt.zero_grad()
        (terms["reinforce"] + terms["value"]).backward()
        opt.step()
    net.eval()
    starts = net.encode(x)["glimpses"]
    assert (starts[:, 1, 1] >= right).float().mean() > 0.95


def test_value_baseline_leaves_the_expected_gradient_unbiased():
    """Monte Carlo on a one-step Gaussian policy with reward 1[a > 0]: the REINFORCE estimate of
    dE[R]/dm is phi(m / sigma) / sigma with or without a baseline (a constant, or one depending on
    the state but not on the action), and the baseline near E[R] lowers the variance."""
    std, m0, n = math.sqrt(0.03), 0.1, 400_000
    gen = torch.Generator().manual_seed(0)
    truth = math.exp(-0.5 * (m0 / std) ** 2) / math.sqrt(2 * math.pi) / std
    estimates, spreads = {}, {}
    state = torch.rand(n, generator=gen)  # a state the baseline may read; the action does not depend on it
    for name, base in (("none", torch.zeros(n)), ("constant", torch.full((n,), 0.7)),
                       ("state", 0.5 + 0.4 * state)):
        mean = torch.tensor(m0, requires_grad=True)
        action = (mean + std * torch.randn(n, generator=gen)).detach()
        log_prob = torch.distributions.Normal(mean.expand(n), std).log_prob(action)
        reward = (action > 0).float()
        per_sample = (action - m0) / std ** 2 * (reward - base)  # grad log pi * (R - b)
        reinforce_terms(log_prob[:, None], base[:, None], reward)["reinforce"].backward()
        estimates[name] = -float(mean.grad)  # the term is minimised: its gradient is minus the estimate
        spreads[name] = float(per_sample.std())
        assert estimates[name] == pytest.approx(float(per_sample.mean()), rel=1e-3)
        assert abs(estimates[name] - truth) < 4 * spreads[name] / math.sqrt(n), name
    assert spreads["constant"] < spreads["none"]


def test_glimpses_stay_inside_the_feature_map():
    cfg = A3DConfig(glimpses=4, bin_frames=3, bin_joints=6, **SMALL)
    net = A3D(cfg)
    nt, nj = net.pool_size()
    loc = torch.tensor([[-1.0, -1.0], [1.0, 1.0], [-7.0, 9.0], [0.0, 0.0]])
    start, centre = net.quantise(loc)
    assert start.tolist() == [[0, 0], [nt - 1, nj - 1], [0, nj - 1], [round((nt - 1) / 2), round((nj - 1) / 2)]]
    assert (centre.abs() <= 1).all()
    with torch.no_grad():  # a policy pushed far out, sampled with its noise
        net.fa.bias.fill_(50.0)
        out = net.run(torch.randn(32, 6, 20, 3), sample=True, generator=torch.Generator().manual_seed(0))
    s = out["starts"]
    assert ((s[..., 0] >= 0) & (s[..., 0] <= nt - 1) & (s[..., 1] >= 0) & (s[..., 1] <= nj - 1)).all()
    cover = net.glimpse_map(s)
    assert cover.shape == (32, 6, 20) and float(cover.max()) <= 1.0
    # each glimpse covers exactly its bin: bin_frames x bin_joints cells, averaged over T
    assert torch.allclose(cover.sum((1, 2)), torch.full((32,), float(cfg.bin_frames * cfg.bin_joints)))
    frames, joints = glimpse_joints(cfg, tuple(s[0, -1].tolist()))
    assert len(frames) == 3 and len(joints) == 6 and max(frames) < 6


@pytest.mark.parametrize("attention", ["rl", "none", "random"])
def test_features_have_the_declared_size_and_repeat(attention):
    cfg = A3DConfig(attention=attention, **SMALL)
    net = A3D(cfg).eval()
    x = torch.randn(5, 6, 20, 3)
    a, b = net.encode(x), net.encode(x[:2])
    assert a["sequence"].shape == (5, cfg.dim) and a["attention"].shape == (1, 5, 6, 20)
    assert torch.allclose(a["sequence"][:2], b["sequence"], atol=1e-5)  # whatever else is in the batch


@pytest.mark.realdata
def test_masked_joints_cannot_change_the_features(kgbd_root):
    """A real KGBD walk with the joints an OpenNI sensor lacks marked missing: whatever their
    stored coordinates, the windows and so the features are the same."""
    from engine.datasets import open_dataset
    from engine.missing import SENSOR_JOINTS
    from engine.models.sge_la import prepare_windows
    from engine.skeleton import KINECT_V2, to_canonical
    ds = open_dataset(kgbd_root)
    seq = ds.read(ds.items[0].path)
    joints, conf, _ = to_canonical(seq.joints, seq.confidence, seq.layout)
    layout = KINECT_V2  # the canonical joints
    lost = [k for k, name in enumerate(layout.joints) if name not in SENSOR_JOINTS["openni15"]]
    conf = conf.copy()
    conf[:, lost] = 0
    torch.manual_seed(0)
    net = A3D(A3DConfig(**SMALL)).eval()
    feats = []
    for fill in (0.0, 1e3, np.nan):
        j = joints.copy()
        j[:, lost] = fill
        w = prepare_windows(j, conf, layout, 6, upright=True, shared_joints=True)
        feats.append(net.encode(torch.from_numpy(w))["sequence"])
    assert torch.isfinite(feats[0]).all()
    assert torch.equal(feats[0], feats[1]) and torch.equal(feats[0], feats[2])


def test_triplet_terms_on_a_hand_case():
    f = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.0, 1.0]])
    y = torch.tensor([0, 0, 1, 1])
    assert float(triplet_loss(f, y, 0.3, "all")) == 0 and float(triplet_loss(f, y, 0.3, "hard")) == 0
    # sample 1 (person 0) sits on person 1's point (squared distances 0 or 2)
    f2 = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.0, 1.0], [0.0, 1.0]])
    hard = float(triplet_loss(f2, y, 0.3, "hard"))
    # anchor 0: positive 2, negatives 2 -> 0.3; anchor 1: positive 2, negative 0 -> 2.3;
    # anchors 2 and 3: positive 0, hardest negative (sample 1) 0 -> 0.3 each
    assert hard == pytest.approx((0.3 + 2.3 + 0.3 + 0.3) / 4)
    assert float(triplet_loss(f2, y, 0.3, "all")) > 0


def test_method_losses_and_ablation_switches():
    torch.manual_seed(0)
    x, y = torch.randn(8, 6, 20, 3), torch.arange(4).repeat_interleave(2)
    full = A3DMethod(A3DMethodConfig(classes=4, **SMALL))(x, None, y)
    assert set(full) == {"ce", "triplet", "reinforce", "value"}
    assert set(A3DMethod(A3DMethodConfig(classes=4, reinforce=False, **SMALL))(x, None, y)) == {"ce", "triplet", "value"}
    assert set(A3DMethod(A3DMethodConfig(classes=4, attention="none", **SMALL))(x, None, y)) == {"ce", "triplet"}
    assert set(A3DMethod(A3DMethodConfig(classes=4, glimpses=1, **SMALL))(x, None, y)) == {"ce", "triplet"}
    with pytest.raises(ValueError, match="labels"):
        A3DMethod(A3DMethodConfig(classes=4, **SMALL))(x, None, None)
    with pytest.raises(ValueError, match="classes"):
        A3DMethod(A3DMethodConfig(**SMALL))


def test_tracklet_split_and_item_ranks():
    from trainers.evaluate.metrics import item_ranks
    from trainers.gait_data import Walks, tracklet_split
    persons = ["a"] * 5 + ["b"] * 3 + ["c"] * 2
    walks = Walks(np.zeros((10, 6, 20, 3), np.float32), np.arange(10), persons, [f"{p}/{i}" for i, p in enumerate(persons)])
    train, gallery, probe = tracklet_split(walks, 0)
    assert sorted(train + gallery + probe) == list(range(10))
    assert len(set(train) | set(gallery) | set(probe)) == 10
    by = lambda ids: sorted(persons[w] for w in ids)  # noqa: E731
    assert by(gallery) == ["a", "a", "b", "b"] and by(probe) == ["a", "b"]
    assert by(train) == ["a", "a", "c", "c"]  # c has too few walks for the protocol
    # ranks over gallery items: probe 0 (a) finds an "a" item second, probe 1 (b) first
    scores = np.array([[0.9, 0.8, 0.1], [0.2, 0.1, 0.95]])
    r = item_ranks(scores, np.array(["a", "b"]), np.array(["b", "a", "b"]), ks=(1, 2))
    assert r["rank1"] == 50 and r["rank2"] == 100 and r["probes"] == 2
    assert r["map"] == pytest.approx(100 * (0.5 + 1.0) / 2)


@pytest.mark.realdata
def test_an_a3d_checkpoint_is_the_engines_gait_model(kgbd_root, tmp_path):
    """A small A3D trained through the one trainer on KGBD, loaded by `load_gait` and run live:
    every result carries the glimpse map [1, 6, 20] and the glimpses' frames and joints, and the
    enrolled person's walk is scored against the gallery."""
    import time

    from engine.checkpoint import load_gait
    from engine.datasets import open_dataset
    from engine.embed import gait_embedding
    from engine.gallery import Enrollment, Gallery
    from engine.wire import decode_result
    from trainers.run import main as run_main
    from conftest import REPO, live_engine
    run_main(["a3d", "--config", str(REPO / "trainers/configs/a3d_kgbd.yaml"), f"data_root={kgbd_root}",
              "limit_people=8", "batch=8", "clips=2", "channels=16", "hidden=16", "glimpses=3", "epochs=1",
              "steps_per_epoch=3", "device=cpu", f"out={tmp_path / 'a3d'}"])
    model, meta = load_gait(tmp_path / "a3d" / "best")
    assert meta["method"] == "a3d" and model.config.glimpses == 3
    from engine.server import Engine, EngineConfig
    with pytest.raises(ValueError, match="no calibrated open-set threshold"):  # said at start, not mid-stream
        Engine(EngineConfig(checkpoint=str(tmp_path / "a3d" / "best"), action=False))
    ds = open_dataset(kgbd_root)
    walks = [it.path for it in ds.items if it.meta["subject"] == ds.items[0].meta["subject"]]
    with Gallery(tmp_path / "g.db") as g:
        g.enroll("P1", [Enrollment(gait_embedding(model, meta, ds.read(w))[0], str(w)) for w in walks[:-1]],
                 meta["name"], meta["fingerprint"])
    rows = []
    with live_engine(tmp_path, [walks[-1]], 4.0, (b"result/",), action=False,
                     checkpoint=str(tmp_path / "a3d" / "best"), threshold=0.5) as (sub, sender):
        deadline = time.time() + 60
        while time.time() < deadline and (sender.is_alive() or sub.poll(500)) and len(rows) < 20:
            if sub.poll(200):
                header, att = decode_result(sub.recv_multipart())
                assert att.shape[1:] == (1, 6, 20) and np.isfinite(att).all()
                assert np.allclose(att.sum((1, 2, 3)), model.config.bin_frames * model.config.bin_joints)
                rows += header["tracks"]
    assert rows, "no results"
    for r in rows:
        assert len(r["glimpses"]) == 3 and all(set(g["joints"]) <= set(INPUT_JOINTS) for g in r["glimpses"])
        assert np.isfinite(r["score"]) and r["top"][0][0] == "P1"


def test_stgcn_backbone_starts_from_a_self_supervised_st_gcn(tmp_path):
    """backbone=stgcn: both streams take the input norm and first units of a skeleton-BYOL ST-GCN
    checkpoint (init=), and the rest of A3D is untouched by it."""
    from engine import checkpoint
    from engine.models.action import STGCNEncoder
    torch.manual_seed(0)
    encoder = STGCNEncoder(INPUT_JOINTS, 0.25)
    for p in encoder.parameters():
        p.data.normal_()
    checkpoint.save(tmp_path / "byol", encoder, {"method": "byol", "architecture": {"kind": "stgcn", "width": 0.25}})
    method = A3DMethod(A3DMethodConfig(classes=3, backbone="stgcn", **SMALL))
    before = method.model.high[0].weight.clone()
    method.init_from(str(tmp_path / "byol"))
    for stream in (method.model.coords, method.model.motion):
        got = stream.gcn.blocks[3].state_dict()
        assert all(torch.equal(got[k], v) for k, v in encoder.blocks[3].state_dict().items())
        assert torch.equal(stream.gcn.norm.weight, encoder.norm.weight) and len(stream.gcn.blocks) == 4
    assert torch.equal(method.model.high[0].weight, before)
    x, y = torch.randn(6, 6, 20, 3), torch.tensor([0, 0, 1, 1, 2, 2])
    assert torch.isfinite(sum(method(x, None, y).values()))
    with pytest.raises(ValueError, match="backbone=stgcn"):
        A3DMethod(A3DMethodConfig(classes=3, **SMALL)).init_from(str(tmp_path / "byol"))


def test_validation_split_leaves_everyone_a_walk_to_fit_on():
    from trainers.gait_data import Walks, validation_split
    persons = [p for p in "abcdefghij" for _ in range(2)]
    walks = Walks(np.zeros((0, 6, 20, 3), np.float32), np.zeros(0, int), persons, [str(i) for i in range(20)])
    for seed in range(20):
        fit, val = validation_split(walks, seed, fraction=0.5)
        assert len(val) == 10 and {persons[w] for w in fit} == set(persons)
