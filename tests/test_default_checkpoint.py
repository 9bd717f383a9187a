"""The bundled default gait checkpoint: small, documented, loadable, used by embed by default."""

import numpy as np

from engine.checkpoint import DEFAULT_GAIT, load_gait
from engine.cli import main
from conftest import REPO


def test_default_gait_checkpoint_is_documented_and_small():
    weights = DEFAULT_GAIT.with_suffix(".safetensors")
    assert weights.stat().st_size < 20e6
    card = DEFAULT_GAIT.with_suffix(".md").read_text()
    assert "python trainers/run.py sge_la" in card and "Rank-1" in card
    model, meta = load_gait()
    assert meta["method"] == "sge_la" and meta["training"]["dataset"] == "kgbd"
    assert meta["metrics"]["reid"]["matching.per_walk.rank1"]["mean"] > 90
    # sensor-robust input, whitened features and a calibrated open-set threshold
    assert meta["input"]["upright"] and meta["input"]["common_joints"] and meta["input"]["shared_joints"]
    assert model.whitening is not None and model.whitening.proj.shape == (4608, 512)
    assert meta["identity"]["far"] == 0.01 and len(meta["identity"]["by_seconds"]) == 4
    # gallery-normalised open set: the training prior and a stranger tail per query length
    cohort = meta["identity"]["cohort"]
    assert cohort["far"] == 0.05 and cohort["prior"]["std"] > 0 and len(cohort["by_seconds"]) == 4


def test_embed_uses_the_default_checkpoint(tmp_path):
    assert main(["embed", str(REPO / "recordings" / "demo.mcap"), "-o", str(tmp_path / "e.npz")]) == 0
    with np.load(tmp_path / "e.npz") as out:
        assert out["embeddings"].shape[0] == 3 and str(out["checkpoint"]) == "gait_sge_la"
        emb = out["embeddings"]
    # three different synthetic people: no two embeddings identical
    sims = emb @ emb.T
    assert (sims[np.triu_indices(3, 1)] < 0.9999).all()
