"""Export a trained checkpoint of any method as a bundled default, with its model card.

``python -m trainers.export RUN/NAME [--reid SUMMARY] [--eval SUMMARY ...] [--out PATH]``:
- gait (sge_la, a3d, distill: RUN/best): the encoder's weights as float16, the whitening, the open-set
  calibration redone on what ships; ``--reid``: the `skelstream eval reid` summary for the card;
  default destination the bundled gait checkpoint (a distilled student: the bundled ``fast`` one);
- action (isc, crrl, byol: RUN/NAME): the encoder's weights (float32: a small model, and rounding is not worth
  its risk); ``--eval``: `skelstream eval action ... --out EVAL` summaries for the card; default
  destination the bundled action checkpoint. Then build the prototypes the engine uses
  (`skelstream prototypes`).
The card lists what the model is, its input, every command that made it and its results.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from engine.checkpoint import (ACTION_METHODS, DEFAULT_ACTION, DEFAULT_GAIT, FAST_GAIT, GAIT_METHODS, checkpoint_base,
                               read_meta)
from trainers.methods.isc import init_checkpoints

GAIT_CARD = """# {name}: {title} gait encoder

- Method: {method_line}.
- Input: windows of {window} frames of the 20 Kinect v1 joints (canonical names); {normalisation}.
- Output: sequence-level encoding of {seq_dim} values per window (skeleton-level {frame_dim});
  {whitening}; the embedding of a sequence is the L2-normalised mean of its window features.
- Open-set threshold: {identity}
- Training data: {dataset}, protocol {protocol} (split seed {split}): {train_walks} training walks,
  {held} walks held out (never seen in pretraining), {val} validation walks for early stopping.
  {labels}
- Made by:
{steps}
- Training: best validation loss {val_loss:.4f} at epoch {best_epoch} (the checkpoint kept).
- Weights stored as float16 ({size:.1f} MB); git commit {commit}.

## Re-ID results on the held-out walks
{results}
"""


def default_gait_destination(method: str) -> Path:
    """Where a gait checkpoint of ``method`` ships by default: a distilled student beside the
    default, as the bundled ``fast`` option; any other gait method as the default."""
    return FAST_GAIT if method == "distill" else DEFAULT_GAIT


def export_gait(src: Path, dst: Path, reid: str | None = None) -> None:
    meta = read_meta(src)
    init = meta["training"]["config"].get("init")
    # the starting point's own steps, read before the export may overwrite it (a fine-tuned default)
    lineage = (read_meta(init).get("lineage") or [read_meta(init)["training"]["command"]]) if init else []
    weights = {k: v.to(torch.float16) for k, v in load_file(str(src.with_suffix(".safetensors"))).items()
               if k.startswith(("model.", "whiten."))}
    dst.parent.mkdir(parents=True, exist_ok=True)
    save_file(weights, str(dst.with_suffix(".safetensors")))
    meta = dict(meta, name=dst.name, exported_from=str(src), weights_dtype="float16",
                lineage=lineage + [meta["training"]["command"]])
    results = "not evaluated"
    if reid:
        summary = json.loads(Path(reid).read_text())["summary"]
        meta["metrics"] = dict(meta.get("metrics", {}), reid=summary)
        rows = ["| scorer | probe unit | Rank-1 | Rank-5 | Rank-10 | nAUC | mAP |", "|---|---|---|---|---|---|---|"]
        pairs = dict.fromkeys(tuple(k.split(".")[:2]) for k in summary)  # (scorer, unit) in the summary's order
        for scorer, unit in pairs:
            get = lambda m: summary.get(f"{scorer}.{unit}.{m}", {}).get("mean")  # noqa: E731
            if get("rank1") is None:
                continue
            cells = [f"{get(m):.1f}" if get(m) is not None else "-" for m in ("rank1", "rank5", "rank10", "nauc", "map")]
            rows.append(f"| {'bone lengths (baseline)' if scorer == 'bones' else scorer} | {unit} | "
                        + " | ".join(cells) + " |")
        results = "\n".join(rows)
    dst.with_suffix(".json").write_text(json.dumps(meta, indent=2))
    if "identity" in meta:
        # the scores of the float16 weights sit higher than those of the float32 run (the whitening
        # mean's rounding is common to every feature): thresholds must come from what ships
        from trainers.evaluate.calibrate import calibrate
        old = meta["identity"]
        meta["identity"], _ = calibrate(str(dst), far=old["far"], seconds=tuple(r["seconds"] for r in old["by_seconds"]))
        dst.with_suffix(".json").write_text(json.dumps(meta, indent=2))
    hp, arch, train = meta["hyperparameters"], meta["architecture"], meta["training"]
    steps = [f"  {k + 1}. `{cmd}`" + (" (a starting point)" if k < len(lineage) else "")
             for k, cmd in enumerate(meta["lineage"])]
    if "whitening" in meta["embedding"]:
        steps.append(f"  {len(steps) + 1}. `python -m trainers.whiten {src} --dims {meta['embedding']['whitening']['dims']}`")
    default_dst = default_gait_destination(meta["method"])
    steps.append(f"  {len(steps) + 1}. `python -m trainers.export {src}" + (f" --reid {reid}" if reid else "")
                 + ("" if dst.resolve() == default_dst.resolve() else f" --out {dst}") + "`"
                 + (" (float16 weights; the open-set thresholds are calibrated on them, as `skelstream eval "
                    "calibrate` does)" if "identity" in meta else ""))
    if meta["method"] == "a3d":
        title, labels = "A3D (recurrent 3D attention)", (
            f"Supervised: the identities of the {train.get('people', '?')} training people (cross-entropy, triplet "
            "and REINFORCE rewards).")
        method_line = (f"A3D on skeletons (seed 001): two streams (coordinates, velocities{'' if arch['velocity'] else ': off'}) "
                       f"over a time x body-ordered joint grid, {arch['channels']} channels; "
                       + ("no attention (global feature only)" if arch["attention"] == "none" else
                          f"{arch['glimpses']} glimpses of {arch['bin_frames']} frames x {arch['bin_joints']} joints "
                          f"({'learned by REINFORCE' if arch['attention'] == 'rl' else 'at random'}), "
                          f"a {arch['hidden']}-unit recurrent agent"))
    elif meta["method"] == "distill":
        teacher = meta["distillation"]["teacher"]
        title, labels = f"A3D-backbone student of {teacher.get('name', 'a gait encoder')}", (
            f"No labels were used: trained to give the teacher's ({teacher.get('name')}, weights "
            f"{teacher.get('fingerprint')}) matching feature of each window (1 - cosine), the input under joint "
            f"dropout and mirrored with p {hp['mirror']}" + (f", one side's limbs displaced with p {hp['limb_noise']}"
                                                            if hp.get("limb_noise") else "")
            + (f"; plus, weight {hp['relational']}, the KL divergence of its within-batch similarities (softmax at tau "
               f"{hp['tau']}) from the teacher's" if hp.get("relational") else "") + ".")
        method_line = (f"a convolutional student distilled from {teacher.get('name')} (trainers/methods/distill.py): "
                       f"A3D's two streams (coordinates, velocities{'' if arch['velocity'] else ': off'}) over a time "
                       f"x body-ordered joint grid, "
                       f"{arch['channels']} channels, no attention; the map averaged over time per joint column, "
                       f"then an MLP to {arch['head']} values")
    else:
        title, labels = "SGE-LA / CAGE", "No labels were used."
        method_line = (f"SGE-LA with {hp['attention'].upper()} attention, pretext {hp['pretext']}, LCL "
                       f"{'on' if hp['lcl'] else 'off'} (seed 000); architecture {arch['layers']}-layer LSTMs of "
                       f"{arch['hidden']} units per axis")
    dst.with_suffix(".md").write_text(GAIT_CARD.format(
        name=dst.name, title=title, method_line=method_line, labels=labels, window=meta["input"]["window"],
        seq_dim=meta["embedding"]["sequence"], frame_dim=meta["embedding"]["frame"], dataset=train["dataset"],
        protocol=train["protocol"], split=train["split_seed"], train_walks=train["train_walks"],
        held=train["held_out_walks"], val=train["validation_walks"],
        val_loss=meta["metrics"]["val_loss"], steps="\n".join(steps),
        best_epoch=meta["metrics"].get("epoch"), size=dst.with_suffix(".safetensors").stat().st_size / 1e6,
        commit=meta.get("git_commit", "unknown")[:10], results=results,
        normalisation=meta["input"]["normalisation"],
        whitening=(f"whitened to {meta['embedding']['whitening']['dims']} dimensions (PCA fitted on "
                   f"{meta['embedding']['whitening']['fitted_on']})" if "whitening" in meta["embedding"]
                   else "L2-normalised"),
        identity=(f"for a false-accept rate of {meta['identity']['far']:.0%}, per query length (" + "; ".join(
            f"{r['seconds']:g} s: {r['threshold']:.3f}, genuine accept rate {r['tar']:.0%}, rank-1 {r['rank1']:.0%}"
            for r in meta["identity"]["by_seconds"]) + f") against all {meta['identity']['people']} training people; "
            "for a smaller gallery the engine lowers it from the stored per-person impostor tail so the rate "
            f"holds. Calibrated on {meta['identity']['data']}." if "identity" in meta else "not calibrated")))
    print(f"exported {src} -> {dst}.safetensors/.json/.md")


ACTION_CARD = """# {name}: {title} action encoder ({kind})

- Method: {method}. Self-supervised: no labels were used in pretraining.
- Architecture: {arch}.
- Input: {frames} frames of the 20 Kinect v1 joints (canonical names) per clip, through
  {view}. Live, the engine encodes the newest
  {seconds:g} s of each track resampled to {frames} frames.
- Output: a {dim}-value feature; L2-normalised for kNN, prototypes and `skelstream embed --kind action`.{fusion}
- Pretraining data: {dataset}, {protocol}; {epochs} epochs on {device}{best}.
- Made by:
{steps}
- Weights: float32, {size:.1f} MB; git commit {commit}.

## Results
{results}
"""


def results_table(summaries: list[dict], metrics: dict) -> str:
    """Frozen kNN / linear per dataset (test split, from the summaries; validation split inside
    the training split, from the training run), then the fine-tuning protocols."""
    rows = ["| dataset | protocol | accuracy (%) |", "|---|---|---|"]
    for ds, r in metrics.get("validation", {}).items():
        rows += [f"| {ds} | kNN (k=1), frozen, validation split | {r['knn']:.1f} |",
                 f"| {ds} | linear, frozen, validation split | {r['linear']:.1f} |"]
    frozen = metrics.get("frozen", {}) | {s["dataset"]: s for s in summaries
                                          if "knn" in s and "linear" in s and s.get("split", "test") == "test"}
    for ds, r in frozen.items():
        ds = f"{ds} (never in pretraining)" if r.get("left_out") else ds
        rows += [f"| {ds} | kNN (k=1), frozen | {r['knn']:.1f} |", f"| {ds} | linear, frozen | {r['linear']:.1f} |"]
        if "raw_knn" in r:
            rows.append(f"| {ds} | baseline: kNN on resampled raw coordinates | {r['raw_knn']:.1f} |")
    for s in summaries:
        for row in s.get("semi", []):
            rows.append(f"| {s['dataset']} | semi-supervised, {row['fraction']:.0%} labels, fine-tuned "
                        f"(random init: {row['random_init']:.1f}) | {row['pretrained']:.1f} |")
            if "distilled" in row:
                rows.append(f"| {s['dataset']} | semi-supervised, {row['fraction']:.0%} labels, the fine-tuned model "
                            f"distilled into width {row['student_width']:g} | {row['distilled']:.1f} |")
        if "supervised" in s:
            rows.append(f"| {s['dataset']} | reference: the same architecture trained from random init with all labels "
                        f"| {s['supervised']['accuracy']:.1f} |")
        for key in ("finetune", "transfer"):  # "transfer" in summaries made before the one trainer
            if not isinstance(s.get(key), dict) or "target" not in s[key]:
                continue
            t = s[key]
            rows.append(f"| {t['target']} | fine-tuned from {s['pretrained_on']} "
                        f"(random init: {t['random_init']:.1f}) | {t['pretrained']:.1f} |")
    return "\n".join(rows)


def made_by(meta: dict) -> list[str]:
    """The training commands behind a checkpoint, first to last: those of the checkpoints its
    run started from (``init=``, followed back to the start), each once, then its own; or the
    list a checkpoint made from another one carries (``made_by``: exported or derived ones)."""
    if meta.get("made_by"):
        return list(meta["made_by"])
    commands: list[str] = []
    config = meta["training"]["config"]
    parents = list(init_checkpoints(config.get("init", "")).values()) if meta.get("method") == "isc" else []
    parents += [config.get("method", {}).get("teacher")] if config.get("method", {}).get("teacher") else []
    for path in parents:  # ISC's init=, CRRL's teacher= (its step 1)
        commands += [c for c in made_by(read_meta(path)) if c not in commands]
    return commands + [meta["training"]["command"]]


def describe_method(method: str, cfg: dict, run: dict) -> tuple[str, str]:
    """(title, one sentence) of how an action checkpoint was pretrained, from its method's keys."""
    if method == "crrl":
        from trainers.methods.crrl import FUSIONS
        teacher = f"; {'started from' if FUSIONS[cfg['fusion']][3] == 'init' else 'distilled from'} {cfg['teacher']}" \
            if cfg.get("teacher") else ""
        return "CRRL", (f"CRRL, contrast-reconstruction representation learning (seed 003), the {cfg['fusion']} row of "
                        f"its Table VI{teacher}; velocities x{cfg['velocity_scale']:g}, queue {cfg['queue']}, "
                        f"temperature {cfg['temperature']}, distillation weight {cfg['distill_weight']}")
    if method == "byol":
        without = f" without {', '.join(cfg['without'])}" if cfg.get("without") else ""
        return "skeleton BYOL", (f"skeleton BYOL (seed 004): {cfg['pipelines']} augmentation pipelines{without}, "
                                 f"multi-viewpoint sampling {'on' if run.get('multi_view') else 'off'}, ST-GCN width "
                                 f"{cfg['width']:g}, target EMA {cfg['ema']} -> 1 (cosine), momentum BN alpha "
                                 f"{cfg['bn_momentum']}")
    terms = (["intra (MoCo per representation)"] if cfg["intra"] else []) + (
        ["inter (cross-contrast between representations)"] if cfg["inter"] else [])
    spatial = cfg["spatial"] + (f" (shear ±{cfg['shear']})" if cfg["spatial"] in ("shear", "random") else "") + (
        f" (jitter {cfg['jitter_joints']} joints)" if cfg["spatial"] in ("jitter", "random") else "")
    return "ISC", (f"ISC, inter-skeleton contrastive pretraining (seed 002): {' + '.join(terms)} over "
                   f"{', '.join(cfg['reps'])}; augmentations temporal crop-resize "
                   f"{'on' if cfg['temporal'] else 'off'} (l_min {cfg['l_min']}), spatial {spatial}")


def fusion_line(meta: dict) -> str:
    """The card's words for an encoder fused with the raw trajectory (``architecture.raw``)."""
    raw = meta["architecture"].get("raw")
    if not raw:
        return ""
    w = raw["weight"]
    return (f"\n- Fused with the raw trajectory (`engine.models.action.RawFused`): the unit learned feature times "
            f"sqrt({w:g}) joined to the unit flattened input window ({raw['size']} values, exactly what the "
            f"raw-coordinate baseline matches) times sqrt({1 - w:g}); a cosine between two is {w:g} x the learned "
            f"one + {1 - w:g} x the raw one. Chosen by issue 14's rule (`results/isc_all/RULE.md`, ninth "
            f"addendum) on validation splits only; made from the weights alone by `bash results/isc_all/fused.sh`.")


def export_action(src: Path, dst: Path, evals: list[str]) -> None:
    meta = read_meta(src)
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src.with_suffix(".safetensors"), dst.with_suffix(".safetensors"))
    summaries = [json.loads(Path(f).read_text()) for f in evals]
    meta = dict(meta, name=dst.name, exported_from=str(src))
    if summaries:
        meta["metrics"] = dict(meta.get("metrics", {}), evaluations=summaries)
    train = meta["training"]
    cfg = train["config"].get("method", train["config"])  # the method's keys (runs before the one trainer: flat)
    arch = {k: v for k, v in meta["architecture"].items() if k != "kind"}
    commands = made_by(meta) + [f"python -m trainers.export {src}" + "".join(f" --eval {e}" for e in evals),
                                f"skelstream prototypes --checkpoint {dst} --dataset nwucla,kard "
                                f"-o {dst}.prototypes.safetensors"]
    steps = [f"  {i + 1}. `{c}`" for i, c in enumerate(commands)]
    meta["made_by"] = commands  # an export of this export lists them all
    dst.with_suffix(".json").write_text(json.dumps(meta, indent=2))
    title, method = describe_method(meta.get("method", "isc"), cfg, train["config"])
    card = ACTION_CARD.format(
        name=dst.name, kind=meta["architecture"]["kind"], title=title, method=method,
        arch=f"{meta['architecture']['kind']} encoder {arch}", frames=meta["input"]["frames"],
        view=meta["input"]["view"], seconds=meta["input"]["seconds"], dim=meta["embedding"]["dim"],
        dataset=train["dataset"], protocol=train["protocol"],
        epochs=train.get("config", {}).get("epochs", len(train["history"])) if "epoch" in meta.get("metrics", {})
        else len(train["history"]),
        best=(f"; the weights of epoch {meta['metrics']['epoch']} (the "
              f"{meta['metrics'].get('kept', 'best validation loss')}, after "
              f"{train['minutes']:.0f} min)" if "epoch" in meta.get("metrics", {}) else f", {train['minutes']:.0f} min"),
        device=train["device"], steps="\n".join(steps), fusion=fusion_line(meta),
        size=dst.with_suffix(".safetensors").stat().st_size / 1e6, commit=meta.get("git_commit", "unknown"),
        results=results_table(summaries, meta["metrics"]))
    dst.with_suffix(".md").write_text(card)
    print(f"wrote {dst}.safetensors, .json and .md")


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m trainers.export", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("checkpoint", help="a run's checkpoint without suffix (runs/x/best, runs/isc/seq)")
    p.add_argument("--reid", help="gait: summary.json of `skelstream eval reid` on this checkpoint")
    p.add_argument("--eval", nargs="*", default=[], help="action: summary.json files of `skelstream eval action --out`")
    p.add_argument("--out", help="destination without suffix (default: the bundled checkpoint of its kind)")
    args = p.parse_args(argv)
    src = checkpoint_base(args.checkpoint)
    try:
        method = read_meta(src).get("method")
    except FileNotFoundError as exc:
        p.error(str(exc))
    if method in ACTION_METHODS:
        export_action(src, Path(args.out or DEFAULT_ACTION), args.eval)
    elif method in GAIT_METHODS:
        export_gait(src, Path(args.out or default_gait_destination(method)), args.reid)
    else:
        p.error(f"{src}: method {method!r} has no export ({', '.join(GAIT_METHODS + ACTION_METHODS)})")


if __name__ == "__main__":
    main()
