"""PLAN.md's measurement: LDA-64 on KGBD identities in the bundled checkpoint's whitening slot,
against the bundled checkpoint, on validation data only.

    python results/transfer/lda/measure.py [bundled] [lda64]   # -> measure.json (and runs/lda64/gait)
"""
import json
import shutil
import sys
from pathlib import Path

import numpy as np
import torch
from scipy.linalg import eigh

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE.parent / "mirror"))
from run import kgbd, rotations  # noqa: E402

from engine.checkpoint import DEFAULT_GAIT, load_gait  # noqa: E402
from engine.datasets import open_dataset  # noqa: E402
from engine.datasets.cache import extract  # noqa: E402
from engine.embed import Whitening, unit  # noqa: E402
from engine.models.sge_la import window_options  # noqa: E402
from trainers.evaluate.reid import encode  # noqa: E402
from trainers.gait_data import load_walks, protocol_walks, validation_split, walk_dataset  # noqa: E402
from trainers.whiten import write  # noqa: E402

OTHERS = ["a01", "a02", "a03", "a05", "a06", "a08", "a09", "a11", "a12"]


def lda(x: np.ndarray, y: np.ndarray, k: int = 64, pca: int = 400, reg: float = 1e-3) -> Whitening:
    """LDA to ``k`` dimensions of window encodings ``x`` with identities ``y``, as a `Whitening`
    (``unit((unit(x) - mean) @ proj)``); PCA to ``pca`` dimensions first, for a stable Sw."""
    z = unit(x).astype(np.float64)
    mean = z.mean(0)
    zc = z - mean
    _, _, vt = np.linalg.svd(zc[::2], full_matrices=False)
    p = vt[:pca].T
    q = zc @ p
    sw = np.zeros((pca, pca))
    means = []
    for person in np.unique(y):
        qi = q[y == person]
        m = qi.mean(0)
        means.append(m)
        sw += (qi - m).T @ (qi - m)
    sw /= len(q)
    sw += reg * np.trace(sw) / pca * np.eye(pca)
    sb = np.cov(np.array(means).T)
    _, vecs = eigh(sb, sw)
    return Whitening(mean.astype(np.float32), (p @ vecs[:, ::-1][:, :k]).astype(np.float32))


def make_variant(out: Path) -> Path:
    model, meta = load_gait(None)
    train = meta["training"]
    ds = walk_dataset("kgbd", "", train.get("limit_people", 0))
    walks = load_walks(ds, int(meta["input"]["window"]), **window_options(meta["input"]))
    seed = int(train["split_seed"])
    pool = walks.subset(protocol_walks(walks, train["protocol"], seed)[0])
    fit, _ = validation_split(pool, seed, float(train["config"].get("val_fraction", 0.1)))
    fit_walks = pool.subset(fit)
    rows = np.arange(0, len(fit_walks.windows), 2)  # every other window
    x = encode(model, fit_walks.windows[rows])["sequence"]
    y = np.asarray(fit_walks.person)[fit_walks.walk[rows]]
    w = lda(x, y)
    out.parent.mkdir(parents=True, exist_ok=True)
    for suffix in (".safetensors", ".json"):
        shutil.copy(DEFAULT_GAIT.with_suffix(suffix), out.with_suffix(suffix))
    write(str(out), w, {"dims": 64, "fitted_on": f"LDA on {len(rows)} windows of {len(fit)} KGBD fit walks "
                        f"({len(set(y))} people), identities used (results/transfer/lda/PLAN.md)"})
    # `write` stores the projection in the weights' dtype (float16 in the bundled checkpoint); an
    # LDA projection magnifies directions of tiny within-person spread, where float16 rounding
    # of the mean is of the same size: keep it float32 (the first run did not; measure.log)
    from safetensors.torch import load_file, save_file
    weights = load_file(str(out.with_suffix(".safetensors")))
    weights["whiten.mean"], weights["whiten.proj"] = torch.from_numpy(w.mean), torch.from_numpy(w.proj)
    save_file(weights, str(out.with_suffix(".safetensors")))
    return out


def main():
    torch.set_num_threads(2)
    variant = make_variant(Path("runs/lda64/gait"))
    res = {}
    which = sys.argv[1:] or ["bundled", "lda64"]
    for name, ckpt in (("bundled", None), ("lda64", variant)):
        if name not in which:
            continue
        model, meta = load_gait(ckpt)
        row = {"nwucla_other_actions": rotations(model, meta, "nwucla", OTHERS, "view", mirrors=False)["plain"]}
        for ds_name in ("utd_mhad", "msr_action3d"):
            acts = sorted({it.meta["action"] for it in open_dataset(extract(ds_name)).items})
            row[ds_name] = rotations(model, meta, ds_name, acts, "session", mirrors=False)["plain"]
        row["kgbd_val"] = kgbd(model, meta, "val", mirrors=False)["all"]["plain"]
        res[name] = row
        print(name, {k: v for k, v in row.items()}, flush=True)
    path = HERE / "measure.json"
    old = json.loads(path.read_text()) if path.exists() else {}
    path.write_text(json.dumps(old | res, indent=1))


if __name__ == "__main__":
    main()
