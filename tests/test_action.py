"""Action embeddings: the encoders' input view, checkpoints, prototypes, `skelstream embed --kind
action`, `skelstream prototypes`, and a short ISC run writing a checkpoint the engine loads."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from engine.checkpoint import DEFAULT_ACTION, DEFAULT_PROTOTYPES, load_action, load_prototypes, save
from engine.cli import main as cli
from engine.models.action import action_view, make_encoder
from engine.skeleton import INDEX, rotation_y
from trainers.prototypes import build, nearest


def _body(t=40, seed=0):
    """A canonical 25-joint body moving its arms, facing -z, feet on the floor."""
    rng = np.random.default_rng(seed)
    base = rng.normal(0, 0.15, (25, 3))
    base[:, 1] += 1.0
    base[INDEX["SpineBase"]] = [0, 1.0, 0]
    base[INDEX["SpineShoulder"]] = [0, 1.5, 0]
    base[INDEX["HipLeft"]], base[INDEX["HipRight"]] = [-0.1, 1.0, 0], [0.1, 1.0, 0]
    base[INDEX["ShoulderLeft"]], base[INDEX["ShoulderRight"]] = [-0.2, 1.45, 0], [0.2, 1.45, 0]
    j = np.repeat(base[None], t, 0)
    j[:, INDEX["HandRight"], 1] += np.sin(np.linspace(0, 3, t)) * 0.3
    return j.astype(np.float32)


def test_action_view_removes_the_cameras_position_yaw_and_tilt():
    j = _body()
    c = np.ones(j.shape[:2], np.float32)
    ref = action_view(j, c)
    assert ref.shape == (40, 20, 3)
    assert np.allclose(ref[0, 0], 0, atol=1e-6)  # first frame's SpineBase at the origin
    tilt = np.array([[1, 0, 0], [0, np.cos(0.3), -np.sin(0.3)], [0, np.sin(0.3), np.cos(0.3)]])
    seen = (j @ rotation_y(1.1).T @ tilt.T + [0.7, -0.2, 3.0]).astype(np.float32)  # another camera
    assert np.allclose(action_view(seen, c), ref, atol=1e-4)
    moved = j.copy()
    moved[:, INDEX["HandRight"], 0] += 0.2  # a real change of pose is kept
    assert not np.allclose(action_view(moved, c), ref, atol=1e-2)


def test_prototypes_are_the_labelled_clips_or_their_cluster_centres():
    rng = np.random.default_rng(0)
    centres = np.eye(3, 8)
    labels = np.repeat(np.arange(3), 10)
    emb = centres[labels] + rng.normal(0, 0.1, (30, 8))
    every, owner = build(emb, labels, ["a", "b", "c"])
    assert every.shape == (30, 8) and owner.tolist() == labels.tolist()
    assert np.allclose(np.linalg.norm(every, axis=1), 1, atol=1e-5)
    means, owner = build(emb, labels, ["a", "b", "c"], per_action=1)
    assert means.shape == (3, 8) and owner.tolist() == [0, 1, 2]
    assert np.allclose(means[1], emb[10:20].mean(0) / np.linalg.norm(emb[10:20].mean(0)), atol=0.02)
    two, owner = build(emb, labels, ["a", "b", "c"], per_action=2)
    assert two.shape == (6, 8) and owner.tolist() == [0, 0, 1, 1, 2, 2]
    for protos, lab in ((every, labels), (means, np.arange(3))):
        action, score = nearest(centres + 0.05, protos, lab)
        assert action.tolist() == [0, 1, 2] and (score > 0.8).all()
    with pytest.raises(ValueError, match="no clip of action"):
        build(emb, labels, ["a", "b", "c", "d"])


def test_motion_input_is_each_joints_step_since_the_previous_frame():
    from engine.models.action import MOTION_SCALE, with_motion
    x = torch.randn(2, 5, 20, 3)
    m = with_motion(x)
    assert m.shape == (2, 5, 20, 6) and torch.equal(m[..., :3], x)
    assert torch.equal(m[:, 0, :, 3:], torch.zeros(2, 20, 3))
    assert torch.allclose(m[:, 3, :, 3:], (x[:, 3] - x[:, 2]) * MOTION_SCALE)
    still = with_motion(x[:, :1].expand(2, 5, 20, 3))
    assert still[..., 3:].abs().max() == 0  # a pose held still has no motion


def test_action_checkpoint_roundtrip_and_mismatched_prototypes_are_refused(tmp_path):
    enc = make_encoder("seq", hidden=16, motion=True)
    meta = {"method": "isc", "architecture": {"kind": "seq", "hidden": 16, "motion": True},
            "input": {"frames": 12, "seconds": 1.0}, "embedding": {"dim": enc.dim}}
    base = save(tmp_path / "tiny", enc, meta)
    model, got = load_action(base)
    x = torch.randn(3, 12, 20, 3)
    with torch.no_grad():
        assert torch.allclose(model(x), enc.eval()(x), atol=1e-6)
    from safetensors.torch import save_file
    save_file({"prototypes": torch.randn(2, enc.dim), "labels": torch.tensor([0, 1], dtype=torch.int32)},
              str(tmp_path / "p.safetensors"),
              metadata={"names": json.dumps(["a", "b"]), "fingerprint": "0" * 16})
    with pytest.raises(ValueError, match="rebuild it"):
        load_prototypes(tmp_path / "p.safetensors", got["fingerprint"])
    with pytest.raises(ValueError, match="not an action encoder"):
        load_action(save(tmp_path / "gait", enc, meta | {"method": "sge_la"}))


def test_an_encoder_fused_with_the_raw_trajectory_mixes_the_two_cosines_by_its_weight(tmp_path):
    enc = make_encoder("seq", hidden=16, motion=True)
    arch = {"kind": "seq", "hidden": 16, "motion": True}
    meta = {"method": "isc", "architecture": arch, "input": {"frames": 12, "seconds": 1.0},
            "embedding": {"dim": enc.dim}}
    plain_base = save(tmp_path / "plain", enc, meta)
    fused_meta = dict(meta, architecture=dict(arch, raw={"weight": 0.25, "size": 12 * 20 * 3}))
    fused_base = tmp_path / "fused"
    (fused_base.with_suffix(".json")).write_text(json.dumps(fused_meta))
    (fused_base.with_suffix(".safetensors")).write_bytes(plain_base.with_suffix(".safetensors").read_bytes())
    plain, pm = load_action(plain_base)
    fused, fm = load_action(fused_base)  # the same weights file: loaded into the inner encoder
    assert fm["fingerprint"] == pm["fingerprint"] + "-raw0.25x720"  # other embeddings: prototypes and caches do not mix
    spans = json.loads(fused_base.with_suffix(".json").read_text())
    spans["architecture"]["segments"] = [1, 4]
    fused_base.with_suffix(".json").write_text(json.dumps(spans))
    assert load_action(fused_base)[1]["fingerprint"] == pm["fingerprint"] + "-seg1+4-raw0.25x720"
    fused_base.with_suffix(".json").write_text(json.dumps(fused_meta))
    x = torch.randn(2, 12, 20, 3)
    with torch.no_grad():
        f, p = fused(x), plain(x)
    assert f.shape == (2, enc.dim + 720) and torch.allclose(f.norm(dim=1), torch.ones(2), atol=1e-5)
    cos = lambda a: torch.nn.functional.cosine_similarity(a[0], a[1], dim=0)
    want = 0.25 * cos(p) + 0.75 * cos(x.flatten(1))
    assert torch.allclose(f[0] @ f[1], want, atol=1e-5)
    with pytest.raises(ValueError, match="raw.size 720"):
        fused(torch.randn(1, 10, 20, 3))
    from engine.models.action import encoder_from
    for bad in ({"weight": 0.25}, {"weight": 1.5, "size": 720}, {"weight": "a", "size": 720}, [0.25, 720]):
        with pytest.raises(ValueError, match="architecture.raw"):
            encoder_from(dict(arch, raw=bad))


def test_compressed_prototypes_score_a_window_as_the_full_ones_within_the_basis():
    from engine.embed import ActionLabels, unit
    from trainers.prototypes import compress
    rng = np.random.default_rng(0)
    full = unit(rng.normal(size=(60, 5)) @ rng.normal(size=(5, 40))).astype(np.float32)  # rank 5
    labels, names = np.repeat(np.arange(6), 10), [str(i) for i in range(6)]
    small, basis = compress(full, 5)
    assert small.shape == (60, 5) and basis.shape == (40, 5)
    q = full[::7] + 0.0  # queries inside the prototypes' span: exact
    want = ActionLabels(names, full, labels).scores(q)
    assert np.allclose(ActionLabels(names, small, labels, basis).scores(q), want, atol=1e-5)
    assert np.array_equal(nearest(q, small, labels, basis)[0], nearest(q, full, labels)[0])
    few, cut = compress(full, 2)  # fewer directions than the rank: scores change
    assert not np.allclose(ActionLabels(names, few, labels, cut).scores(q), want, atol=1e-3)
    with pytest.raises(ValueError, match="compress"):
        compress(full, 40)


def test_bundled_action_checkpoint_and_prototypes_fit_together():
    model, meta = load_action()
    names, protos, labels, info = load_prototypes(DEFAULT_PROTOTYPES, meta["fingerprint"])
    # NW-UCLA's 10 actions and KARD's 18, "sit down" and "stand up" in both: 26 names
    assert len(names) == 26 and {"walk", "walk around", "sit down", "two hand wave", "drink"} <= set(names)
    basis = info["basis"]  # the default is fused with the raw trajectory: stored projected on 512 directions
    assert basis is not None and basis.shape == (meta["embedding"]["dim"], 512) and protos.shape[1] == 512
    assert meta["embedding"]["dim"] == model.dim > meta["architecture"]["raw"]["size"]
    assert info["dataset"] == "nwucla,kard" and info["windows"] == "live"
    assert np.bincount(labels, minlength=len(names)).min() > 20
    assert (DEFAULT_ACTION.with_suffix(".md")).is_file()  # the model card


def test_the_demo_walkers_are_labelled_walking():
    """The bundled demo recording's five synthetic walkers, cut into the engine's live windows
    (1 s every 0.5 s) and named by the bundled prototypes: most windows are a walking action."""
    from pathlib import Path

    from engine.embed import action_windows, unit
    from engine.recording import Recording
    from engine.skeleton import to_canonical
    model, meta = load_action()
    names, protos, labels, info = load_prototypes(DEFAULT_PROTOTYPES, meta["fingerprint"])
    recording = Path(__file__).resolve().parents[1] / "recordings" / "demo_walk.mcap"
    for seq in Recording(recording).sequences():
        j, c, _ = to_canonical(seq.joints, seq.confidence, seq.layout)
        with torch.no_grad():
            emb = unit(model(torch.from_numpy(action_windows(j, c, seq.fps, meta))).numpy())
        got = [names[i] for i in nearest(emb, protos, labels, info["basis"])[0]]
        walking = sum(g in ("walk", "walk around") for g in got) / len(got)
        assert walking > 0.6, (seq.meta, walking, sorted(set(got)))


@pytest.mark.realdata
def test_embed_action_and_prototypes_on_nwucla(nwucla_root, tmp_path, capsys):
    """`skelstream prototypes --split train` on NW-UCLA's training views names the test view's
    clips far above chance (10 actions); `skelstream embed --kind action` gives clip embeddings
    whose nearest prototype is mostly the clip's action."""
    out = tmp_path / "p.safetensors"
    assert cli(["prototypes", "--dataset", "nwucla", "--split", "train", "--windows", "clip", "-o", str(out)]) in (0, None)
    acc = float(load_prototypes(out)[3]["test_accuracy"])
    assert acc > 60, acc
    from engine.datasets import open_dataset
    ds = open_dataset(nwucla_root)
    clips = [it for it in ds.items if it.meta["view"] == "v03"][::40][:10]
    emb_file = tmp_path / "e.npz"
    assert cli(["embed", "--kind", "action", *[str(it.path) for it in clips], "-o", str(emb_file)]) in (0, None)
    e = np.load(emb_file)
    assert e["embeddings"].shape[0] == len(clips) and str(e["kind"]) == "action"
    names, protos, labels, info = load_prototypes(out)
    action, _ = nearest(e["embeddings"], protos, labels, info["basis"])
    from trainers.action_data import NWUCLA_NAMES
    right = sum(names[a] == NWUCLA_NAMES[it.meta["action"]] for a, it in zip(action, clips))
    assert right >= 5, right


@pytest.mark.realdata
def test_a_short_isc_run_writes_checkpoints_the_engine_can_load(nwucla_root, tmp_path):
    from trainers.run import main as run
    config = Path(__file__).resolve().parents[1] / "trainers/configs/isc_nwucla.yaml"
    metrics = run(["isc", "--config", str(config), f"data_root={nwucla_root}", f"out={tmp_path}",
                   "epochs=1", "reps=seq,image", "seq_hidden=32", "frames=16", "queue=128"])
    assert set(metrics["validation"]) == {"seq", "image"}
    assert metrics["history"][0]["train_intra_seq"] > 0 and metrics["history"][0]["sequences_per_s"] > 0
    for rep in ("seq", "image"):
        model, m = load_action(tmp_path / rep)
        assert m["architecture"]["kind"] == rep and m["input"]["frames"] == 16
        assert 0 <= m["metrics"]["validation"]["nwucla"]["linear"] <= 100
        assert "trainers/run.py isc" in m["training"]["command"] and m["training"]["datasets"]["nwucla"]["test_clips_left_out"] == 464
        with torch.no_grad():
            assert model(torch.zeros(2, 16, 20, 3)).shape == (2, model.dim)


def test_action_labels_take_each_actions_best_prototype_and_average_a_tracks_last_windows():
    """`ActionLabels`: one window's label is its nearest prototype's action (today's rule, K = 1);
    over several windows the action with the best mean score wins, so one stray window is outvoted."""
    from collections import deque

    from engine.embed import ActionLabels
    rng = np.random.default_rng(0)
    names = ["walk", "sit down", "wave"]
    protos = rng.standard_normal((30, 8)).astype(np.float32)
    protos /= np.linalg.norm(protos, axis=1, keepdims=True)
    labels = rng.integers(0, 3, 30)
    lab = ActionLabels(names, protos, labels)
    emb = rng.standard_normal((50, 8)).astype(np.float32)
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    s = lab.scores(emb)
    assert s.shape == (50, 3)
    for a in range(3):  # per action, its best prototype
        np.testing.assert_allclose(s[:, a], (emb @ protos[labels == a].T).max(1), rtol=1e-6)
    nearest = labels[(emb @ protos.T).argmax(1)]
    assert [lab.label(s[i:i + 1])[0] for i in range(50)] == [names[a] for a in nearest]
    # two walking windows and one stray "wave": the track stays "walk"; the score is the mean
    walk, wave = np.array([0.9, 0.2, 0.5]), np.array([0.6, 0.1, 0.7])
    history = deque([walk, walk], maxlen=3)
    history.append(wave)
    name, score = lab.label(history)
    assert name == "walk" and score == pytest.approx(0.8)
    assert lab.label([wave])[0] == "wave"
    # an action with no prototype in the file is never named
    lab2 = ActionLabels(names, protos[labels != 1], labels[labels != 1])
    assert "sit down" not in {lab2.label(r[None])[0] for r in lab2.scores(emb)}


@pytest.mark.realdata
def test_the_engine_labels_live_tracks_as_the_offline_windows_do(nwucla_root, tmp_path):
    """Six NW-UCLA clips (view 3, over 1.5 s, six actions) replayed at once as six tracks: every
    track gets action labels, and each label the engine publishes is one that the offline path
    (`action_windows`, every window ending on a frame) gives that clip."""
    import time

    from engine.datasets import open_dataset
    from engine.embed import action_windows, unit
    from engine.skeleton import to_canonical
    from engine.wire import decode_result
    from conftest import live_engine

    ds = open_dataset(nwucla_root)
    clips, seen = [], set()
    for it in ds.items:
        if it.meta["view"] == "v03" and it.meta["action"] not in seen and len(ds.read(it.path)) >= 45:
            clips.append(it)
            seen.add(it.meta["action"])
        if len(clips) == 6:
            break
    model, meta = load_action()
    names, protos, labels, info = load_prototypes(DEFAULT_PROTOTYPES, meta["fingerprint"])
    offline = []
    for it in clips:
        seq = ds.read(it.path)
        j, c, _ = to_canonical(seq.joints, seq.confidence, seq.layout)
        with torch.no_grad():
            emb = unit(model(torch.from_numpy(action_windows(j, c, seq.fps, meta, hop=1 / seq.fps))).numpy())
        offline.append({names[i] for i in nearest(emb, protos, labels, info["basis"])[0]})
    labels = {i: [] for i in range(len(clips))}
    with live_engine(tmp_path, [it.path for it in clips], 1.0, action_smooth=1) as (sub, sender):  # each window's own label
        deadline = time.time() + 30
        while time.time() < deadline and (sender.is_alive() or sub.poll(500)):
            if sub.poll(200):
                header, _ = decode_result(sub.recv_multipart())
                for tr in header["tracks"]:
                    if "action" in tr:
                        labels[tr["track"]].append((tr["action"], tr["action_score"]))
    for i, it in enumerate(clips):
        got = {a for a, _ in labels[i]}
        assert got, f"no action label for track {i} ({it.path.name})"
        assert got <= offline[i], (it.path.name, got, offline[i])
        assert all(-1 <= s <= 1 for _, s in labels[i])


@pytest.mark.realdata
def test_eval_action_runs_every_protocol_and_draws_its_plots(msr_root, nwucla_root, tmp_path):
    """`skelstream eval action` on MSR Action3D (cross-subject, the 557 sequences) with a short
    fine-tuning: every protocol (supervised reference included) reports an accuracy, semi-supervised uses the asked fraction of
    the labels with every action present, transfer goes to NW-UCLA, and the plots exist."""
    from trainers.evaluate.action import evaluate, labelled_fraction
    from trainers.evaluate.action import format_result
    r = evaluate(None, "msr", ("knn", "linear", "semi", "finetune", "supervised"), fractions=(0.1,), epochs=2,
                 out=str(tmp_path), progress=False)
    assert (r["train"], r["test"]) == (284, 273)
    assert 100 / 20 < r["knn"] <= 100 and 100 / 20 < r["linear"] <= 100  # above chance (20 actions)
    semi = r["semi"][0]
    assert semi["labelled"] >= 20 and semi["labelled"] < 0.2 * 284
    assert 0 <= semi["pretrained"] <= 100 and 0 <= semi["random_init"] <= 100
    assert r["finetune"]["target"] == "nwucla" and r["finetune"]["test"] == 464
    assert 100 / 20 < r["raw_knn"] <= 100 and r["pretraining"] == ["nwucla"] and r["left_out"]
    assert 0 <= r["supervised"]["accuracy"] <= 100 and r["supervised"]["lr"] == 1e-3
    assert "supervised, same architecture" in format_result(r)
    assert json.loads((tmp_path / "summary.json").read_text())["linear"] == r["linear"]
    for name in ("confusion.png", "tsne.png"):
        assert (tmp_path / name).stat().st_size > 10_000
    labels = np.repeat(np.arange(4), [10, 20, 3, 1])
    keep = labelled_fraction(labels, 0.1)
    assert sorted(set(labels[keep])) == [0, 1, 2, 3] and len(keep) == 1 + 2 + 1 + 1


def test_throughput_bench_measures_the_three_ways(capsys):
    """`python -m trainers.bench_isc` (tiny model, two steps): figures for on-device,
    per-sample and no augmentation, and the augmentation time is counted where it happens."""
    from trainers.bench_isc import main as bench
    bench(["--steps", "2", "--warmup", "1", "--rounds", "1", "reps=seq,image", "seq_hidden=16", "batch=8", "frames=16", "queue=32"])
    out = capsys.readouterr().out
    assert all(m in out for m in ("on-device", "per-sample", "none"))
    from trainers.bench_isc import parse, run
    r = run(parse(["reps=seq", "seq_hidden=16", "batch=8", "frames=16", "queue=32"]), steps=2, warmup=1, rounds=1)
    assert all(r[m]["seq_per_s"] > 0 for m in ("on-device", "per-sample", "none"))
    assert r["none"]["augment_ms"] < r["per-sample"]["augment_ms"]


def test_model_card_lists_every_training_command_behind_a_checkpoint(tmp_path):
    """`trainers.export.made_by` follows ``init=`` back to the first runs: each command
    once, in the order they have to run."""
    from trainers.export import made_by
    enc = make_encoder("seq", hidden=8)

    def ckpt(name, init=""):
        return save(tmp_path / name, enc, {"method": "isc", "architecture": {"kind": "seq", "hidden": 8},
                                           "input": {"frames": 8, "seconds": 1.0}, "embedding": {"dim": enc.dim},
                                           "training": {"command": f"train {name}", "config": {"init": init}}})
    a, b = ckpt("a"), ckpt("b")
    c = ckpt("c", f"seq={a},graph={b}")
    d = ckpt("d", f"seq={c},graph={c}")
    from engine.checkpoint import read_meta
    assert made_by(read_meta(d)) == ["train a", "train b", "train c", "train d"]


@pytest.mark.parametrize("method,arch", [
    ("isc", {"kind": "seq", "hidden": 8, "motion": True, "segments": 2}),
    ("crrl", {"kind": "seq", "hidden": 8, "layers": 2, "dropout": 0.2}),
    ("byol", {"kind": "stgcn", "width": 0.125})])
def test_engine_takes_another_action_checkpoint_with_its_own_prototypes(method, arch, tmp_path):
    """``--action-checkpoint CKPT`` (any action method): the engine loads CKPT and the
    prototypes beside it (CKPT.prototypes.safetensors); without them it says which file is
    missing and how to make it, and prototypes of other weights are refused."""
    import zmq
    from safetensors.torch import save_file

    from engine.checkpoint import action_fingerprint, prototypes_for
    from engine.server import Engine, EngineConfig
    torch.manual_seed(0)
    enc = make_encoder(arch["kind"], **{k: v for k, v in arch.items() if k != "kind"}).eval()
    meta = {"method": method, "architecture": arch,
            "input": {"frames": 16, "seconds": 1.0}, "embedding": {"dim": enc.dim}, "training": {"dataset": "toy"}}
    ckpt = save(tmp_path / "mine", enc, meta)
    ep = {k: f"ipc://{tmp_path}/{k}.ipc" for k in ("frames", "results", "control")}
    cfg = EngineConfig(frames=[ep["frames"]], results=ep["results"], control=ep["control"],
                       gallery=str(tmp_path / "g.db"), action_checkpoint=str(ckpt), backend="torch")
    with pytest.raises(FileNotFoundError, match=r"mine\.prototypes\.safetensors.*skelstream prototypes --checkpoint"):
        Engine(cfg)
    save_file({"prototypes": torch.nn.functional.normalize(torch.randn(3, enc.dim), dim=1),
               "labels": torch.tensor([0, 1, 1], dtype=torch.int32)}, str(ckpt) + ".prototypes.safetensors",
              metadata={"names": json.dumps(["wave", "walk"]), "fingerprint": action_fingerprint(ckpt)})
    assert prototypes_for(ckpt) == Path(str(ckpt) + ".prototypes.safetensors")
    ctx = zmq.Context()
    engine = Engine(cfg, context=ctx)
    try:
        assert engine.action_names == ["wave", "walk"] and engine.action_frames == 16
        assert engine.status()["action_checkpoint"] == "mine"
        x = torch.randn(2, 16, 20, 3)
        torch.testing.assert_close(engine.action_model(x), enc(x))  # the weights of CKPT, as trained
    finally:
        engine.close()
        ctx.term()
    with pytest.raises(ValueError, match="rebuild it"):  # the bundled prototypes do not fit these weights
        Engine(EngineConfig(frames=[ep["frames"]], results=ep["results"], control=ep["control"],
                            gallery=str(tmp_path / "g.db"), action_checkpoint=str(ckpt),
                            prototypes=str(DEFAULT_PROTOTYPES), backend="torch"))
    narrow = tmp_path / "narrow.safetensors"  # the right weights' name on a file of another width: said at start
    save_file({"prototypes": torch.nn.functional.normalize(torch.randn(3, enc.dim - 1), dim=1),
               "labels": torch.tensor([0, 1, 1], dtype=torch.int32)}, str(narrow),
              metadata={"names": json.dumps(["wave", "walk"]), "fingerprint": action_fingerprint(ckpt)})
    with pytest.raises(ValueError, match=f"prototypes of {enc.dim - 1} values, the action checkpoint gives {enc.dim}"):
        Engine(EngineConfig(frames=[ep["frames"]], results=ep["results"], control=ep["control"],
                            gallery=str(tmp_path / "g.db"), action_checkpoint=str(ckpt),
                            prototypes=str(narrow), backend="torch"))


def test_isc_starts_from_the_bundled_fused_checkpoint_with_its_encoders_weights():
    """The bundled default is fused with the raw trajectory; ``init=`` takes its encoder's weights."""
    from engine.models.action import RawFused
    from trainers.methods.isc import ISC, ISCConfig
    bundled, _ = load_action()
    assert isinstance(bundled, RawFused)
    isc = ISC(ISCConfig(reps=("seq",), seq_hidden=128, seq_motion=True))
    isc.init_from(f"seq={DEFAULT_ACTION}")
    got, want = isc.query["seq"].encoder.state_dict(), bundled.inner.state_dict()
    assert got.keys() == want.keys() and all(torch.equal(got[k], want[k]) for k in want)
