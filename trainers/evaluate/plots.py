"""PNG plots of results: CMC curves, attention matrices (SGE-LA's Fig. 4), A3D's glimpses, t-SNE,
confusion matrices."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def attention_png(attention: np.ndarray, path: Path, kind: str) -> None:
    """Mean alignment scores [3, f, f] per axis (rows: output skeletons, columns: input)."""
    fig, axes = plt.subplots(1, 3, figsize=(10, 3.4))
    for ax, name, mat in zip(axes, "XYZ", attention):
        im = ax.imshow(mat, cmap="viridis", vmin=0, vmax=max(float(mat.max()), 1e-6))
        ax.set_title(f"{kind.upper()} attention, axis {name}")
        ax.set_xlabel("input skeleton j")
        ax.set_ylabel("output skeleton t")
        fig.colorbar(im, ax=ax, fraction=0.046)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def glimpses_png(coverage: np.ndarray, path: Path, joints: list[str], title: str) -> None:
    """A3D's glimpses: the mean fraction of glimpses covering each frame x joint [f, J]."""
    fig, ax = plt.subplots(figsize=(7.5, 3.2))
    im = ax.imshow(coverage, cmap="magma", vmin=0, vmax=max(float(coverage.max()), 1e-6), aspect="auto")
    ax.set_xticks(range(len(joints)), joints, rotation=70, fontsize=7)
    ax.set_ylabel("frame of the window")
    ax.set_title(title)
    fig.colorbar(im, ax=ax, fraction=0.03, label="share of glimpses")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def cmc_png(probe: np.ndarray, prb, gallery: np.ndarray, gal, path: Path) -> None:
    """CMC curves of gallery matching, per window and per walk."""
    from trainers.evaluate.metrics import cmc
    from engine.embed import unit
    from trainers.evaluate.reid import per_person, walk_means

    g = walk_means(gallery, gal.walk, len(gal.walk_person))
    g_person = np.asarray(gal.walk_person)
    classes = np.unique(g_person)
    fig, ax = plt.subplots(figsize=(5, 4))
    for label, p, y in (("per window", unit(probe), prb.person),
                        ("per walk", walk_means(probe, prb.walk, len(prb.walk_person)), np.asarray(prb.walk_person))):
        curve = cmc(per_person(unit(p) @ g.T, g_person, classes), y, classes)
        ax.plot(np.arange(1, len(curve) + 1), 100 * curve, label=f"{label} (Rank-1 {100 * curve[0]:.1f}%)")
    ax.set_xscale("log")
    ax.set_xlabel("rank")
    ax.set_ylabel("identification rate (%)")
    ax.set_title("CMC, gallery matching")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def tsne_png(features: np.ndarray, person: np.ndarray, path: Path, people: int = 12, per_person: int = 60,
             seed: int = 0, title: str = "t-SNE of probe encodings") -> None:
    """t-SNE of the features of a few classes (``person``: a label per row; people, or actions),
    ``per_person`` rows of each at most, coloured by class."""
    from sklearn.manifold import TSNE

    rng = np.random.default_rng(seed)
    chosen = rng.choice(np.unique(person), size=min(people, len(np.unique(person))), replace=False)
    rows = np.concatenate([rng.permutation(np.flatnonzero(person == p))[:per_person] for p in chosen])
    emb = TSNE(n_components=2, random_state=seed, init="pca", perplexity=min(30, len(rows) // 4)).fit_transform(
        features[rows] / np.linalg.norm(features[rows], axis=1, keepdims=True))
    fig, ax = plt.subplots(figsize=(5.5, 5))
    for k, p in enumerate(chosen):
        sel = person[rows] == p
        ax.scatter(emb[sel, 0], emb[sel, 1], s=8, color=plt.cm.tab20(k % 20), label=str(p))
    ax.set_title(title)
    ax.legend(fontsize=6, markerscale=2, ncol=2)
    ax.set_xticks([])
    ax.set_yticks([])
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def confusion_png(truth: np.ndarray, pred: np.ndarray, names: list[str], path: Path, title: str) -> None:
    """Row-normalised confusion matrix (percent of each true class), with the counts' diagonal."""
    k = len(names)
    m = np.zeros((k, k))
    np.add.at(m, (truth, pred), 1)
    rows = m / np.maximum(m.sum(1, keepdims=True), 1) * 100
    fig, ax = plt.subplots(figsize=(0.45 * k + 3, 0.45 * k + 2.2))
    im = ax.imshow(rows, cmap="Blues", vmin=0, vmax=100)
    for i in range(k):
        for j in range(k):
            if m[i, j]:
                ax.text(j, i, f"{rows[i, j]:.0f}", ha="center", va="center", fontsize=7,
                        color="white" if rows[i, j] > 60 else "black")
    ax.set_xticks(range(k), names, rotation=60, ha="right", fontsize=7)
    ax.set_yticks(range(k), names, fontsize=7)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title, fontsize=9)
    fig.colorbar(im, ax=ax, fraction=0.046, label="% of the true class")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
