"""The trainers framework on a small slice of real KGBD: loss falls, checkpoints, resume, DDP."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from engine.checkpoint import load_gait
from trainers import config
from trainers.methods.sge_la import SGELAConfig
from trainers.run import main as run_main
from conftest import REPO

pytestmark = pytest.mark.realdata

SMALL = ["limit_people=6", "batch=32", "method.hidden=32", "method.length=6", "val_fraction=0.2"]


def test_short_training_run_on_real_kgbd_loss_falls(kgbd_root, tmp_path):
    metrics = run_main(["sge_la", "--config", str(REPO / "trainers/configs/sge_la_kgbd.yaml"),
                        f"data_root={kgbd_root}", f"out={tmp_path}", "epochs=4", *SMALL])
    hist = metrics["history"]
    assert len(hist) == 4
    assert hist[-1]["train_rec"] < 0.6 * hist[0]["train_rec"]
    assert hist[-1]["val_loss"] < hist[0]["val_loss"]
    assert {"train_align", "train_contrast", "train_l2"} <= set(hist[0])
    assert json.loads((tmp_path / "metrics.json").read_text())["epochs"] == 4
    assert list((tmp_path / "tensorboard").iterdir())
    model, meta = load_gait(tmp_path / "best")
    assert meta["method"] == "sge_la" and meta["architecture"]["hidden"] == 32
    assert meta["training"]["held_out"] and "trainers/run.py sge_la" in meta["training"]["command"]
    out = model.encode(torch.zeros(2, 6, 20, 3))
    assert out["sequence"].shape == (2, 6 * 3 * 32)
    # resume continues from the last epoch instead of starting again
    metrics = run_main(["sge_la", "--config", str(REPO / "trainers/configs/sge_la_kgbd.yaml"), "--resume",
                        f"data_root={kgbd_root}", f"out={tmp_path}", "epochs=5", *SMALL])
    assert [h["epoch"] for h in metrics["history"]] == [1, 2, 3, 4, 5]


def test_ddp_two_cpu_processes(kgbd_root, tmp_path):
    env = dict(os.environ, OMP_NUM_THREADS="1")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", "29533",
           str(REPO / "trainers/run.py"), "sge_la", "--config", str(REPO / "trainers/configs/sge_la_kgbd.yaml"),
           f"data_root={kgbd_root}", f"out={tmp_path}", "epochs=1", "device=cpu", *SMALL]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["world_size"] == 2 and metrics["epochs"] == 1


def test_config_overrides_and_errors(tmp_path):
    cfg, method = config.load(str(REPO / "trainers/configs/sge_la_kgbd.yaml"),
                              ["epochs=3", "method.attention=bas", "method.lcl=false", "lr=1e-3"], SGELAConfig)
    assert (cfg.epochs, cfg.lr, method.attention, method.lcl, method.temperature) == (3, 1e-3, "bas", False, 0.5)
    with pytest.raises(ValueError, match=r"unknown key\(s\) \['epoch'\]"):
        config.load(None, ["epoch=3"], SGELAConfig)
    with pytest.raises(ValueError, match="attention must be one of"):
        config.load(None, ["method.attention=luong"], SGELAConfig)
    with pytest.raises(ValueError, match="not a boolean"):
        config.load(None, ["method.lcl=maybe"], SGELAConfig)
    with pytest.raises(ValueError, match="snapshots: a comma list of epochs"):
        config.load(None, ["snapshots=10,last"], SGELAConfig)
    assert config.load(None, ["snapshots=100, 200"], SGELAConfig)[0].snapshot_epochs == {100, 200}


def test_embed_command_and_export(kgbd_root, tmp_path):
    from engine.cli import main as cli
    from engine.datasets import read_kgbd, write_npz
    from engine.skeleton import rotation_y
    from trainers.export import main as export

    run_main(["sge_la", f"data_root={kgbd_root}", f"out={tmp_path / 'run'}", "epochs=1", *SMALL])
    export([str(tmp_path / "run" / "best"), "--out", str(tmp_path / "gait")])
    assert "SGE-LA" in (tmp_path / "gait.md").read_text()
    walk = kgbd_root / "Data" / "Person001" / "1.txt"
    seq = read_kgbd(walk)
    moved = seq.canonical()
    moved.joints = (np.einsum("ab,tjb->tja", rotation_y(2.0), moved.joints) + [1.5, 0.2, 0.7]).astype(np.float32)
    moved.joints[moved.confidence == 0] = 0
    write_npz(moved, tmp_path / "moved.npz")
    other = kgbd_root / "Data" / "Person002" / "1.txt"
    assert cli(["embed", "--checkpoint", str(tmp_path / "gait"), str(walk), str(tmp_path / "moved.npz"),
                str(other), "-o", str(tmp_path / "e.npz")]) == 0
    with np.load(tmp_path / "e.npz") as out:
        emb, files = out["embeddings"], list(out["files"])
        assert emb.shape == (3, 6 * 3 * 32) and files[0] == str(walk) and str(out["checkpoint"]) == "gait"
        np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1, rtol=1e-5)
        # the same walk seen from another sensor placement gives the same embedding
        assert emb[0] @ emb[1] > 0.999
        assert out["window_embeddings"].shape[0] == len(out["window_owner"])
    short = tmp_path / "short.npz"
    np.savez(short, joints=seq.joints[:3], joint_names=np.array(seq.layout.joints), fps=np.array(30.0))
    assert cli(["embed", "--checkpoint", str(tmp_path / "gait"), str(short), "-o", str(tmp_path / "s.npz")]) == 2


def test_reid_evaluation_end_to_end(kgbd_root, tmp_path):
    from trainers.evaluate.reid import evaluate

    run_main(["sge_la", f"data_root={kgbd_root}", f"out={tmp_path / 'run'}", "epochs=1", *SMALL])
    res = evaluate(str(tmp_path / "run" / "best"), rn_epochs=2, out_dir=str(tmp_path / "eval"))
    assert res["probe_walks"] == 6 and res["people"] == 6
    for scorer in ("matching", "recognition_ap", "recognition_sc"):
        assert res[scorer]["per_walk"]["probes"] == 6
        assert 0 <= res[scorer]["per_window"]["rank1"] <= res[scorer]["per_window"]["rank5"] <= 100
    assert res["matching"]["per_window"]["probes"] > 100
    assert res["bones"]["per_walk"]["probes"] == 6 and res["bones"]["per_window"]["probes"] > 100
    for name in ("reid.json", "cmc.png", "attention.png", "tsne.png"):
        assert (tmp_path / "eval" / name).stat().st_size > 1000
    # a checkpoint whose pretraining saw the probe walks is refused
    meta_path = tmp_path / "run" / "best.json"
    meta = json.loads(meta_path.read_text())
    meta["training"]["held_out"] = []
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(ValueError, match="saw some of the probe"):
        evaluate(str(tmp_path / "run" / "best"), recognition=False)


def test_tracklet_protocol_trains_without_gallery_or_probe_walks_and_ranks_tracklets(kgbd_root, tmp_path):
    """protocol=tracklets (TranSG's KGBD protocol): training never loads a gallery or probe walk;
    the evaluation ranks each probe tracklet against the gallery tracklets, with bone lengths
    beside it in the same run."""
    from trainers.evaluate.reid import evaluate
    from trainers.gait_data import load_walks, tracklet_split, walk_dataset
    run_main(["sge_la", f"data_root={kgbd_root}", f"out={tmp_path / 'run'}", "epochs=1", "protocol=tracklets", *SMALL])
    meta = json.loads((tmp_path / "run" / "best.json").read_text())
    walks = load_walks(walk_dataset("kgbd", str(kgbd_root), 6, False), 6, progress=False)
    train, gallery, probe = tracklet_split(walks, 0)
    assert set(meta["training"]["held_out"]) == {walks.walk_id[w] for w in gallery + probe}
    assert meta["training"]["train_walks"] == len(train)
    res = evaluate(str(tmp_path / "run" / "best"))
    assert res["probe_walks"] == 6 and res["gallery_walks"] == 12
    for scorer in ("tracklets", "bones"):
        r = res[scorer]["per_tracklet"]
        assert r["probes"] > 50 and 0 <= r["rank1"] <= r["rank5"] <= r["rank10"] <= 100 and 0 < r["map"] <= 100


def test_rev_rec_plus_joins_encoders_and_robust_input_ignores_tilt(kgbd_root, tmp_path):
    from trainers.evaluate import reid, robustness

    common = [f"data_root={kgbd_root}", "epochs=1", *SMALL]
    run_main(["sge_la", f"out={tmp_path / 'rev'}", *common])
    run_main(["sge_la", f"out={tmp_path / 'sort'}", "method.pretext=sorting", *common])
    # fine-tuned from the first model's weights onto levelled input
    run_main(["sge_la", f"out={tmp_path / 'lvl'}", "upright=true", "common_joints=true",
              f"init={tmp_path / 'rev' / 'best'}", *common])
    plus = reid.evaluate(f"{tmp_path / 'rev' / 'best'}+{tmp_path / 'sort' / 'best'}", recognition=False)
    alone = reid.evaluate(str(tmp_path / "rev" / "best"), recognition=False)
    assert plus["encoders"] == 2 and plus["matching"]["per_window"]["probes"] == alone["matching"]["per_window"]["probes"]
    assert plus["matching"] != alone["matching"]
    with pytest.raises(ValueError, match="input differs"):
        reid.load_encoders(f"{tmp_path / 'rev' / 'best'}+{tmp_path / 'lvl' / 'best'}")
    meta = load_gait(tmp_path / "lvl" / "best")[1]
    assert meta["input"]["upright"] and meta["input"]["common_joints"]
    assert meta["training"]["config"]["init"].endswith("best")
    with pytest.raises(RuntimeError, match="size mismatch"):
        run_main(["sge_la", f"out={tmp_path / 'bad'}", f"init={tmp_path / 'rev' / 'best'}", "method.hidden=16",
                  *[a for a in common if not a.startswith("method.hidden")]])
    # levelled input: a tilted or turned sensor gives the same figures as the recorded walks
    res = robustness.evaluate(str(tmp_path / "lvl" / "best"), ["reference", "yaw90", "pitch20"])["conditions"]
    for name in ("yaw90", "pitch20"):
        assert res[name]["per_walk"] == pytest.approx(res["reference"]["per_walk"], abs=1e-6)
        assert res[name]["per_window"]["rank1"] == pytest.approx(res["reference"]["per_window"]["rank1"], abs=1.0)
    # without levelling, tilt changes what the encoder sees
    res = robustness.evaluate(str(tmp_path / "rev" / "best"), ["reference", "pitch20"])["conditions"]
    assert res["pitch20"]["per_window"] != res["reference"]["per_window"]


# every method registered in METHODS: how a test runs it small (a new method without an entry fails)
def _method_args(method: str, kgbd_root, msr_root) -> list[str]:
    return {"sge_la": ["--config", str(REPO / "trainers/configs/sge_la_kgbd.yaml"), f"data_root={kgbd_root}", *SMALL],
            "a3d": ["--config", str(REPO / "trainers/configs/a3d_kgbd.yaml"), f"data_root={kgbd_root}", "limit_people=8",
                    "batch=8", "clips=2", "channels=16", "hidden=16", "glimpses=2"],
            "distill": ["--config", str(REPO / "trainers/configs/distill_kgbd.yaml"), f"data_root={kgbd_root}",
                        "limit_people=3", "batch=16", "channels=8"],
            "isc": ["--config", str(REPO / "trainers/configs/isc_nwucla.yaml"), "dataset=msr", f"data_root={msr_root}",
                    "batch=16", "seq_hidden=16", "frames=16", "queue=32"],
            "crrl": ["--config", str(REPO / "trainers/configs/crrl_cml_nwucla.yaml"), "dataset=msr", f"data_root={msr_root}",
                     "batch=16", "fusion=joint", "hidden=16", "mlp=32", "frames=16", "queue=32"],
            "byol": ["--config", str(REPO / "trainers/configs/byol_nwucla.yaml"), "dataset=msr", f"data_root={msr_root}",
                     "batch=16", "multi_view=false", "width=0.125", "proj_hidden=32", "proj_dim=16", "frames=16"]}[method]


def _methods():
    from trainers.methods import METHODS
    return sorted(METHODS)


@pytest.mark.parametrize("method", _methods())
def test_every_method_trains_two_steps_through_the_one_trainer_and_resumes(method, kgbd_root, msr_root, tmp_path):
    args = [method, *_method_args(method, kgbd_root, msr_root), f"out={tmp_path}", "steps_per_epoch=2", "device=cpu"]
    metrics = run_main([*args, "epochs=1", "snapshots=1"])
    first = metrics["history"][0]
    assert metrics["epochs"] == 1 and first["val_loss"] > 0 and np.isfinite(first["val_loss"])
    assert any(k.startswith("train_") and v > 0 for k, v in first.items())
    saved = [p for p in tmp_path.glob("*.json") if p.name != "metrics.json"]
    assert saved, "no checkpoint written"
    from engine.checkpoint import read_meta
    assert all(read_meta(p)["method"] == method for p in saved)
    snap = sorted((tmp_path / "epoch1").glob("*.json"))  # snapshots=1: epoch 1's model kept apart
    assert [p.name for p in snap] == sorted(p.name for p in saved)
    assert all(read_meta(p)["metrics"]["kept"] == "snapshot" and read_meta(p)["metrics"]["epoch"] == 1 for p in snap)
    # resume continues: epoch 1 is read back, not trained again, and epoch 2 follows
    metrics = run_main([*args, "epochs=2", "--resume"])
    assert [h["epoch"] for h in metrics["history"]] == [1, 2]
    assert metrics["history"][0] == json.loads(json.dumps(first))
    from trainers.methods import METHODS
    if getattr(METHODS[method][1], "keep", "best") == "last":  # BYOL: the last epoch's weights, whatever the loss
        assert all(read_meta(p)["metrics"]["epoch"] == 2 and read_meta(p)["metrics"]["kept"] == "last epoch" for p in saved)


@pytest.mark.parametrize("method", _methods())
def test_every_method_trains_as_two_ddp_processes_on_gloo(method, kgbd_root, msr_root, tmp_path):
    env = dict(os.environ, OMP_NUM_THREADS="1")
    port = 29533 + _methods().index(method) + 1
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", str(port),
           str(REPO / "trainers/run.py"), method, *_method_args(method, kgbd_root, msr_root), f"out={tmp_path}",
           "epochs=1", "steps_per_epoch=2", "device=cpu"]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["world_size"] == 2 and metrics["epochs"] == 1


def _toy_actions(dataset: str, subjects: int, views: int = 1):
    """An ActionSet whose clip i is filled with the value of its (dataset, subject, view) code."""
    from trainers.action_data import ActionSet
    meta, x = [], []
    for s in range(1, subjects + 1):
        for v in range(1, views + 1):
            for rep in range(3):
                meta.append({"subject": f"s{s:02d}", "view": f"v{v:02d}", "action": "a01", "dataset": dataset})
                x.append(np.full((4, 20, 3), 1000 * (dataset == "kard") + 10 * s + v, np.float32))
    return ActionSet(np.stack(x), np.zeros(len(x), int), ["a"], meta)


def test_clip_data_over_two_datasets_yields_both_and_never_a_test_clip():
    from trainers.data import ClipData
    cfg, _ = config.load(None, ["dataset=nwucla,kard", "batch=4", "val_fraction=0.2"], SGELAConfig)
    data = ClipData(cfg, 4, progress=False, sets={"nwucla": _toy_actions("nwucla", 4, views=3),
                                                  "kard": _toy_actions("kard", 6)})
    codes = np.concatenate([data.fit_x, data.val_x])[:, 0, 0, 0].astype(int)
    nwucla, kard = codes[codes < 1000], codes[codes >= 1000] - 1000
    assert len(nwucla) and len(kard)
    assert not np.any(nwucla % 10 == 3)  # NW-UCLA's test view v03
    assert not np.any((kard // 10) % 2 == 0)  # KARD's test subjects (even)
    assert len(nwucla) == 4 * 2 * 3 and len(kard) == 3 * 3  # every training clip is there, once
    assert data.info["datasets"]["kard"]["test_clips_left_out"] == 9
    seen = np.concatenate([data.tensors(i, train=True)["x"][:, 0, 0, 0] for i in data.batches(seed=1)])
    assert set(seen.astype(int)) <= set(data.fit_x[:, 0, 0, 0].astype(int))
    assert len(seen) == len(data.fit_x) // 4 * 4
    # two ranks get disjoint halves of the same epoch, the same number each
    r0, r1 = data.batches(seed=1, rank=0, world=2), data.batches(seed=1, rank=1, world=2)
    assert len(r0) == len(r1) and not set(np.concatenate(r0)) & set(np.concatenate(r1))
    with pytest.raises(ValueError, match="action datasets"):
        config_bad, _ = config.load(None, ["dataset=nwucla,kgbd"], SGELAConfig)
        ClipData(config_bad, 4, progress=False, sets={})


def test_transfer_protocol_splits_a_left_out_dataset_by_its_own_protocol():
    """`skelstream eval action --protocols transfer`: a dataset the checkpoint was pretrained on is
    refused; one it never saw is split by its own protocol (KARD: odd subjects train)."""
    from trainers.action_data import protocol_split
    from trainers.evaluate.action import check_transfer, pretraining_datasets
    meta = {"name": "toy", "training": {"dataset": "nwucla,msr,utd_mhad"}}
    assert pretraining_datasets(meta) == ["nwucla", "msr", "utd_mhad"]
    check_transfer(meta, "kard")
    with pytest.raises(ValueError, match="pretrained on msr"):
        check_transfer(meta, "msr")
    train, test = protocol_split(_toy_actions("kard", 6), "kard")
    assert {m["subject"] for m in train.meta} == {"s01", "s03", "s05"}
    assert {m["subject"] for m in test.meta} == {"s02", "s04", "s06"}
