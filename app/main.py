"""``skelstream app`` / ``python -m app``: the dashboard.

With no arguments: the embedded demo (`app.demo`): an engine, a replay of the bundled recordings
and a bundled gallery. ``--connect`` attaches to a running engine instead (its results endpoint;
the control endpoint defaults to the next port); if the engine goes away the window says so and
picks it up again when it is back.
"""

from __future__ import annotations

import argparse
import os
import sys
import time


def _control_for(results: str) -> str:
    scheme, _, rest = results.partition("://")
    if scheme == "tcp" and rest.rsplit(":", 1)[-1].isdigit():
        host, port = rest.rsplit(":", 1)
        return f"tcp://{host}:{int(port) + 1}"
    raise ValueError(f"{results}: give the engine's control endpoint with --control")


def launch(results: str, control: str, frames: str | None = None, replay: list[str] | None = None,
           bodies: bool = False, screenshot: str | None = None, quit_after: float | None = None) -> int:
    """Open the window on an engine; optionally replay files into it (``frames``: the endpoint
    the engine reads), save a screenshot and quit after ``quit_after`` seconds."""
    from PySide6 import QtCore, QtWidgets

    from app.client import EngineClient
    from app.window import MainWindow, share_gl_contexts

    share_gl_contexts()
    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication(sys.argv[:1])
    client = EngineClient(results, control)
    window = MainWindow(client, frames=frames)
    window.show()
    if replay:
        window.play(replay, bodies=bodies)
    if quit_after is not None:
        def finish():
            if screenshot:
                window.grab().save(screenshot)
                print(f"screenshot: {screenshot}", flush=True)
            window.close()
            app.quit()
        QtCore.QTimer.singleShot(int(quit_after * 1000), finish)
    started = time.monotonic()
    code = app.exec()
    window.stop_source()
    client.close()
    print(f"dashboard closed after {time.monotonic() - started:.0f} s", flush=True)
    return code


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="skelstream app", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(p)
    return run(p.parse_args(argv))


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--connect", metavar="ENDPOINT", help="a running engine's results endpoint, e.g. tcp://127.0.0.1:5556")
    p.add_argument("--control", metavar="ENDPOINT", help="its control endpoint (default: the results port + 1)")
    p.add_argument("--frames", metavar="ENDPOINT",
                   help="with --connect: the endpoint the engine reads sensors from, so the app can start "
                        "sources (default tcp://127.0.0.1:5555 when connecting to the default engine)")
    p.add_argument("--kgbd", action="store_true", help="demo: replay real KGBD walks (needs ../shared/data)")
    p.add_argument("--data-root", help="demo --kgbd: the KGBD folder (default: extracted from ../shared/data)")
    p.add_argument("--checkpoint", help="demo: gait checkpoint, a path or fast (the bundled distilled student) "
                   "(default: the bundled SGE-LA)")
    p.add_argument("--action-checkpoint", help="demo: action checkpoint (default: the bundled one); its prototypes "
                   "are CHECKPOINT.prototypes.safetensors unless --prototypes names others")
    p.add_argument("--prototypes", help="demo: action prototypes (`skelstream prototypes`) for the action checkpoint")
    p.add_argument("--backend", choices=["auto", "torch", "onnx"], default="auto",
                   help="demo: the engine's inference backend (see skelstream engine --backend)")
    p.add_argument("--action-smooth", type=int, default=3, metavar="N",
                   help="demo: action labels averaged over a track's last N windows (see skelstream engine)")
    p.add_argument("--screenshot", metavar="PNG", help="save the window to PNG when quitting (with --quit-after)")
    p.add_argument("--quit-after", type=float, metavar="S", help="close after S seconds (demos, tests)")
    p.add_argument("--bench", metavar="N[,N...]",
                   help="measure the window's redraw time with N synthetic tracks instead (e.g. 6,50)")
    p.add_argument("--json", metavar="OUT.json", help="with --bench: also write the figures as JSON")


def register(sub) -> None:
    """The ``skelstream app`` command (an entry point: the engine never imports the app)."""
    s = sub.add_parser("app", help="the Qt dashboard (no arguments: the demo with bundled recordings)",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(s)
    s.set_defaults(func=_command)


def _command(args) -> None:
    code = run(args)  # the engine and the sources it started are stopped by now
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)  # Qt's OpenGL objects must not be collected at interpreter exit (a PySide6 crash)


def run(args) -> int:
    if args.bench:
        from app.bench_ui import main as bench
        args.tracks = args.bench
        bench(args)
        return 0
    if args.connect:
        from engine.bus import DEFAULT_FRAMES
        from engine.server import DEFAULT_RESULTS
        frames = args.frames or (DEFAULT_FRAMES if args.connect == DEFAULT_RESULTS else None)
        return launch(args.connect, args.control or _control_for(args.connect), frames=frames,
                      screenshot=args.screenshot, quit_after=args.quit_after)
    from app.demo import run as demo
    if not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY") and sys.platform.startswith("linux") \
            and os.environ.get("QT_QPA_PLATFORM") is None:
        print("skelstream app: no display (DISPLAY is not set); run it on a desktop, or under Xvfb: "
              "xvfb-run -a skelstream app", file=sys.stderr)
        return 2
    return demo(kgbd=args.kgbd, data_root=args.data_root, checkpoint=args.checkpoint, screenshot=args.screenshot,
                quit_after=args.quit_after, action_checkpoint=args.action_checkpoint, prototypes=args.prototypes,
                backend=args.backend, action_smooth=args.action_smooth)
