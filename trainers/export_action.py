"""Export a trained action checkpoint as the bundled default, with a model card.

``python -m trainers.export_action RUN/REP [--eval EVAL/summary.json ...] [--out PATH]``: the
encoder's weights (float32: a small model, and rounding is not worth its risk) and metadata are
copied; the card lists what the model is, its input, how it was made and its evaluation results
(from `skelstream eval action ... --out EVAL` summaries). Then build the prototypes the engine
uses with `skelstream prototypes -o engine/models/weights/action_isc_nwucla.prototypes.safetensors`.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

from engine.checkpoint import DEFAULT_ACTION, read_meta
from trainers.isc import init_checkpoints

CARD = """# {name}: ISC action encoder ({kind})

- Method: ISC, inter-skeleton contrastive pretraining (seed 002): {pairs}; augmentations
  {augment}. Self-supervised: no labels were used in pretraining.
- Architecture: {arch}.
- Input: {frames} frames of the 20 Kinect v1 joints (canonical names) per clip, through
  {view}. Live, the engine encodes the newest
  {seconds:g} s of each track resampled to {frames} frames.
- Output: a {dim}-value feature; L2-normalised for kNN, prototypes and `skelstream embed --kind action`.
- Pretraining data: {dataset}, {protocol}; {epochs} epochs, {minutes:.0f} min on {device}.
- Made by:
{steps}
- Weights: float32, {size:.1f} MB; git commit {commit}.

## Results
{results}
"""


def results_table(summaries: list[dict], frozen: dict) -> str:
    rows = ["| dataset | protocol | accuracy (%) |", "|---|---|---|"]
    frozen = frozen | {s["dataset"]: s for s in summaries if "knn" in s and "linear" in s}
    for ds, r in frozen.items():
        rows += [f"| {ds} | kNN (k=1), frozen | {r['knn']:.1f} |", f"| {ds} | linear, frozen | {r['linear']:.1f} |"]
    for s in summaries:
        for row in s.get("semi", []):
            rows.append(f"| {s['dataset']} | semi-supervised, {row['fraction']:.0%} labels, fine-tuned "
                        f"(random init: {row['random_init']:.1f}) | {row['pretrained']:.1f} |")
        if "supervised" in s:
            rows.append(f"| {s['dataset']} | reference: the same architecture trained from random init with all labels "
                        f"| {s['supervised']['accuracy']:.1f} |")
        if "transfer" in s:
            t = s["transfer"]
            rows.append(f"| {t['target']} | transfer from {s['pretrained_on']}, fine-tuned "
                        f"(random init: {t['random_init']:.1f}) | {t['pretrained']:.1f} |")
    return "\n".join(rows)


def made_by(meta: dict) -> list[str]:
    """The training commands behind a checkpoint, first to last: those of the checkpoints its
    run started from (``init=``, followed back to the start), each once, then its own."""
    commands: list[str] = []
    for path in init_checkpoints(meta["training"]["config"].get("init", "")).values():
        commands += [c for c in made_by(read_meta(path)) if c not in commands]
    return commands + [meta["training"]["command"]]


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("checkpoint", help="an ISC run's checkpoint without suffix (e.g. runs/isc/seq)")
    p.add_argument("--eval", nargs="*", default=[], help="summary.json files of `skelstream eval action --out`")
    p.add_argument("--out", default=str(DEFAULT_ACTION), help="destination without suffix")
    args = p.parse_args(argv)
    src, dst = Path(args.checkpoint), Path(args.out)
    meta = read_meta(src)
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src.with_suffix(".safetensors"), dst.with_suffix(".safetensors"))
    summaries = [json.loads(Path(f).read_text()) for f in args.eval]
    meta = dict(meta, name=dst.name, exported_from=str(src))
    if summaries:
        meta["metrics"] = dict(meta.get("metrics", {}), evaluations=summaries)
    dst.with_suffix(".json").write_text(json.dumps(meta, indent=2))
    cfg, train = meta["training"]["config"], meta["training"]
    arch = {k: v for k, v in meta["architecture"].items() if k != "kind"}
    terms = (["intra (MoCo per representation)"] if cfg["intra"] else []) + (
        ["inter (cross-contrast between representations)"] if cfg["inter"] else [])
    commands = made_by(meta) + [f"python -m trainers.export_action {src}",
                                "skelstream prototypes -o engine/models/weights/action_isc_nwucla.prototypes.safetensors"]
    steps = [f"  {i + 1}. `{c}`" for i, c in enumerate(commands)]
    spatial = cfg["spatial"] + (f" (shear ±{cfg['shear']})" if cfg["spatial"] in ("shear", "random") else "") + (
        f" (jitter {cfg['jitter_joints']} joints)" if cfg["spatial"] in ("jitter", "random") else "")
    card = CARD.format(
        name=dst.name, kind=meta["architecture"]["kind"], pairs=" + ".join(terms) + f" over {', '.join(cfg['reps'])}",
        augment=f"temporal crop-resize {'on' if cfg['temporal'] else 'off'} (l_min {cfg['l_min']}), spatial {spatial}",
        arch=f"{meta['architecture']['kind']} encoder {arch}", frames=meta["input"]["frames"],
        view=meta["input"]["view"], seconds=meta["input"]["seconds"], dim=meta["embedding"]["dim"],
        dataset=train["dataset"], protocol=train["protocol"], epochs=len(train["history"]),
        minutes=train["minutes"], device=train["device"], steps="\n".join(steps),
        size=dst.with_suffix(".safetensors").stat().st_size / 1e6, commit=meta.get("git_commit", "unknown"),
        results=results_table(summaries, meta["metrics"]["frozen"]))
    dst.with_suffix(".md").write_text(card)
    print(f"wrote {dst}.safetensors, .json and .md")


if __name__ == "__main__":
    main()
