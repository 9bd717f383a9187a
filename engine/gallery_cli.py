"""Gallery commands of ``skelstream``: ``enroll``, ``identify``, ``gallery list|rename|remove|export|reencode``."""

from __future__ import annotations

import json
import os
import sys
from datetime import datetime
from pathlib import Path

from engine.argtypes import at_least, cosine

DEFAULT_GALLERY = Path(os.environ.get("SKELSTREAM_GALLERY",
                                      Path.home() / ".local" / "share" / "skelstream" / "gallery.db"))


def _encoder(args):
    from engine.checkpoint import load_gait
    return load_gait(args.checkpoint, device=args.device)


def _sequences(paths: list[str]):
    """(file as given, sequence) for every sequence of every input."""
    from engine.datasets import read_file
    for path in paths:
        for seq in read_file(Path(path)):
            yield path, seq


def _people(n: int) -> str:
    return f"{n} {'person' if n == 1 else 'people'}"


def cmd_enroll(args) -> None:
    from engine.embed import gait_embedding
    from engine.gallery import Enrollment, Gallery
    from engine.shape import sequence_shape
    model, meta = _encoder(args)
    items = []
    for path, seq in _sequences(args.inputs):
        emb, _ = gait_embedding(model, meta, seq)
        track = seq.meta.get("track")
        items.append(Enrollment(emb, f"{path}#{track}" if track is not None else path,
                                None if args.no_skeleton else seq, sequence_shape(seq)))
    with Gallery(args.gallery) as g:
        n = g.enroll(args.name, items, meta["name"], meta["fingerprint"])
    print(f"enrolled {args.name!r}: {n} sequence(s) into {args.gallery} (checkpoint {meta['name']})")


def cmd_identify(args) -> None:
    from engine.embed import gait_embedding
    from engine.gallery import Gallery
    from engine.identity import cohort_of, identify, open_set_threshold, threshold_of
    from engine.shape import ShapeGallery, sequence_shape
    model, meta = _encoder(args)
    if args.threshold is None:
        threshold_of(meta)  # fails early, naming the fix, when the checkpoint has none
    with Gallery(args.gallery, create=False) as g:
        if not g.people():
            raise ValueError(f"{args.gallery}: nobody is enrolled yet (skelstream enroll --name NAME FILE)")
        names, emb = g.embeddings(meta["fingerprint"])
        shapes = None if args.no_shape else ShapeGallery(g.shapes(meta["fingerprint"]), names)
        stale = g.stale(meta["fingerprint"])
    if stale:
        checkpoint = f" --checkpoint {args.checkpoint}" if args.checkpoint else ""
        print(f"warning: {len(stale)} enrollment(s) belong to another checkpoint and are not used; run "
              f"`skelstream gallery reencode --gallery {args.gallery}{checkpoint}`")
    cohort, people = cohort_of(meta, names, emb), len(set(names))
    if cohort is not None and cohort.source != "gallery" and args.threshold is None:
        print(f"note: {_people(people)} enrolled ({cohort.pairs} pair{'' if cohort.pairs == 1 else 's'} of people): "
              "the open-set threshold leans on the training data's statistics until the gallery holds more people",
              file=sys.stderr)
    results = []
    for path in args.inputs:
        tracks = []
        for _, seq in _sequences([path]):
            e, windows = gait_embedding(model, meta, seq)
            seconds = float(seq.timestamps[-1] - seq.timestamps[0])
            threshold = (args.threshold if args.threshold is not None
                         else open_set_threshold(meta, seconds, people, cohort))
            m = identify(e, names, emb, threshold, args.top, None if args.no_shape else sequence_shape(seq), shapes)
            tracks.append((len(windows), seq.meta.get("track"), m, threshold))
        _, _, best, threshold = max(tracks, key=lambda t: t[0])  # the longest track speaks for the file
        row = {"file": path, **best.to_dict(), "threshold": round(threshold, 4),
               "cohort": cohort.to_dict() if cohort is not None and args.threshold is None else None}
        if len(tracks) > 1:
            row["tracks"] = [{"track": tr, **m.to_dict(), "threshold": round(t, 4)} for _, tr, m, t in tracks]
        results.append(row)
    if args.json:
        print(json.dumps(results, indent=2))
        return
    for r in results:
        top = ", ".join(f"{t['name']} {t['score']:.3f}" for t in r["top"])
        print(f"{r['file']}: {r['decision']} ({r['score']:.3f}; threshold {r['threshold']:.3f}; "
              f"ranked by {r['cue']}; top: {top})")


def cmd_gallery(args) -> None:
    from engine.gallery import Gallery
    if args.action == "export" and Path(args.out).exists():
        raise FileExistsError(f"{args.out}: exists; remove it first or name another file")
    with Gallery(args.gallery, create=False) as g:
        if args.action == "list":
            people = g.people()
            for p in people:
                when = datetime.fromtimestamp(p.created).strftime("%Y-%m-%d %H:%M")
                print(f"{p.name:<24} {p.enrollments:>3} enrollment(s)  since {when}  checkpoint {', '.join(p.checkpoints)}")
            print(f"{_people(len(people))} in {args.gallery}")
        elif args.action == "rename":
            g.rename(args.old, args.new)
            print(f"renamed {args.old!r} to {args.new!r}")
        elif args.action == "remove":
            for name in args.remove:
                print(f"removed {name!r} and {g.remove(name)} enrollment(s) with their skeletons")
        elif args.action == "export":
            print(f"wrote {g.export(args.out)} (mode 0600: it holds biometric data)")
        else:
            from engine.embed import gait_embedding
            model, meta = _encoder(args)
            done, flagged = g.reencode(lambda seq: gait_embedding(model, meta, seq)[0], meta["name"],
                                       meta["fingerprint"])
            print(f"re-encoded {done} enrollment(s) with {meta['name']}; {flagged} without a stored skeleton "
                  "stay flagged (enroll those people again)")


def register(sub) -> None:
    """Add the gallery commands to the skelstream parser's subparsers."""
    def common(p, checkpoint: bool = True):
        p.add_argument("--gallery", default=str(DEFAULT_GALLERY),
                       help=f"gallery file (default {DEFAULT_GALLERY}, or $SKELSTREAM_GALLERY)")
        if checkpoint:
            p.add_argument("--checkpoint", help="gait checkpoint without suffix, or fast (default: the bundled one)")
            p.add_argument("--device", default="cpu")

    s = sub.add_parser("enroll", help="enroll a person into the gallery from skeleton files",
                       description="Add a person (or more sequences of one) to the gallery: one gait embedding "
                       "per sequence of each FILE (any supported input). The skeletons are stored too, so "
                       "the enrollment can be re-encoded when the checkpoint changes (--no-skeleton: not).")
    s.add_argument("inputs", nargs="+", metavar="FILE")
    s.add_argument("--name", required=True)
    s.add_argument("--no-skeleton", action="store_true", help="store embeddings only")
    common(s)
    s.set_defaults(func=cmd_enroll)

    s = sub.add_parser("identify", help="who walks in these files (open set)",
                       description="For each FILE: the enrolled person whose enrollments best match its gait "
                       "(cosine), or 'unknown' when the best score is under the open-set threshold. The "
                       "threshold is set against the gallery in use (its people's cross-person scores, with "
                       "the checkpoint's calibration; engine/identity.py), so it holds on a sensor nobody "
                       "calibrated. With two or more people enrolled, people are ranked by gait and body "
                       "shape together (engine/shape.py; --no-shape: gait alone); the named person's gait "
                       "score still has to clear the threshold. --json prints a list of {file, decision, "
                       "score, cue, threshold, cohort, top: [{name, score}]}.")
    s.add_argument("inputs", nargs="+", metavar="FILE")
    s.add_argument("--json", action="store_true")
    s.add_argument("--threshold", type=cosine, help="override the checkpoint's threshold (a cosine in [-1, 1])")
    s.add_argument("--top", type=at_least(1, int), default=5, help="how many people to list (default 5)")
    s.add_argument("--no-shape", action="store_true", help="rank by gait alone (no body-shape cue)")
    common(s)
    s.set_defaults(func=cmd_identify)

    s = sub.add_parser("gallery", help="list, rename, remove, export or re-encode enrolled people",
                       description="Manage the gallery: list | rename OLD NEW | remove NAME... | export OUT.json | "
                       "reencode. Options may come before or after the names.")
    actions = s.add_subparsers(dest="action", required=True, metavar="ACTION")
    a = actions.add_parser("list", help="the enrolled people", description="The enrolled people, their "
                           "enrollments, since when, and the checkpoints that encoded them.")
    common(a, checkpoint=False)
    a = actions.add_parser("rename", help="rename a person", description="Rename person OLD to NEW.")
    a.add_argument("old", metavar="OLD")
    a.add_argument("new", metavar="NEW")
    common(a, checkpoint=False)
    a = actions.add_parser("remove", help="remove people and everything stored of them",
                           description="Remove each NAME: the person, their embeddings and stored skeletons.")
    a.add_argument("remove", nargs="+", metavar="NAME")
    common(a, checkpoint=False)
    a = actions.add_parser("export", help="write the gallery as JSON (mode 0600)",
                           description="Write every person, enrollment and embedding to OUT.json (mode 0600: it "
                           "holds biometric data); an existing file is not overwritten.")
    a.add_argument("out", metavar="OUT.json")
    common(a, checkpoint=False)
    a = actions.add_parser("reencode", help="re-encode enrollments of another checkpoint",
                           description="Re-encode the enrollments made with another checkpoint from their stored "
                           "skeletons, with --checkpoint (default: the bundled one).")
    common(a)
    s.set_defaults(func=cmd_gallery)
