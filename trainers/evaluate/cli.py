"""``skelstream eval ...``: registered into the engine's command through an entry point, so the
engine never imports trainers."""

from __future__ import annotations

import argparse


def _run(args) -> None:
    from trainers.evaluate import action, calibrate, reid, robustness, transfer
    {"reid": reid, "robustness": robustness, "calibrate": calibrate, "action": action,
     "transfer": transfer}[args.protocol].main(args.args)


def register(sub) -> None:
    """Add the ``eval`` subcommand to the skelstream parser's subparsers."""
    p = sub.add_parser("eval", help="evaluate checkpoints on real data (reid, robustness, calibrate, action, transfer)",
                       description="skelstream eval reid CHECKPOINT... [options] | skelstream eval "
                       "robustness CHECKPOINT [options] | skelstream eval transfer [CHECKPOINT...] [--protocols kard,nwucla,kgbd] | "
                       "skelstream eval calibrate CHECKPOINT [--far F] [--write] | "
                       "skelstream eval action [CHECKPOINT] [--dataset nwucla|msr|utd_mhad|kard] [--protocols knn,linear,transfer,semi,finetune,supervised]: "
                       "see `skelstream eval PROTOCOL --help`.")
    p.add_argument("protocol", choices=["reid", "robustness", "calibrate", "action", "transfer"])
    p.add_argument("args", nargs=argparse.REMAINDER)
    p.set_defaults(func=_run)
