"""The embedded default: an engine, a replay and the dashboard from one command, no hardware and
no data to fetch.

Bundled (made by this project with `python -m app.demo --make`, deterministic):
- ``recordings/demo_walk.mcap``: 5 synthetic walkers for 40 s (the replay);
- ``recordings/demo_gallery.mcap``: the same 5 people 30 s later in their walk (the enrollments).
At launch the demo gallery is built from the second file in a private temporary folder, an
engine is started on ipc endpoints there, and the first file is replayed in a loop.

The demo gallery holds four of the five (`ENROLLED`); the fifth walker is a stranger to it and
stays "unknown". Synthetic walkers look much alike to the KGBD-trained gait model (every pair
scored above the raw KGBD threshold), which is what the gallery-normalised open set is for: the
threshold is set against the cross-person scores of the four enrolled (engine/identity.py). With
``--kgbd`` (needs ../shared/data) it replays real KGBD walks instead: 10 people walk, 8 of them
enrolled from their other walks, 2 strangers; the replay spreads the walks apart on the floor
(they were all recorded at one spot).

``python -m app.demo --make`` rewrites the two recordings (seed 0 was picked among 30 for the
clearest margins between the five walkers at 5 s; a display choice, not an evaluation).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import zmq

from engine.checkpoint import load_gait
from engine.embed import gait_embedding
from engine.gallery import Enrollment, Gallery
from engine.recording import RecordingWriter, Recording
from engine.shape import sequence_shape
from engine.sensors.synthetic import synthetic_frames

REPO = Path(__file__).resolve().parents[1]
WALK = REPO / "recordings" / "demo_walk.mcap"
GALLERY_WALKS = REPO / "recordings" / "demo_gallery.mcap"
WALKERS, SEED, WALK_SECONDS, GALLERY_SECONDS = 5, 0, 40.0, 30.0
NAMES = ("Ada", "Brian", "Chloe", "Dmitri", "Esther")
ENROLLED = 4  # the first four walkers are in the demo gallery; Esther is a stranger to it


def make_recordings() -> None:
    """Write the two bundled recordings (the walk, then the later enrollment walk)."""
    frames = synthetic_frames(WALKERS, seed=SEED, seconds=WALK_SECONDS + 10 + GALLERY_SECONDS, sensor="demo")
    with RecordingWriter(WALK) as walk, RecordingWriter(GALLERY_WALKS) as gallery:
        for frame in frames:
            if frame.t < WALK_SECONDS:
                walk.write_frame(frame)
            elif frame.t >= WALK_SECONDS + 10:
                gallery.write_frame(frame)
    print(f"wrote {WALK} and {GALLERY_WALKS}")


def build_gallery(path: Path, checkpoint: str | None = None) -> list[str]:
    """Enroll the first `ENROLLED` demo people from ``demo_gallery.mcap`` (one enrollment each)."""
    model, meta = load_gait(checkpoint)
    with Recording(GALLERY_WALKS) as rec, Gallery(path) as gallery:
        seqs = sorted(rec.sequences(), key=lambda s: int(s.meta.get("track", 0)))[:ENROLLED]
        for name, seq in zip(NAMES, seqs):
            gallery.enroll(name, [Enrollment(gait_embedding(model, meta, seq)[0], f"{GALLERY_WALKS.name}:{name}", seq)],
                           meta["name"], meta["fingerprint"])
    return list(NAMES[:len(seqs)])


def kgbd_demo(path: Path, root: Path, checkpoint: str | None = None) -> list[Path]:
    """Enroll 8 KGBD people from all their walks but one; return the walks to replay (their
    held-back walks and a walk each of 2 people never enrolled)."""
    from engine.datasets import open_dataset
    ds = open_dataset(root)
    people = ds.values("subject")[:10]
    walks = {p: [it.path for it in ds.items if it.meta["subject"] == p] for p in people}
    model, meta = load_gait(checkpoint)
    with Gallery(path) as gallery:
        for p in people[:8]:
            seqs = [(w, ds.read(w)) for w in walks[p][:-1]]
            gallery.enroll(p, [Enrollment(gait_embedding(model, meta, s)[0], str(w), shape=sequence_shape(s)) for w, s in seqs],
                           meta["name"], meta["fingerprint"])
    return [walks[p][-1] for p in people]


def endpoints(folder: Path) -> dict[str, str]:
    if zmq.has("ipc"):
        return {k: f"ipc://{folder}/{k}" for k in ("frames", "results", "control")}
    return {"frames": "tcp://127.0.0.1:5565", "results": "tcp://127.0.0.1:5566", "control": "tcp://127.0.0.1:5567"}


def start_engine(ep: dict[str, str], gallery: Path, checkpoint: str | None = None,
                 action_checkpoint: str | None = None, prototypes: str | None = None,
                 backend: str = "auto", action_smooth: int = 3) -> subprocess.Popen:
    args = [sys.executable, "-m", "engine.cli", "engine", "--frames", ep["frames"], "--results", ep["results"],
            "--control", ep["control"], "--gallery", str(gallery), "--backend", backend,
            "--action-smooth", str(action_smooth)]
    from engine.checkpoint import checkpoint_base
    gait = checkpoint_base(checkpoint) if checkpoint else None  # a path, or a bundled name (fast)
    for flag, value in (("--checkpoint", gait), ("--action-checkpoint", action_checkpoint),
                        ("--prototypes", prototypes)):
        args += [flag, str(Path(value).resolve())] if value else []
    return subprocess.Popen(args, cwd=REPO)


def run(kgbd: bool = False, data_root: str | None = None, checkpoint: str | None = None,
        screenshot: str | None = None, quit_after: float | None = None, action_checkpoint: str | None = None,
        prototypes: str | None = None, backend: str = "auto", action_smooth: int = 3) -> int:
    """The demo: gallery, engine, replay, window. Returns the Qt exit code."""
    from app.main import launch
    folder = Path(tempfile.mkdtemp(prefix="skelstream-demo-"))  # mode 0700: the gallery stays private
    gallery = folder / "gallery.db"
    try:
        if kgbd:
            from engine.datasets.cache import extract
            replay, bodies = kgbd_demo(gallery, Path(data_root) if data_root else extract("kgbd"), checkpoint), True
            print(f"demo gallery: 8 KGBD people enrolled; replaying {len(replay)} walks", flush=True)
        else:
            replay, bodies = [WALK], False
            print(f"demo gallery: {', '.join(build_gallery(gallery, checkpoint))} ({NAMES[ENROLLED]} walks too, "
                  f"not enrolled); replaying {WALK.name}", flush=True)
        ep = endpoints(folder)
        if action_checkpoint or prototypes:  # a wrong file is said here, not lost in the engine's log
            from engine.checkpoint import load_action, load_prototypes, prototypes_for
            _, meta = load_action(action_checkpoint)
            load_prototypes(prototypes or prototypes_for(action_checkpoint), meta["fingerprint"])
        engine = start_engine(ep, gallery, checkpoint, action_checkpoint, prototypes, backend, action_smooth)
        try:
            return launch(ep["results"], ep["control"], frames=ep["frames"], replay=[str(p) for p in replay],
                          bodies=bodies, screenshot=screenshot, quit_after=quit_after)
        finally:
            engine.terminate()
            try:
                engine.wait(10)
            except subprocess.TimeoutExpired:
                engine.kill()
    finally:
        time.sleep(0.1)
        shutil.rmtree(folder, ignore_errors=True)  # the demo gallery goes with it


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m app.demo", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--make", action="store_true", help="rewrite the bundled demo recordings")
    args = p.parse_args(argv)
    if args.make:
        make_recordings()
    else:
        sys.exit(run())


if __name__ == "__main__":
    main()
