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
    for name in ("reid.json", "cmc.png", "attention.png", "tsne.png"):
        assert (tmp_path / "eval" / name).stat().st_size > 1000
    # a checkpoint whose pretraining saw the probe walks is refused
    meta_path = tmp_path / "run" / "best.json"
    meta = json.loads(meta_path.read_text())
    meta["training"]["held_out"] = []
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(ValueError, match="saw some of the probe walks"):
        evaluate(str(tmp_path / "run" / "best"), recognition=False)


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
