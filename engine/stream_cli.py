"""The streaming commands of ``skelstream``: ``sensor KIND``, ``record``, ``keys``, ``bench``."""

from __future__ import annotations

import argparse

from engine.argtypes import at_least, cosine
from engine.bus import DEFAULT_FRAMES


def _publisher(args):
    from engine.bus import Publisher
    return Publisher(args.endpoint, args.curve_secret)


def cmd_sensor(args) -> None:
    from engine.bus import publish, timeline
    if args.kind == "replay":
        from engine.sensors.replay import replay_timeline
        frames = replay_timeline(args.paths, bodies=args.bodies, start=args.start, end=args.end, loop=args.loop)
        speed = args.speed
    elif args.kind == "synthetic":
        from engine.sensors.synthetic import synthetic_frames
        frames = timeline(synthetic_frames(args.walkers, args.seed, args.fps, args.seconds, args.sensor))
        speed = args.speed
    elif args.kind == "mediapipe":
        from engine.sensors.mediapipe import mediapipe_frames
        frames = timeline(mediapipe_frames(args.source, model=args.model, num_poses=args.num_poses, sensor=args.sensor,
                                  stats_every=0 if args.quiet else 5.0))
        speed = 0.0 if args.source.isdigit() else args.speed  # a camera paces itself
    else:
        import sys

        from engine.sensors.kinect import kinect_frames, load_pykinect2
        if sys.platform != "win32":
            load_pykinect2()  # says what the adapter needs, before anything is announced
        frames = timeline(kinect_frames(args.sensor))
        speed = 0.0
    publisher = _publisher(args)
    # a file replay waits for its first subscriber by default (ZeroMQ drops what is published before
    # a subscriber has joined: a recorder started first would miss the first frames); live sensors do not
    wait = args.wait if args.wait else (1 if args.kind == "replay" and not args.no_wait else 0)
    if wait:
        limit = args.wait_timeout if args.wait_timeout > 0 else None
        print(f"waiting for {wait} subscriber(s) on {args.endpoint}"
              + (f" (at most {limit:g} s" + ("; --no-wait skips this)" if args.kind == "replay" else ")") if limit else ""),
              flush=True)
        if not publisher.wait_for_subscribers(wait, timeout=limit):
            print(f"no subscriber after {limit:g} s: publishing anyway (frames before one joins are lost)", flush=True)
    print(f"publishing {args.kind} frames on {args.endpoint} (Ctrl-C stops)", flush=True)
    publish(frames, publisher, speed=speed, progress=not args.quiet)


def cmd_record(args) -> None:
    from engine.recorder import record
    print(f"recording {', '.join(args.endpoint)} to {args.output} (Ctrl-C stops)", flush=True)
    record(args.output, args.endpoint, args.sensors, args.server_key, args.duration, args.idle)


def cmd_keys(args) -> None:
    from engine.bus import make_keys
    public, secret = make_keys(args.folder, args.name)
    print(f"public key {public} (give to subscribers: --server-key)\nsecret key {secret} "
          "(mode 0600; the publisher's --curve-secret)")


def cmd_mediapipe_model(args) -> None:
    from engine.sensors.pose_model import make_pose_task
    print(f"wrote {make_pose_task(args.output)}")


def cmd_engine(args) -> None:
    from engine.gallery_cli import DEFAULT_GALLERY
    from engine.server import EngineConfig, serve
    serve(EngineConfig(frames=args.frames, results=args.results, control=args.control,
                       gallery=args.gallery or str(DEFAULT_GALLERY), checkpoint=args.checkpoint, device=args.device,
                       context=args.context, evidence=args.evidence, threshold=args.threshold,
                       threads=args.threads, backend=args.backend, stagger=not args.no_stagger, action=not args.no_action,
                       action_checkpoint=args.action_checkpoint, prototypes=args.prototypes,
                       action_smooth=args.action_smooth, shape=not args.no_shape))


def cmd_bench(args) -> None:
    if args.what == "engine":
        from engine.bench_engine import main as bench_main
        args.seconds = 10.0 if args.seconds is None else args.seconds
        args.warmup = 3.0 if args.warmup is None else args.warmup
    elif args.what == "fuzz":
        from engine.fuzz import main as bench_main
        args.messages = 1_000_000 if args.messages is None else args.messages
    elif args.what == "soak":
        from engine.bench_soak import main as bench_main
        args.warmup = 60.0 if args.warmup is None else args.warmup
    else:
        from engine.bench_wire import main as bench_main
        args.seconds = 5.0 if args.seconds is None else args.seconds
        args.messages = 50_000 if args.messages is None else args.messages
    bench_main(args)


def register(sub) -> None:
    """Add the streaming subcommands to the skelstream parser's subparsers."""
    s = sub.add_parser("sensor", help="publish skeleton frames from a sensor over ZeroMQ",
                       description="Publish skeleton frames on a ZeroMQ PUB socket (default "
                       f"{DEFAULT_FRAMES}). Binding beyond loopback needs --curve-secret. Ctrl-C stops.")
    kinds = s.add_subparsers(dest="kind", required=True, metavar="KIND")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--endpoint", default=DEFAULT_FRAMES, help=f"where to publish (default {DEFAULT_FRAMES})")
    common.add_argument("--curve-secret", metavar="KEY_SECRET",
                        help="CURVE secret key file of this publisher (needed beyond loopback)")
    common.add_argument("--quiet", action="store_true", help="no progress lines")
    common.add_argument("--wait", type=int, default=0, metavar="N",
                        help="wait for N subscribers before publishing (so none misses the start); a replay "
                             "waits for 1 by default")
    common.add_argument("--wait-timeout", type=float, default=10.0, metavar="S",
                        help="give up waiting after S seconds and publish anyway (0: wait for ever; default 10)")
    common.add_argument("--no-wait", action="store_true", help="replay: publish at once, without waiting")
    k = kinds.add_parser("replay", parents=[common], help="recordings, skeleton files or dataset folders",
                         description="Replay recordings (their own sensors), skeleton files (one sensor "
                         "each, or --bodies: one sensor, one body each) and dataset folders (one sensor, "
                         "sequences one after another), all at once, aligned at their starts.")
    k.add_argument("paths", nargs="+", metavar="PATH")
    k.add_argument("--speed", type=at_least(0), default=1.0, help="playback speed (1 = real time, the default; 0 = flat out)")
    k.add_argument("--loop", action="store_true", help="start again at the end")
    k.add_argument("--start", type=float, help="skip the first START seconds of each input")
    k.add_argument("--end", type=float, help="stop each input at END seconds")
    k.add_argument("--bodies", action="store_true", help="skeleton files are bodies of one sensor 'replay'")
    k = kinds.add_parser("synthetic", parents=[common], help="synthetic walkers (load tests, demos)",
                         description="N distinct synthetic people walking paths in a room, with "
                         "Kinect-like noise and dropouts, deterministic from --seed.")
    k.add_argument("--walkers", type=at_least(1, int), default=3, help="how many people (default 3)")
    k.add_argument("--seed", type=int, default=0, help="the same seed, the same people (default 0)")
    k.add_argument("--fps", type=at_least(1), default=30.0, help="frame rate (default 30)")
    k.add_argument("--seconds", type=float, help="stop after this long (default: never)")
    k.add_argument("--speed", type=at_least(0), default=1.0, help="1 = real time (default); 0 = flat out")
    k.add_argument("--sensor", default="synthetic", help="sensor id")
    k = kinds.add_parser("mediapipe", parents=[common], help="MediaPipe 3D pose on a video or a camera",
                         description="MediaPipe Pose Landmarker (Tasks API) on a video file or a camera "
                         "index; world landmarks (metres) mapped onto the canonical joints; several "
                         "people with stable track ids. Needs a pose_landmarker .task model: --model, "
                         "or `skelstream mediapipe-model` makes one from the mediapipe package.")
    k.add_argument("source", help="video file, or a camera index such as 0")
    k.add_argument("--model", help="pose_landmarker .task file (default: the one made by "
                   "`skelstream mediapipe-model`)")
    k.add_argument("--num-poses", type=int, default=4, help="most people per frame")
    k.add_argument("--speed", type=at_least(0), default=1.0, help="video files: 1 = real time (default); 0 = flat out")
    k.add_argument("--sensor", default="mediapipe", help="sensor id")
    k = kinds.add_parser("kinect", parents=[common], help="Kinect v2 (Windows, Kinect SDK 2.0, pykinect2)",
                         description="Kinect v2 bodies through pykinect2 (Windows with the Kinect for "
                         "Windows SDK 2.0); body-frame RelativeTime as timestamps, tracking ids as "
                         "tracks, TrackingState as confidence (1, 0.5, 0).")
    k.add_argument("--sensor", default="kinect", help="sensor id")
    s.set_defaults(func=cmd_sensor)

    s = sub.add_parser("record", help="record published frames to a recording (.mcap)",
                       description="Subscribe to frames and write them, byte for byte, to an MCAP "
                       "recording. Ctrl-C, --duration or --idle stop it; the file is always left "
                       "valid and holds every frame received.")
    s.add_argument("output", metavar="OUT.mcap")
    s.add_argument("--endpoint", nargs="+", default=[DEFAULT_FRAMES],
                   help=f"publishers to subscribe to (default {DEFAULT_FRAMES})")
    s.add_argument("--sensors", nargs="+", help="only these sensor ids (default all)")
    s.add_argument("--server-key", help="the publisher's CURVE public key file, if it uses CURVE")
    s.add_argument("--duration", type=float, help="stop after this many seconds")
    s.add_argument("--idle", type=float, help="stop after this many seconds without a frame")
    s.set_defaults(func=cmd_record)

    s = sub.add_parser("keys", help="make a CURVE key pair for publishing beyond loopback",
                       description="Write NAME.key (public) and NAME.key_secret (mode 0600) to FOLDER.")
    s.add_argument("folder")
    s.add_argument("--name", default="server", help="file name of the pair: NAME.key, NAME.key_secret (default server)")
    s.set_defaults(func=cmd_keys)

    from engine.server import DEFAULT_CONTROL, DEFAULT_RESULTS
    s = sub.add_parser("engine", help="live identification: frames in, identities and status out",
                       description="Subscribe to sensors, keep a window per tracked body, encode all new "
                       "windows in one batch every hop, match each track against the gallery (open set), "
                       "publish frames, results and status on --results, take JSON commands on --control "
                       "(status, list, rename, remove, export, threshold, enroll). Ctrl-C stops.")
    s.add_argument("--frames", nargs="+", default=[DEFAULT_FRAMES],
                   help=f"sensor endpoints to subscribe to (default {DEFAULT_FRAMES})")
    s.add_argument("--results", default=DEFAULT_RESULTS, help=f"PUB endpoint (default {DEFAULT_RESULTS})")
    s.add_argument("--control", default=DEFAULT_CONTROL, help=f"REP endpoint (default {DEFAULT_CONTROL})")
    s.add_argument("--gallery", help="gallery file (default as for skelstream enroll)")
    s.add_argument("--checkpoint", help="gait checkpoint: a path without suffix, or fast (the bundled distilled "
                   "student: about 3x faster, docs/RESULTS.md) (default: the bundled SGE-LA)")
    s.add_argument("--device", default="auto", help="auto (CUDA when present), cpu or cuda")
    s.add_argument("--backend", choices=["auto", "torch", "onnx"], default="auto",
                   help="auto (default): ONNX Runtime on the CPU (faster there for every bundled encoder) when the "
                   "encoder's export is there, else eager PyTorch, said on the terminal (also on CUDA); torch: "
                   "eager PyTorch; onnx: ONNX Runtime (CUDA provider on --device cuda when installed), exporting a "
                   "missing file at start. Exports: `skelstream export --onnx --cache [CHECKPOINT]` (`make setup` "
                   "makes the bundled ones) or `skelstream export CHECKPOINT --onnx`")
    s.add_argument("--threads", type=int, default=1,
                   help="CPU inference threads (default 1: the steps of a small batch are too short to "
                   "share, and waking idle threads costs more than they save; 0 = torch's default)")
    s.add_argument("--no-stagger", action="store_true",
                   help="encode all tracks that appeared together on the same frame (one big batch per hop) "
                   "instead of spreading their windows over the hop's frames")
    s.add_argument("--context", type=float, default=4.0,
                   help="seconds of a track's history levelled (made upright) with each window, as a whole "
                   "enrolled walk is (default 4; a track younger than that: its first second)")
    s.add_argument("--evidence", type=at_least(1, int), default=3,
                   help="hops that must agree to change a decision (default 3)")
    s.add_argument("--threshold", type=cosine, help="override the checkpoint's calibrated thresholds (a cosine in [-1, 1])")
    s.add_argument("--no-action", action="store_true", help="no action labels (gait identities only)")
    s.add_argument("--no-shape", action="store_true", help="rank people by gait alone (default: gait and body "
                   "shape together, engine/shape.py; the open-set test stays on the gait score)")
    s.add_argument("--action-checkpoint", help="action checkpoint (default: the bundled one); its prototypes are "
                   "CHECKPOINT.prototypes.safetensors beside it unless --prototypes names others")
    s.add_argument("--prototypes", help="action prototypes from `skelstream prototypes` (default: the action "
                   "checkpoint's own; they must be built with its weights)")
    s.add_argument("--action-smooth", type=int, default=3, metavar="N",
                   help="a track's action label: the best action on average over its last N action windows, "
                   "one every 0.5 s (default 3; 1: the newest window alone)")
    s.set_defaults(func=cmd_engine)

    from engine.sensors.pose_model import DEFAULT_TASK
    s = sub.add_parser("mediapipe-model", help="make MediaPipe's pose_landmarker .task offline",
                       description="Build the Tasks-API pose model bundle (pose_landmarker_full.task) "
                       "from the networks inside the installed mediapipe 0.10.21 package; nothing is "
                       "downloaded. `skelstream sensor mediapipe` does this itself on first use.")
    s.add_argument("-o", "--output", default=str(DEFAULT_TASK), help=f"where (default {DEFAULT_TASK})")
    s.set_defaults(func=cmd_mediapipe_model)

    s = sub.add_parser("bench", help="benchmarks (wire, engine, soak, fuzz)",
                       description="wire: publisher -> subscriber on loopback (tcp, ipc), at 6 bodies "
                       "x 30 Hz and flat out; skelstream against bare pyzmq with the same payload. "
                       "engine: synthetic walkers -> skelstream engine -> results, in three processes; "
                       "end-to-end latency p50/p99, results/s, drops, and the wire-only latency of the "
                       "same frames in the same run. soak: engine + synthetic walkers + recorder + a results "
                       "subscriber for --minutes, with enrollments and removals through the control socket; "
                       "latency, drops, RSS and open files over time, the gallery and the recording checked at "
                       "the end. fuzz: generated (hypothesis) and mutated frame messages through the decoder "
                       "and through a running engine's receive loop; crashes, rejections by reason, and the "
                       "engine's counts against the sender's.")
    s.add_argument("what", choices=["wire", "engine", "soak", "fuzz"])
    s.add_argument("--seconds", type=float, help="length of each 30 Hz run (default wire 5, engine 10)")
    s.add_argument("--messages", type=int, help="wire: messages of the flat-out runs (default 50000); fuzz: "
                   "messages per target (default 1000000)")
    s.add_argument("--target", choices=["decoder", "engine", "both"], default="both", help="fuzz: where the messages go")
    s.add_argument("--seed", type=int, default=0, help="fuzz: random seed")
    s.add_argument("--bodies", type=int, default=6, help="wire: bodies per frame")
    s.add_argument("--tracks", default="6", help="engine: walkers, or a list such as 1,6,20 (one run each); soak: walkers")
    s.add_argument("--curve", action="store_true",
                   help="engine: 1, 2, 4, 6, 8, 12, ... walkers until p99 passes --limit-ms (instead of --tracks)")
    s.add_argument("--limit-ms", type=float, help="engine: the curve's p99 budget (default one frame, 1000/rate)")
    s.add_argument("--rate", type=float, default=30.0, help="engine: sensor frames per second")
    s.add_argument("--warmup", type=float, help="engine: seconds left out at the start (default 3); soak: seconds "
                   "before the RSS baseline (default 60)")
    s.add_argument("--minutes", type=float, default=60.0, help="soak: how long (default 60)")
    s.add_argument("--enroll-every", type=float, default=30.0, help="soak: seconds between live enrollments")
    s.add_argument("--sample", type=float, default=10.0, help="soak: seconds between rows")
    s.add_argument("--out", help="soak: folder for soak.json, soak.png and the logs (default runs/soak-TIME)")
    s.add_argument("--device", default="auto", help="engine: auto (CUDA when present), cpu or cuda")
    s.add_argument("--checkpoint", help="engine: gait checkpoint, a path or fast (default: the bundled one)")
    s.add_argument("--backend", default="auto",
                   help="engine: auto (its default: ONNX Runtime on a CPU), torch, onnx, or several side by side "
                   "as torch,onnx")
    s.add_argument("--threads", type=int, default=1, help="engine: its CPU inference threads")
    s.add_argument("--no-stagger", action="store_true", help="engine: one big batch per hop (see skelstream engine)")
    s.add_argument("--no-action", action="store_true", help="engine: gait identities only, no action labels")
    s.add_argument("--action-checkpoint", help="engine: action checkpoint (its prototypes beside it; default: the bundled one)")
    s.add_argument("--context", type=float, help="engine: seconds levelled with each window (default: the engine's, 4)")
    s.add_argument("--json", metavar="OUT.json", help="also write the figures as JSON")
    s.set_defaults(func=cmd_bench)
