"""The ``skelstream`` command: ``skelstream SUBCOMMAND --help`` explains each subcommand."""

from __future__ import annotations

import argparse
import json
import os
import sys
import warnings
from importlib.metadata import entry_points
from pathlib import Path

import numpy as np
from tqdm import tqdm

from engine.argtypes import at_least
from engine.datasets import FORMATS, open_dataset, read_file, write_csv, write_npz
from engine.sequence import SkeletonDataError, SkeletonSequence
from engine.gallery_cli import register as register_gallery
from engine.stream_cli import register as register_streaming


def _summary(seqs: list[SkeletonSequence]) -> dict:
    frames = [len(s) for s in seqs]
    return {
        "sequences": len(seqs), "frames": int(sum(frames)),
        "duration_s": round(sum(s.duration for s in seqs), 3),
        "frames_min_median_max": [min(frames), int(np.median(frames)), max(frames)] if frames else [],
        "joints": sorted({len(s.layout) for s in seqs}),
        "layouts": sorted({s.layout.name for s in seqs}),
        "missing_joint_fraction": round(float(np.mean([(s.confidence == 0).mean() for s in seqs])), 4)
        if seqs else 0.0,
    }


def info(path: Path) -> dict:
    """What a file or dataset root holds, as a JSON-able dict."""
    if path.is_dir():
        ds = open_dataset(path)
        seqs = [s for s in tqdm(ds, total=len(ds), desc=f"reading {ds.name}", unit="seq",
                                disable=None, leave=False)]
        out = {"path": str(path), "dataset": ds.name} | _summary(seqs)
        for key in ("subject", "action", "view", "session", "walk"):
            if ds.values(key):
                out[key + "s"] = len(ds.values(key))
        return out
    seqs = read_file(path)
    out = {"path": str(path), "format": FORMATS[path.suffix.lower()]} | _summary(seqs)
    if path.suffix.lower() == ".mcap":
        from engine.recording import Recording
        with Recording(path) as rec:
            out["sensors"] = {name: rec.frame_count(name) for name in rec.sensors}
            out["recording_frames"] = rec.frame_count()
            out["recording_duration_s"] = round(rec.duration, 3)
            out["truncated"] = rec.truncated
    out["items"] = [{"frames": len(s), "duration_s": round(s.duration, 3), "joints": len(s.layout),
                     "layout": s.layout.name, "fps": s.fps,
                     **{k: v for k, v in s.meta.items() if k != "source"}} for s in seqs[:50]]
    return out


def _print_info(d: dict) -> None:
    items = d.pop("items", [])
    width = max(len(k) for k in d)
    for key, value in d.items():
        print(f"{key:<{width}}  {value}")
    for i, item in enumerate(items):
        print(f"  [{i}] " + ", ".join(f"{k}={v}" for k, v in item.items()))


def cmd_info(args) -> None:
    results = [info(Path(p)) for p in args.paths]
    if args.json:
        print(json.dumps(results if len(results) > 1 else results[0], indent=2))
        return
    for i, d in enumerate(results):
        if i:
            print()
        _print_info(d)


def _inputs(paths: list[str]) -> list[tuple[Path, list[SkeletonSequence]]]:
    out = []
    for p in map(Path, paths):
        if p.is_dir():
            ds = open_dataset(p)
            out += [(it.path, [ds.read(it.path)]) for it in tqdm(ds.items, desc=f"reading {p}",
                                                                 disable=None, leave=False)]
        else:
            out.append((p, read_file(p)))
    return out


def _unique(name: str, taken: set[str]) -> str:
    base, k = name, 1
    while name in taken:
        k += 1
        name = f"{base}-{k}"
    taken.add(name)
    return name


def _plain(seq: SkeletonSequence) -> SkeletonSequence:
    return seq if seq.layout.is_canonical_subset else seq.canonical()


def cmd_convert(args) -> None:
    out = Path(args.output)
    inputs = _inputs(args.inputs)
    suffix = out.suffix.lower()
    if suffix == ".mcap":
        from engine.recording import write_sequences
        taken: set[str] = set()
        groups = {_unique(path.stem, taken): seqs for path, seqs in inputs}
        write_sequences(out, groups)
        print(f"wrote {out}: {len(groups)} sensor(s), "
              f"{sum(len(s) for g in groups.values() for s in g)} body frames")
        return
    seqs = [s for _, group in inputs for s in group]
    writers = {".npz": write_npz, ".csv": write_csv}
    if suffix in writers:
        if len(seqs) != 1:
            raise SkeletonDataError(f"{out}: {len(seqs)} sequences do not fit one {suffix} file; "
                                    f"give a folder as -o to write one file per sequence")
        writers[suffix](_plain(seqs[0]), out)
        print(f"wrote {out}: {len(seqs[0])} frames")
        return
    if suffix:
        raise SkeletonDataError(f"{out}: output must be .mcap, .npz, .csv or a folder")
    out.mkdir(parents=True, exist_ok=True)
    taken = set()
    for path, group in inputs:
        for seq in group:
            name = path.stem if len(group) == 1 else f"{path.stem}_track{seq.meta.get('track', '0')}"
            write_npz(_plain(seq), out / f"{_unique(name, taken)}.npz")
    print(f"wrote {len(taken)} NPZ file(s) to {out}")


def cmd_data(args) -> None:
    from engine.datasets.cache import ARCHIVES, extract
    for name in args.names or list(ARCHIVES):
        print(f"{name}: {extract(name)}")


def cmd_synthetic(args) -> None:
    from engine.recording import write_sequences
    from engine.sensors.synthetic import walkers
    if Path(args.output).suffix != ".mcap":
        raise ValueError(f"{args.output}: a recording is written as MCAP; name it OUT.mcap")
    seqs = walkers(args.walkers, args.seconds, args.fps, args.seed)
    for s in seqs:
        s.meta["source"] = f"skelstream synthetic --walkers {args.walkers} --seed {args.seed}"
    write_sequences(args.output, {"synthetic": seqs})
    print(f"wrote {args.output}: {args.walkers} walker(s), {args.seconds} s at {args.fps} Hz")


def cmd_embed(args) -> None:
    from engine.checkpoint import load_action, load_gait
    from engine.embed import action_embedding, gait_embedding
    if Path(args.output).suffix != ".npz" or Path(args.output).is_dir():
        raise ValueError(f"{args.output}: embeddings are written as NumPy's .npz; name the file OUT.npz")
    load, embed = (load_gait, gait_embedding) if args.kind == "gait" else (load_action, action_embedding)
    model, meta = load(args.checkpoint, device=args.device)
    rows, files, tracks, windows, owner = [], [], [], [], []
    for path in args.inputs:
        for seq in read_file(Path(path)):
            emb, per_window = embed(model, meta, seq)
            owner.append(np.full(len(per_window), len(rows)))
            rows.append(emb)
            windows.append(per_window)
            files.append(path)
            tracks.append(seq.meta.get("track", "0"))
    name = meta["name"]
    with open(os.open(args.output, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600), "wb") as fh:  # biometric data: private
        np.savez(fh, embeddings=np.stack(rows).astype(np.float32), files=np.array(files),
             tracks=np.array(tracks), window_embeddings=np.concatenate(windows).astype(np.float32),
                 window_owner=np.concatenate(owner), checkpoint=np.array(name), kind=np.array(args.kind))
    print(f"wrote {args.output}: {len(rows)} {args.kind} embedding(s) of size {rows[0].shape[0]} "
          f"({sum(len(w) for w in windows)} windows), checkpoint {name}")


def cmd_export(args) -> None:
    from engine.runtime import export_onnx
    if not args.onnx:
        raise ValueError("say the format: --onnx (model cards and bundled defaults: python -m trainers.export)")
    if args.cache:
        if args.out:
            raise ValueError("--cache writes into the user cache; leave out -o/--out")
        from engine.runtime import warm_cache
        for path in warm_cache([args.checkpoint]):
            print(f"ready: {path}")
        return
    path, diff = export_onnx(args.checkpoint, args.out)
    print(f"wrote {path}; max abs difference to PyTorch on 3 example inputs: {diff:.1e}")


def cmd_play(args) -> None:
    from engine.player import play
    play(Path(args.path), speed=args.speed, loop=args.loop)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="skelstream", description="Gait identification and action embeddings from 3D "
        "skeleton streams. Input formats: " + "; ".join(f"{k} {v}" for k, v in FORMATS.items()))
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    s = sub.add_parser("info", help="what a file or a dataset folder holds",
                       description="Print what a skeleton file (any supported format, or a "
                       "recording) or a dataset root (KGBD, NW-UCLA, MSR Action3D, NTU, a folder "
                       "of NPZ/CSV) holds: sequences, frames, duration, joints, subjects, actions, "
                       "views.")
    s.add_argument("paths", nargs="+", metavar="PATH")
    s.add_argument("--json", action="store_true", help="print JSON instead of text")
    s.set_defaults(func=cmd_info)

    s = sub.add_parser("convert", help="convert skeleton files to a recording, NPZ or CSV",
                       description="Convert dataset files, generic files or recordings. OUT "
                       "ending in .mcap: one recording, one sensor per input file. OUT ending in "
                       ".npz or .csv: exactly one sequence. Otherwise OUT is a folder that gets "
                       "one NPZ per sequence. Layouts without canonical names (MediaPipe) are "
                       "mapped onto the canonical joints for NPZ/CSV.")
    s.add_argument("inputs", nargs="+", metavar="INPUT", help="files or dataset folders")
    s.add_argument("-o", "--output", required=True, metavar="OUT")
    s.set_defaults(func=cmd_convert)

    s = sub.add_parser("data", help="extract the shared real-data archives into the cache",
                       description="Extract ../shared/data archives (or $SKELSTREAM_SHARED_DATA) "
                       "into $SKELSTREAM_CACHE (default ~/.cache/skelstream) once, and print "
                       "where each dataset root is.")
    s.add_argument("names", nargs="*", metavar="NAME", help="kgbd, nwucla, msr_action3d, utd_mhad, kard (default all)")
    s.set_defaults(func=cmd_data)

    s = sub.add_parser("synthetic", help="write a recording of synthetic walkers",
                       description="Write a recording of N distinct synthetic people walking "
                       "back and forth in front of a Kinect, deterministic from --seed.")
    s.add_argument("-o", "--output", required=True, metavar="OUT.mcap")
    s.add_argument("--walkers", type=at_least(1, int), default=2, help="how many people (default 2)")
    s.add_argument("--seconds", type=at_least(0.5), default=20.0, help="length (default 20)")
    s.add_argument("--fps", type=at_least(1), default=30.0, help="frame rate (default 30)")
    s.add_argument("--seed", type=int, default=0, help="random seed: the same seed, the same people (default 0)")
    s.set_defaults(func=cmd_synthetic)

    s = sub.add_parser("embed", help="gait or action embeddings of skeleton files",
                       description="One L2-normalised embedding per input sequence plus per-window ones, "
                       "for any supported input. Gait: the mean of its window encodings (whitened when "
                       "the checkpoint has a whitening). Action: the whole clip resampled to the "
                       "checkpoint's frames, and windows of the engine's live length every 0.5 s. "
                       "OUT.npz holds embeddings [N, D], files [N], tracks [N], window_embeddings "
                       "[M, D], window_owner [M] (row of embeddings), checkpoint and kind.")
    s.add_argument("inputs", nargs="+", metavar="FILE")
    s.add_argument("--kind", choices=["gait", "action"], default="gait",
                   help="which encoder: gait (identity) or action; the default checkpoint of each is bundled")
    s.add_argument("--checkpoint", help="checkpoint path without suffix, or fast (the bundled gait student) "
                   "(default: the bundled one)")
    s.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    s.add_argument("-o", "--output", required=True, metavar="OUT.npz", help="written with mode 0600 (biometric data)")
    s.set_defaults(func=cmd_embed)

    s = sub.add_parser("export", help="export a checkpoint's encoder to ONNX (for --backend onnx)",
                       description="Write CHECKPOINT.onnx beside a gait (SGE-LA, A3D, its distilled student) or "
                       "action (ISC, CRRL, BYOL) checkpoint: the encoder's inference pass, dynamic batch, opset 18, "
                       "the weights' fingerprint in its metadata (the engine refuses a stale file). Checked against PyTorch "
                       "on the spot.")
    s.add_argument("checkpoint", nargs="?", help="checkpoint path without suffix (default: the bundled gait one)")
    s.add_argument("--onnx", action="store_true", help="ONNX (the one format for now)")
    s.add_argument("-o", "--out", help="where (default CHECKPOINT.onnx)")
    s.add_argument("--cache", action="store_true",
                   help="export into the user cache the engine reads at start instead (unless there already), "
                   "by default the bundled gait and action checkpoints: then `skelstream engine` (--backend auto "
                   "or onnx) starts without exporting. `make setup` runs `skelstream export --onnx --cache`")
    s.set_defaults(func=cmd_export)

    register_streaming(sub)
    register_gallery(sub)
    for plugin in entry_points(group="skelstream.commands"):
        plugin.load()(sub)

    s = sub.add_parser("play", help="replay a skeleton file in the terminal",
                       description="Replay any supported file in real time as a front view "
                       "drawn in the terminal (a status line a second when not on a terminal).")
    s.add_argument("path", metavar="PATH")
    s.add_argument("--speed", type=at_least(0), default=1.0, help="playback speed (default 1); 0 = as fast as possible")
    s.add_argument("--loop", action="store_true", help="start again at the end (Ctrl-C stops)")
    s.set_defaults(func=cmd_play)
    return p


def _warning(message, category, filename, lineno, file=None, line=None) -> None:
    """Warnings on the terminal as one line (no source line of ours)."""
    print(f"warning: {message}", file=sys.stderr if file is None else file)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    warnings.showwarning = _warning
    try:
        args.func(args)
    except (SkeletonDataError, FileNotFoundError, KeyError, PermissionError, ValueError, OSError) as exc:
        msg = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        print(f"skelstream {args.command}: error: {msg}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
