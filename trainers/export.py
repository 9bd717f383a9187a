"""Export a trained gait checkpoint as a bundled default: encoder weights only, float16, with a
model card. ``python -m trainers.export RUN/best [--reid RESULTS/summary.json] [--name NAME]``."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from engine.checkpoint import DEFAULT_GAIT, read_meta

CARD = """# {name}: SGE-LA / CAGE gait encoder

- Method: SGE-LA with {attention} attention, pretext {pretext}, LCL {lcl} (seed 000); architecture
  {arch}.
- Input: windows of {window} frames of the 20 Kinect v1 joints (canonical names); {normalisation}.
- Output: sequence-level encoding of {seq_dim} values per window (skeleton-level {frame_dim});
  {whitening}; the embedding of a sequence is the L2-normalised mean of its window features.
- Open-set threshold: {identity}
- Training data: {dataset}, protocol {protocol} (split seed {split}): {train_walks} training walks,
  {held} walks held out (never seen in pretraining), {val} validation walks for early stopping.
  No labels were used.
- Made by:
{steps}
- Training: best validation loss {val_loss:.4f} at epoch {best_epoch} (the checkpoint kept).
- Weights stored as float16 ({size:.1f} MB); git commit {commit}.

## Re-ID results on the held-out walks
{results}
"""


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("checkpoint", help="trained checkpoint without suffix (e.g. runs/x/best)")
    p.add_argument("--reid", help="summary.json of `skelstream eval reid` on this checkpoint")
    p.add_argument("--out", default=str(DEFAULT_GAIT), help="destination without suffix")
    args = p.parse_args(argv)
    src, dst = Path(args.checkpoint), Path(args.out)
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
    if args.reid:
        summary = json.loads(Path(args.reid).read_text())["summary"]
        meta["metrics"] = dict(meta.get("metrics", {}), reid=summary)
        rows = ["| scorer | probe unit | Rank-1 | Rank-5 | nAUC | mAP |", "|---|---|---|---|---|---|"]
        for scorer in ("matching", "recognition_ap", "recognition_sc"):
            for unit in ("per_window", "per_walk"):
                get = lambda m: summary.get(f"{scorer}.{unit}.{m}", {}).get("mean")  # noqa: E731
                if get("rank1") is None:
                    continue
                cells = [f"{get(m):.1f}" if get(m) is not None else "-" for m in ("rank1", "rank5", "nauc", "map")]
                rows.append(f"| {scorer} | {unit} | " + " | ".join(cells) + " |")
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
    steps.append(f"  {len(steps) + 1}. `python -m trainers.export {src}" + (f" --reid {args.reid}`" if args.reid else "`")
                 + (" (float16 weights; the open-set thresholds are calibrated on them, as `skelstream eval "
                    "calibrate` does)" if "identity" in meta else ""))
    dst.with_suffix(".md").write_text(CARD.format(
        name=dst.name, attention=hp["attention"].upper(), pretext=hp["pretext"], lcl="on" if hp["lcl"] else "off",
        arch=f"{arch['layers']}-layer LSTMs of {arch['hidden']} units per axis", window=meta["input"]["window"],
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


if __name__ == "__main__":
    main()
