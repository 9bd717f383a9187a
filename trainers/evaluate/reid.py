"""Gait re-ID evaluation of a gait checkpoint on KGBD.

Protocols:
- ``holdout`` (the paper's): one walk per person held out as probe; the other walks are the
  training data (for the recognition network) and the gallery. The checkpoint must have been
  pretrained without the probe walks (checked against its metadata).
- ``open`` (open world): the checkpoint was pretrained on half of the people; the other half
  are enrolled (gallery: all but one walk each) and identified (probe: the held-out walk).
- ``tracklets`` (the later skeleton re-ID papers' KGBD protocol: TranSG, SimMC, Hi-MPC): per
  person two walks are the gallery and one the probe, the rest trained the checkpoint; every
  non-overlapping 6-frame window (tracklet) of a probe walk is ranked against all gallery
  tracklets: Rank-1/5/10 and mAP.

The protocol is the checkpoint's (``protocol=`` of its training run); SGE-LA and A3D alike.

Two scorers: plain gallery matching of L2-normalised encodings (cosine to each gallery walk's
mean encoding; a person's score is their best walk), and the paper's recognition network (a
hidden layer of 256 and a softmax over people, trained on frozen encodings; AP averages the
predictions of a window's frames, SC classifies the concatenated sequence encoding). Two probe
units: each f-frame window (the paper's) and each whole walk (scores averaged over its windows).
Beside them, in the same run and split, the trivial baseline: nearest neighbour on bone lengths
(``bones``: median bone lengths of the window, or of the walk's windows; minus the RMS difference).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from engine.checkpoint import load_gait
from engine.embed import unit, window_features
from engine.models.sge_la import window_options
from trainers.evaluate.metrics import item_rank_stats, mean_average_precision, rank_summary, summary
from trainers.gait_data import Walks, load_walks, protocol_walks, walk_dataset


@torch.no_grad()
def encode(model, windows: np.ndarray, batch: int = 512, progress: bool = True) -> dict[str, np.ndarray]:
    """Encodings of windows [N, f, J, 3]: ``frames`` [N, f, D], ``sequence`` (the encoder's
    matching encoding: [N, f*D], or both a window's and its mirror image's for a side-symmetric
    encoder) and the mean attention matrix per axis ``attention`` [3, f, f]."""
    device = next(model.parameters()).device
    symmetric = getattr(model, "symmetric", False)  # else ``sequence`` is ``frames`` flattened: no copy kept
    frames, seqs, att_sum = [], [], 0.0
    for s in tqdm(range(0, len(windows), batch), desc="encoding", disable=None if progress else True, leave=False):
        out = model.encode(torch.from_numpy(windows[s:s + batch]).to(device))
        frames.append(out["frames"].float().cpu().numpy())
        if symmetric:
            seqs.append(out["sequence"].float().cpu().numpy())
        att_sum = att_sum + out["attention"].float().sum(1).cpu().numpy()
    frames = np.concatenate(frames)
    sequence = np.concatenate(seqs) if symmetric else frames.reshape(len(frames), -1)
    return {"frames": frames, "sequence": sequence, "attention": att_sum / len(windows)}


def walk_means(features: np.ndarray, walk: np.ndarray, n_walks: int) -> np.ndarray:
    """Mean of the L2-normalised window features of each walk, normalised: [W, D]."""
    out = np.zeros((n_walks, features.shape[1]), np.float64)
    np.add.at(out, walk, unit(features.astype(np.float64)))
    return unit(out)


def per_person(scores: np.ndarray, item_person: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """Collapse scores over gallery items [P, G] to classes [P, C] by taking each person's best item."""
    out = np.full((len(scores), len(classes)), -np.inf)
    for c, person in enumerate(classes):
        out[:, c] = scores[:, item_person == person].max(1)
    return out


def gallery_matching(probe: np.ndarray, probe_person: np.ndarray, gallery: np.ndarray,
                     gallery_person: np.ndarray) -> dict:
    """Rank-1/5, nAUC and mAP of cosine matching of probes [P, D] against gallery items [G, D]."""
    scores = unit(probe) @ unit(gallery).T
    classes = np.unique(gallery_person)
    res = summary(per_person(scores, gallery_person, classes), probe_person, classes)
    res["map"] = 100 * mean_average_precision(scores, probe_person, gallery_person)
    return res


def train_recognition(x: np.ndarray, y: np.ndarray, classes: np.ndarray, epochs: int = 30,
                      hidden: int = 256, lr: float = 1e-3, batch: int = 1024, seed: int = 0):
    """The recognition network f_RN (hidden layer + softmax) trained on frozen features [N, D]."""
    torch.manual_seed(seed)
    net = torch.nn.Sequential(torch.nn.Linear(x.shape[1], hidden), torch.nn.ReLU(),
                              torch.nn.Linear(hidden, len(classes)))
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    xt = torch.from_numpy(x.astype(np.float32))
    yt = torch.from_numpy(np.searchsorted(classes, y))
    gen = torch.Generator().manual_seed(seed)
    for _ in tqdm(range(epochs), desc="recognition network", disable=None, leave=False):
        for idx in torch.randperm(len(xt), generator=gen).split(batch):
            loss = torch.nn.functional.cross_entropy(net(xt[idx]), yt[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    return net.eval()


@torch.no_grad()
def predict(net, x: np.ndarray, batch: int = 8192) -> np.ndarray:
    """Softmax probabilities [N, C]."""
    return np.concatenate([torch.softmax(net(torch.from_numpy(x[s:s + batch].astype(np.float32))), -1).numpy()
                           for s in range(0, len(x), batch)])


def _walk_average(scores: np.ndarray, walk: np.ndarray, n: int) -> np.ndarray:
    out = np.zeros((n, scores.shape[1]))
    np.add.at(out, walk, scores)
    return out / np.bincount(walk, minlength=n)[:, None]


def evaluate_split(enc: dict, walks: Walks, train_ids: list[int], probe_ids: list[int],
                   recognition: bool, rn_epochs: int) -> dict:
    """All scores of one split, given the encodings of every window of ``walks``."""
    gal, prb = walks.subset(train_ids), walks.subset(probe_ids)
    g_rows, p_rows = walks.rows(train_ids), walks.rows(probe_ids)
    seq, feat = enc["sequence"], enc["matching"]
    g_walk = walk_means(feat[g_rows], gal.walk, len(train_ids))
    g_person, p_person = np.asarray(gal.walk_person), np.asarray(prb.walk_person)
    out = {"gallery_walks": len(train_ids), "probe_walks": len(probe_ids), "people": len(set(p_person)),
           "matching": {
               "per_window": gallery_matching(feat[p_rows], prb.person, g_walk, g_person),
               "per_walk": gallery_matching(walk_means(feat[p_rows], prb.walk, len(probe_ids)), p_person,
                                            g_walk, g_person)}}
    bones = enc["bones"]  # the trivial baseline of the same split: bone lengths
    g_bones = walk_medians(bones[g_rows], gal.walk, len(train_ids))
    out["bones"] = {"per_window": bone_matching(bones[p_rows], prb.person, g_bones, g_person),
                    "per_walk": bone_matching(walk_medians(bones[p_rows], prb.walk, len(probe_ids)), p_person,
                                              g_bones, g_person)}
    if recognition:
        classes = np.unique(g_person)
        f = enc["frames"].shape[1]
        frames = enc["frames"]
        ap = train_recognition(frames[g_rows].reshape(-1, frames.shape[2]), np.repeat(gal.person, f), classes,
                               epochs=rn_epochs)
        ap_win = predict(ap, frames[p_rows].reshape(-1, frames.shape[2])).reshape(len(p_rows), f, -1).mean(1)
        sc = train_recognition(seq[g_rows], gal.person, classes, epochs=rn_epochs)
        sc_win = predict(sc, seq[p_rows])
        out["recognition_ap"] = {"per_window": summary(ap_win, prb.person, classes),
                                 "per_walk": summary(_walk_average(ap_win, prb.walk, len(probe_ids)),
                                                     p_person, classes)}
        out["recognition_sc"] = {"per_window": summary(sc_win, prb.person, classes),
                                 "per_walk": summary(_walk_average(sc_win, prb.walk, len(probe_ids)),
                                                     p_person, classes)}
    return out


def evaluate_tracklets(enc: dict, walks: Walks, gallery_ids: list[int], probe_ids: list[int]) -> dict:
    """The probe/gallery protocol of the later skeleton re-ID papers: every non-overlapping
    window (tracklet) of the probe walks against every tracklet of the gallery walks, by cosine
    of the matching features: Rank-1/5/10 and mAP."""
    feat = unit(enc["matching"])
    g_rows, p_rows = walks.rows(gallery_ids), walks.rows(probe_ids)
    from trainers.evaluate.transfer import bone_scores
    p_person, g_person = walks.person[p_rows], walks.person[g_rows]
    stats: dict[str, list] = {"tracklets": [], "bones": []}
    for s in range(0, len(p_rows), 1000):  # chunks of probes: [P, G] scores of every tracklet are GBs
        rows = p_rows[s:s + 1000]
        for name, scores in (("tracklets", feat[rows] @ feat[g_rows].T),
                             ("bones", bone_scores(enc["bones"][rows], enc["bones"][g_rows]))):
            stats[name].append(item_rank_stats(scores, p_person[s:s + 1000], g_person))
    out = {name: {"per_tracklet": rank_summary(np.concatenate([r for r, _ in st]), np.concatenate([a for _, a in st]))}
           for name, st in stats.items()}
    return {"gallery_walks": len(gallery_ids), "probe_walks": len(probe_ids),
            "people": len({walks.walk_person[w] for w in probe_ids}), **out}


def window_bones(windows: np.ndarray) -> np.ndarray:
    """The trivial baseline's features: median length over its frames of each bone between two
    model joints, per window [N, f, 20, 3] -> [N, B] (metres)."""
    from engine.models.sge_la import INPUT_JOINTS
    from engine.skeleton import BONES
    pairs = [(INPUT_JOINTS.index(a), INPUT_JOINTS.index(b)) for a, b in BONES if a in INPUT_JOINTS and b in INPUT_JOINTS]
    a, b = np.array(pairs).T
    return np.median(np.linalg.norm(windows[:, :, b] - windows[:, :, a], axis=-1), axis=1)


def bone_matching(probe: np.ndarray, probe_person: np.ndarray, gallery: np.ndarray, gallery_person: np.ndarray) -> dict:
    """`gallery_matching` for bone lengths: similarity minus the RMS difference of bone lengths."""
    from trainers.evaluate.transfer import bone_scores
    scores = bone_scores(probe, gallery)
    classes = np.unique(gallery_person)
    res = summary(per_person(scores, gallery_person, classes), probe_person, classes)
    return res | {"map": 100 * mean_average_precision(scores, probe_person, gallery_person)}


def walk_medians(features: np.ndarray, walk: np.ndarray, n_walks: int) -> np.ndarray:
    """Median of each walk's rows: [W, D]."""
    return np.stack([np.median(features[walk == w], axis=0) for w in range(n_walks)])


def load_encoders(spec: str, device: str = "cpu") -> tuple[list, dict]:
    """The gait encoders of ``spec``: one checkpoint, or several joined by ``+`` whose encodings
    are concatenated (the paper's "Rev. Rec. Plus": reverse reconstruction + prediction +
    sorting). Joined checkpoints must share window, normalisation and data split.
    Returns (models, metadata of the first)."""
    loaded = [load_gait(part, device=device) for part in spec.split("+")]
    meta = loaded[0][1]
    for part, (_, m) in zip(spec.split("+")[1:], loaded[1:]):
        for key, a, b in (("input", _input_of(meta), _input_of(m)), ("split", _split_of(meta), _split_of(m))):
            if a != b:
                raise ValueError(f"{part}: its {key} differs from {spec.split('+')[0]}'s; "
                                 f"checkpoints joined with + must share it")
    return [model for model, _ in loaded], meta


def _input_of(meta: dict) -> tuple:
    return meta["input"]["window"], tuple(meta["input"]["joints"]), tuple(window_options(meta["input"]).items())


def _split_of(meta: dict) -> tuple:
    t = meta["training"]
    return t["dataset"], t["protocol"], int(t["split_seed"]), t.get("limit_people", 0)


def encode_all(models: list, windows: np.ndarray) -> dict[str, np.ndarray]:
    """`encode` with every model; frame encodings concatenated (attention of the first), and
    ``matching``: each model's matching features (`window_features`: whitened when it has a
    whitening) concatenated and L2-normalised."""
    encs = [encode(m, windows) for m in models]
    frames = np.concatenate([e["frames"] for e in encs], axis=2)
    matching = unit(np.concatenate([window_features(m, e["sequence"]) for m, e in zip(models, encs)], axis=1))
    return {"frames": frames, "sequence": frames.reshape(len(frames), -1), "attention": encs[0]["attention"],
            "matching": matching}


def evaluate(checkpoint: str, recognition: bool = True, rn_epochs: int = 30, data_root: str = "",
             device: str = "cpu", out_dir: str | None = None) -> dict:
    """Evaluate one checkpoint (or ``A+B+C``, see `load_encoders`) on the protocol it was
    pretrained for (from its metadata)."""
    models, meta = load_encoders(checkpoint, device)
    train = meta["training"]
    trained_on = train.get("root", "")
    root = data_root or (trained_on if trained_on and Path(trained_on).is_dir() else "")
    ds = walk_dataset(train["dataset"], root, train.get("limit_people", 0))
    walks = load_walks(ds, meta["input"]["window"], **window_options(meta["input"]))
    seed = int(train["split_seed"])
    _, train_ids, probe_ids = protocol_walks(walks, train["protocol"], seed)  # train_ids: the gallery walks
    seen = set(train.get("held_out", [])) if train["protocol"] in ("holdout", "tracklets") else None
    held = probe_ids + (train_ids if train["protocol"] == "tracklets" else [])
    if seen is not None and not {walks.walk_id[w] for w in held} <= seen:
        raise ValueError(f"{checkpoint}: its pretraining saw some of the probe or gallery walks of split {seed}")
    enc = encode_all(models, walks.windows) | {"bones": window_bones(walks.windows)}
    res = {"checkpoint": str(checkpoint), "method_name": meta["method"], "protocol": train["protocol"],
           "split_seed": seed, "method": meta["hyperparameters"], "encoders": len(models),
           "whitened": [0 if m.whitening is None else int(m.whitening.proj.shape[1]) for m in models]}
    cover = None
    if meta["method"] == "a3d":  # where the agent looked, on average over every window
        from engine.models.a3d import GRID, GRID_INDEX
        cover = enc["attention"][0][:, list(GRID_INDEX)]
        res["glimpses"] = {"joints": list(GRID), "mean_coverage_frame_by_joint": np.round(cover, 4).tolist(),
                           "per_joint": dict(zip(GRID, np.round(cover.mean(0), 4).tolist()))}
    if train["protocol"] == "tracklets":
        res |= evaluate_tracklets(enc, walks, train_ids, probe_ids)
    else:
        res |= evaluate_split(enc, walks, train_ids, probe_ids, recognition and train["protocol"] == "holdout",
                              rn_epochs)
    if out_dir:
        from trainers.evaluate.plots import attention_png, cmc_png, glimpses_png, tsne_png
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        (out / "reid.json").write_text(json.dumps(res, indent=2))
        if cover is not None:
            glimpses_png(cover, out / "glimpses.png", res["glimpses"]["joints"],
                         f"A3D glimpses ({meta['hyperparameters']['attention']}), mean over all windows")
        elif meta["method"] == "sge_la":  # the distilled student has no attention to plot
            attention_png(enc["attention"], out / "attention.png", meta["hyperparameters"]["attention"])
        prb, gal = walks.subset(probe_ids), walks.subset(train_ids)
        probe_seq = enc["matching"][walks.rows(probe_ids)]
        cmc_png(probe_seq, prb, enc["matching"][walks.rows(train_ids)], gal, out / "cmc.png")
        tsne_png(probe_seq, prb.person, out / "tsne.png")
    return res


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="skelstream eval reid", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("checkpoints", nargs="+", metavar="CHECKPOINT",
                   help="one or more gait checkpoints (one per split; mean and spread are reported); "
                        "A+B+C concatenates the encodings of several checkpoints of one split "
                        "(Rev. Rec. Plus: rev_rec+prediction+sorting)")
    p.add_argument("--no-recognition", action="store_true", help="gallery matching only")
    p.add_argument("--rn-epochs", type=int, default=30, help="epochs of the recognition network")
    p.add_argument("--data-root", default="", help="dataset root (default: the extracted shared archive)")
    p.add_argument("--device", default="cpu")
    p.add_argument("-o", "--out", help="folder for reid.json and the PNG plots")
    args = p.parse_args(argv)
    results = []
    for k, ckpt in enumerate(args.checkpoints):
        out = str(Path(args.out) / f"split{k}") if args.out and len(args.checkpoints) > 1 else args.out
        results.append(evaluate(ckpt, not args.no_recognition, args.rn_epochs, args.data_root, args.device, out))
    table = aggregate(results)
    print(format_table(table))
    if args.out:
        Path(args.out, "summary.json").write_text(json.dumps({"splits": results, "summary": table}, indent=2))


def format_table(table: dict) -> str:
    """The aggregated figures as a text table: mean (and std over splits when more than one)."""
    if "tracklets.per_tracklet.rank1" in table:
        lines = [f"{'scorer':<16}{'probe unit':<18}{'Rank-1':>10}{'Rank-5':>10}{'Rank-10':>10}{'mAP':>10}"]
        for scorer in ("tracklets", "bones"):
            cells = [f"{table[f'{scorer}.per_tracklet.{m}']['mean']:.1f}" for m in ("rank1", "rank5", "rank10", "map")]
            lines.append(f"{'matching' if scorer == 'tracklets' else 'bone lengths':<16}{'6-frame tracklet':<18}"
                         + "".join(f"{c:>10}" for c in cells))
        return "\n".join(lines)
    lines = [f"{'scorer':<16}{'probe unit':<12}{'Rank-1':>14}{'Rank-5':>14}{'nAUC':>14}{'mAP':>14}"]
    for scorer in ("matching", "recognition_ap", "recognition_sc", "bones"):
        for probe in ("per_window", "per_walk"):
            if f"{scorer}.{probe}.rank1" not in table:
                continue
            cells = []
            for metric in ("rank1", "rank5", "nauc", "map"):
                v = table.get(f"{scorer}.{probe}.{metric}")
                cells.append("-" if v is None else f"{v['mean']:.1f}" + (f" ± {v['std']:.1f}" if v["splits"] > 1 else ""))
            lines.append(f"{scorer:<16}{probe:<12}" + "".join(f"{c:>14}" for c in cells))
    return "\n".join(lines)


def aggregate(results: list[dict]) -> dict:
    """Mean and standard deviation of every figure over splits."""
    out: dict = {}
    for scorer in ("matching", "recognition_ap", "recognition_sc", "tracklets", "bones"):
        if scorer not in results[0]:
            continue
        for probe in results[0][scorer]:
            for metric, value in results[0][scorer][probe].items():
                vals = [r[scorer][probe][metric] for r in results]
                out[f"{scorer}.{probe}.{metric}"] = {"mean": float(np.mean(vals)), "std": float(np.std(vals)),
                                                    "splits": len(vals)}
    return out


if __name__ == "__main__":
    main()
