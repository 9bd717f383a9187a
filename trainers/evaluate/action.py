"""Action evaluation of an action encoder (``skelstream eval action CHECKPOINT [options]``).

Protocols (accuracies in percent of the test split; nothing is chosen on the test split):
- ``knn``: 1-nearest neighbour (cosine) of each test clip's frozen feature among the training
  clips' features.
- ``linear``: a multinomial logistic regression on standardised frozen features, trained on the
  training split with fixed settings (sklearn's lbfgs, C = 1).
- ``semi``: a stratified fraction of the training labels (at least one clip per action, fixed
  seed); the encoder and a linear head are fine-tuned together (Adam, ISC's supplementary: 50
  epochs, lr 1e-4, divided by 10 after epochs 30 and 40). The head starts from the logistic
  regression on the labelled clips' frozen features (a linear probe, then fine-tuning), since at
  lr 1e-4 a head from zero barely moves on a hundred clips. The same run from a randomly
  initialised encoder of the same architecture is the baseline.
  With ``--student-width W`` (ST-GCN encoders, skeleton BYOL's Sec. 4.4) each fine-tuned model
  then teaches a randomly initialised encoder of width W with a linear head on ALL training
  clips without their labels (KL divergence of the class distributions, temperature 1): the
  ``distilled`` figure.
- ``transfer``: leave-one-dataset-out: a checkpoint pretrained WITHOUT the dataset (not even its
  training split; `pretraining_datasets`), judged on that dataset's own protocol with frozen kNN
  and linear. Refused for a dataset the checkpoint was pretrained on.
- ``finetune``: the fine-tuning of ``semi`` with all training labels of ANOTHER dataset
  (``--transfer-to``; default NW-UCLA <-> MSR Action3D), beside its random-init baseline.
- ``supervised``: the reference for the frozen figures: the same architecture from random init
  trained with every training label (the same loop, lr 1e-3).

Beside every frozen figure (knn, linear, transfer), the same run computes the trivial baseline:
``raw_knn``, 1-nearest neighbour (cosine) on the resampled, centred raw coordinates (the clips
exactly as the encoder gets them, flattened). An encoder that loses to it is a bug to find.

Clips: offline, every figure here encodes WHOLE clips resampled to the checkpoint's frames (as in
pretraining). Live, the engine encodes the newest ``input.seconds`` (1 s) of each track
resampled to the same frames (`engine.embed.action_windows`).

Splits (`trainers.action_data.protocol_split`): NW-UCLA cross-view (train v01+v02, test v03);
MSR Action3D, UTD-MHAD and KARD cross-subject (odd subjects train, even test). ``--split val``
evaluates inside the training split instead (NW-UCLA v01 -> v02, MSR and KARD subjects 1, 3, 5 ->
7, 9, UTD-MHAD 1, 3, 5 -> 7): settings are chosen there. Plots: a confusion matrix of the linear
classifier and a t-SNE of the test clips' frozen features, coloured by action.
"""

from __future__ import annotations

import argparse
import copy
import json
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler
from torch import nn
from tqdm import tqdm

from trainers.action_data import DATASETS, load_protocol
PROTOCOL_NAMES = ("knn", "linear", "transfer", "semi", "finetune", "supervised")
SUPERVISED_LR = 1e-3  # from random init; fine-tuning a pretrained encoder uses 1e-4


def features(fn: Callable[[torch.Tensor], torch.Tensor], x: np.ndarray, device, batch: int = 256) -> np.ndarray:
    """Frozen features of clips ``x`` (`engine.embed.encode_batches`)."""
    from engine.embed import encode_batches
    return encode_batches(fn, x, device, batch)


def knn_predict(train_f: np.ndarray, train_y: np.ndarray, test_f: np.ndarray) -> np.ndarray:
    a = train_f / np.linalg.norm(train_f, axis=1, keepdims=True).clip(1e-12)
    b = test_f / np.linalg.norm(test_f, axis=1, keepdims=True).clip(1e-12)
    return train_y[(b @ a.T).argmax(1)]


def knn_accuracy(train_f: np.ndarray, train_y: np.ndarray, test_f: np.ndarray, test_y: np.ndarray) -> float:
    return float((knn_predict(train_f, train_y, test_f) == test_y).mean() * 100)


def linear_probe(train_f: np.ndarray, train_y: np.ndarray) -> tuple[StandardScaler, LogisticRegression]:
    scaler = StandardScaler().fit(train_f)
    return scaler, LogisticRegression(max_iter=3000, C=1.0).fit(scaler.transform(train_f), train_y)


def linear_accuracy(train_f: np.ndarray, train_y: np.ndarray, test_f: np.ndarray, test_y: np.ndarray) -> float:
    scaler, clf = linear_probe(train_f, train_y)
    return float((clf.predict(scaler.transform(test_f)) == test_y).mean() * 100)


def evaluate_features(fn, train_set, test_set, device) -> dict:
    tr = features(fn, train_set.x, device)
    te = features(fn, test_set.x, device)
    return {"knn": knn_accuracy(tr, train_set.label, te, test_set.label),
            "linear": linear_accuracy(tr, train_set.label, te, test_set.label),
            "dim": int(tr.shape[1]), "train": len(tr), "test": len(te)}


def raw_knn_accuracy(train_set, test_set) -> float:
    """The trivial baseline: 1-NN (cosine) on the clips' resampled, centred coordinates, flattened."""
    return knn_accuracy(train_set.x.reshape(len(train_set.x), -1), train_set.label,
                        test_set.x.reshape(len(test_set.x), -1), test_set.label)


def pretraining_datasets(meta: dict) -> list[str]:
    """The datasets a checkpoint's pretraining read (``training.dataset``: one name or a comma list)."""
    return [d for d in str(meta.get("training", {}).get("dataset", "")).split(",") if d]


def check_transfer(meta: dict, dataset: str) -> None:
    """``transfer`` judges a checkpoint on a dataset it never saw: refuse one it was pretrained on."""
    seen = pretraining_datasets(meta)
    if dataset in seen:
        raise ValueError(f"transfer: {meta.get('name', 'the checkpoint')} was pretrained on {dataset}'s training split "
                         f"(pretraining data: {', '.join(seen)}); pretrain without it (dataset=...) or use knn,linear")


def labelled_fraction(labels: np.ndarray, fraction: float, seed: int = 0) -> np.ndarray:
    """Indices of a stratified ``fraction`` of the clips: round(fraction * n_c), at least one,
    of every action c, drawn with ``seed``."""
    rng = np.random.default_rng(seed)
    keep = [rng.permutation(np.flatnonzero(labels == c))[:max(1, round(fraction * (labels == c).sum()))]
            for c in np.unique(labels)]
    return np.sort(np.concatenate(keep))


class Classifier(nn.Module):
    """An encoder with a linear head; the head can start from a fitted linear probe (the
    probe's standardisation folded into the weights)."""

    def __init__(self, encoder: nn.Module, classes: int):
        super().__init__()
        self.encoder = encoder
        self.head = nn.Linear(encoder.dim, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.encoder(x))

    @torch.no_grad()
    def start_from(self, scaler: StandardScaler, clf: LogisticRegression) -> None:
        w = np.zeros((self.head.out_features, self.head.in_features), np.float32)
        b = np.zeros(self.head.out_features, np.float32)
        cw = clf.coef_ / scaler.scale_  # x' = (x - mean) / scale
        w[clf.classes_] = cw
        b[clf.classes_] = clf.intercept_ - cw @ scaler.mean_
        b[np.setdiff1d(np.arange(len(b)), clf.classes_)] = -1e4  # an action with no label is never predicted
        self.head.weight.copy_(torch.from_numpy(w))
        self.head.bias.copy_(torch.from_numpy(b))


def finetune(encoder: nn.Module, train_set, test_set, classes: int, device, *, epochs: int = 50, lr: float = 1e-4,
             batch: int = 32, seed: int = 0, progress: bool = True, desc: str = "fine-tune") -> dict:
    """Fine-tune a copy of ``encoder`` with a linear head on ``train_set`` (all of it), and
    return the test accuracy (percent) and predictions."""
    torch.manual_seed(seed)
    model = Classifier(copy.deepcopy(encoder), classes).to(device)
    model.eval()
    tr = features(model.encoder, train_set.x, device)
    model.start_from(*linear_probe(tr, train_set.label))
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.MultiStepLR(opt, [round(epochs * 0.6), round(epochs * 0.8)], 0.1)
    x = torch.from_numpy(train_set.x).to(device)
    y = torch.from_numpy(train_set.label).long().to(device)
    rng = np.random.default_rng(seed)
    for _ in tqdm(range(epochs), desc=desc, disable=not progress, leave=False):
        model.train()
        order = rng.permutation(len(x))
        for s in range(0, len(order), batch):
            idx = order[s:s + batch]
            if len(idx) < 2:  # BatchNorm needs two
                continue
            loss = nn.functional.cross_entropy(model(x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
        sched.step()
    model.eval()
    logits = features(model, test_set.x, device)
    pred = logits.argmax(1)
    return {"accuracy": float((pred == test_set.label).mean() * 100), "labelled": len(train_set.x),
            "epochs": epochs, "lr": lr, "pred": pred, "model": model}


def distill(teacher: nn.Module, student: nn.Module, clips: np.ndarray, test_set, classes: int, device, *,
            epochs: int = 50, lr: float = SUPERVISED_LR, batch: int = 32, temperature: float = 1.0, seed: int = 0,
            progress: bool = True) -> dict:
    """Skeleton BYOL's distillation (seed 004, Sec. 4.4): a fine-tuned classifier ``teacher``
    teaches a fresh ``student`` encoder with a linear head on ``clips`` WITHOUT their labels, by
    the KL divergence between their softened class distributions (``temperature``); the same
    optimiser as `finetune` (Adam, lr divided by 10 after 60 % and 80 % of the epochs). Returns
    the student's test accuracy (percent)."""
    torch.manual_seed(seed)
    teacher = teacher.to(device).eval()
    model = Classifier(student, classes).to(device)
    x = torch.from_numpy(clips).to(device)
    with torch.no_grad():
        soft = torch.cat([torch.softmax(teacher(x[s:s + 256]) / temperature, 1) for s in range(0, len(x), 256)])
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.MultiStepLR(opt, [round(epochs * 0.6), round(epochs * 0.8)], 0.1)
    rng = np.random.default_rng(seed)
    for _ in tqdm(range(epochs), desc="distil", disable=not progress, leave=False):
        model.train()
        order = rng.permutation(len(x))
        for s in range(0, len(order), batch):
            idx = order[s:s + batch]
            if len(idx) < 2:
                continue
            log_p = torch.log_softmax(model(x[idx]) / temperature, 1)
            loss = nn.functional.kl_div(log_p, soft[idx], reduction="batchmean") * temperature ** 2
            opt.zero_grad()
            loss.backward()
            opt.step()
        sched.step()
    model.eval()
    pred = features(model, test_set.x, device).argmax(1)
    return {"accuracy": float((pred == test_set.label).mean() * 100), "epochs": epochs, "lr": lr,
            "temperature": temperature}


def random_like(meta: dict) -> nn.Module:
    """A randomly initialised encoder of a checkpoint's architecture (the baseline); for a
    checkpoint fused with the raw trajectory (``architecture.raw``) fused the same way, so the
    fine-tuned and the random-init rows differ only in the learned weights."""
    from engine.models.action import encoder_from
    return encoder_from(meta["architecture"])


def evaluate(checkpoint: str | None, dataset: str = "nwucla", protocols: tuple[str, ...] = ("knn", "linear"),
             fractions: tuple[float, ...] = (0.05, 0.1, 0.3), transfer_to: str = "", epochs: int = 50,
             out: str | None = None, device: str = "cpu", seed: int = 0, progress: bool = True,
             split: str = "test", student_width: float = 0.0) -> dict:
    from engine.checkpoint import load_action
    from trainers.evaluate.plots import confusion_png, tsne_png

    encoder, meta = load_action(checkpoint, device=device)
    if student_width and "width" not in meta["architecture"]:
        raise ValueError(f"--student-width: {meta['name']} is a {meta['architecture']['kind']!r} encoder without a "
                         "width multiplier (distillation here is for ST-GCN encoders)")
    if "transfer" in protocols:
        check_transfer(meta, dataset)
    frames = int(meta["input"]["frames"])
    train_set, test_set = load_protocol(dataset, frames, progress, split)
    classes = len(train_set.names)
    result = {"checkpoint": meta["name"], "fingerprint": meta["fingerprint"], "dataset": dataset, "split": split,
              "pretrained_on": meta.get("training", {}).get("dataset"), "representation": meta["architecture"]["kind"],
              "train": len(train_set.x), "test": len(test_set.x)}
    tr = features(encoder, train_set.x, device)
    te = features(encoder, test_set.x, device)
    outdir = Path(out) if out else None
    if outdir:
        outdir.mkdir(parents=True, exist_ok=True)
    frozen = {"knn", "linear", "transfer"} & set(protocols)
    if frozen:
        result["raw_knn"] = raw_knn_accuracy(train_set, test_set)
        result["pretraining"] = pretraining_datasets(meta)
        result["left_out"] = dataset not in result["pretraining"]
    if "knn" in protocols or "transfer" in protocols:
        result["knn"] = knn_accuracy(tr, train_set.label, te, test_set.label)
    if "linear" in protocols or "transfer" in protocols:
        scaler, clf = linear_probe(tr, train_set.label)
        pred = clf.predict(scaler.transform(te))
        result["linear"] = float((pred == test_set.label).mean() * 100)
        if outdir:
            confusion_png(test_set.label, pred, train_set.names, outdir / "confusion.png",
                          f"{meta['name']} on {dataset}: linear {result['linear']:.1f}%")
            tsne_png(te, np.asarray([train_set.names[i] for i in test_set.label]), outdir / "tsne.png",
                     people=classes, per_person=100, seed=seed, title=f"t-SNE of {dataset} test clips ({meta['name']})")
    if "semi" in protocols:
        rows = []
        for frac in fractions:
            keep = labelled_fraction(train_set.label, frac, seed)
            part = train_set.subset(keep)
            row = {"fraction": frac, "labelled": len(keep)}
            for name, enc in (("pretrained", encoder), ("random_init", random_like(meta))):
                r = finetune(enc, part, test_set, classes, device, epochs=epochs, seed=seed, progress=progress,
                             desc=f"semi {frac:g} {name}")
                row[name] = r["accuracy"]
                if name == "pretrained" and student_width:  # the fine-tuned model teaches a narrower one
                    student = random_like(dict(meta, architecture=dict(meta["architecture"], width=student_width)))
                    row["distilled"] = distill(r["model"], student, train_set.x, test_set, classes, device,
                                               epochs=epochs, seed=seed, progress=progress)["accuracy"]
                    row["student_width"] = student_width
            rows.append(row)
        result["semi"] = rows
    if "supervised" in protocols:  # the reference: the same architecture trained with every label
        r = finetune(random_like(meta), train_set, test_set, classes, device, epochs=epochs, lr=SUPERVISED_LR,
                     seed=seed, progress=progress, desc="supervised")
        result["supervised"] = {"accuracy": r["accuracy"], "epochs": epochs, "lr": SUPERVISED_LR}
    if "finetune" in protocols:
        target = transfer_to or ("msr" if dataset == "nwucla" else "nwucla")
        t_train, t_test = load_protocol(target, frames, progress)
        row = {"target": target, "train": len(t_train.x), "test": len(t_test.x)}
        for name, enc in (("pretrained", encoder), ("random_init", random_like(meta))):
            row[name] = finetune(enc, t_train, t_test, len(t_train.names), device, epochs=epochs, seed=seed,
                                 progress=progress, desc=f"transfer {name}")["accuracy"]
        result["finetune"] = row
    if outdir:
        (outdir / "summary.json").write_text(json.dumps(result, indent=2))
    return result


def format_result(r: dict) -> str:
    lines = [f"{r['checkpoint']} ({r['representation']}, pretrained on {r['pretrained_on']}) on {r['dataset']} "
             f"({r['split']}): {r['train']} training / {r['test']} {r['split']} clips"]
    if "raw_knn" in r:
        lines[0] += (f"; pretrained on {', '.join(r['pretraining'])}"
                     + (f" ({r['dataset']} left out: transfer)" if r["left_out"] else ""))
    for k in ("knn", "linear", "raw_knn"):
        if k in r:
            lines.append(f"  {k:<7} {r[k]:5.1f} %" + ("   (baseline: kNN on the raw coordinates)" if k == "raw_knn" else ""))
    for row in r.get("semi", []):
        lines.append(f"  semi {row['fraction']:.0%} ({row['labelled']} labelled): fine-tuned {row['pretrained']:.1f} %,"
                     f" from random init {row['random_init']:.1f} %"
                     + (f", distilled into width {row['student_width']:g} {row['distilled']:.1f} %" if "distilled" in row else ""))
    if "supervised" in r:
        lines.append(f"  supervised, same architecture from random init, all labels: {r['supervised']['accuracy']:.1f} %")
    if "finetune" in r:
        t = r["finetune"]
        lines.append(f"  fine-tuned on {t['target']}: fine-tuned {t['pretrained']:.1f} %, from random init {t['random_init']:.1f} %")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="skelstream eval action", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("checkpoint", nargs="?", help="action checkpoint without suffix (default: the bundled one)")
    p.add_argument("--dataset", default="nwucla", choices=sorted(DATASETS))
    p.add_argument("--protocols", default="knn,linear",
                   help="comma list of knn, linear, transfer (frozen kNN and linear on a dataset the checkpoint "
                   "was pretrained without), semi, finetune (fine-tuned on another dataset's labels), supervised "
                   "(the architecture trained from random init with every training label, Adam 1e-3: the "
                   "reference the frozen features face); the raw-coordinate kNN baseline comes with the frozen ones")
    p.add_argument("--fractions", default="0.05,0.1,0.3", help="labelled fractions for semi")
    p.add_argument("--student-width", type=float, default=0.0,
                   help="semi with an ST-GCN checkpoint: also distil each fine-tuned model into a fresh encoder of "
                   "this width on the unlabelled training clips (skeleton BYOL's distillation)")
    p.add_argument("--transfer-to", default="", help="target dataset of finetune (default: NW-UCLA <-> MSR)")
    p.add_argument("--epochs", type=int, default=50, help="fine-tuning epochs (semi, finetune, supervised)")
    p.add_argument("--split", default="test", choices=["test", "val"],
                   help="test: the protocol's test split; val: a validation split inside its training split "
                   "(NW-UCLA v01 -> v02, MSR and KARD subjects 1,3,5 -> 7,9, UTD-MHAD 1,3,5 -> 7), for choosing settings")
    p.add_argument("--device", default="cpu")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", help="folder for summary.json, confusion.png and tsne.png")
    args = p.parse_args(argv)
    protocols = tuple(x for x in args.protocols.split(",") if x)
    bad = sorted(set(protocols) - set(PROTOCOL_NAMES))
    if bad:
        raise SystemExit(f"unknown protocol(s) {bad}; choose from {', '.join(PROTOCOL_NAMES)}")
    try:
        r = evaluate(args.checkpoint, args.dataset, protocols, tuple(float(f) for f in args.fractions.split(",")),
                     args.transfer_to, args.epochs, args.out, args.device, args.seed, split=args.split,
                     student_width=args.student_width)
    except ValueError as exc:
        raise SystemExit(str(exc)) from None
    print(format_result(r))
