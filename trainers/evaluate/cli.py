"""``skelstream eval ...``: registered into the engine's command through an entry point, so the
engine never imports trainers."""

from __future__ import annotations

import argparse


def _run(args) -> None:
    from trainers.evaluate import calibrate, reid, robustness
    {"reid": reid, "robustness": robustness, "calibrate": calibrate}[args.protocol].main(args.args)


def register(sub) -> None:
    """Add the ``eval`` subcommand to the skelstream parser's subparsers."""
    p = sub.add_parser("eval", help="evaluate checkpoints on real data (reid, robustness, calibrate)",
                       description="skelstream eval reid CHECKPOINT... [options] | skelstream eval "
                       "robustness CHECKPOINT [options] | skelstream eval calibrate CHECKPOINT [--far F] [--write]: "
                       "see `skelstream eval PROTOCOL --help`.")
    p.add_argument("protocol", choices=["reid", "robustness", "calibrate"])
    p.add_argument("args", nargs=argparse.REMAINDER)
    p.set_defaults(func=_run)
