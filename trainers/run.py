"""Self-supervised pretraining: ``python trainers/run.py METHOD --config X.yaml [key=value ...]``.

Keys of the YAML's top level are the run's (see trainers.config.TrainConfig); ``method:`` holds
the method's own (``method.key=value`` on the command line). Multi-GPU or multi-process:
``torchrun --nproc_per_node N trainers/run.py ...`` (DDP; gloo on CPU, NCCL on CUDA).

The action methods train on clips, not walks, with their own trainer:
``python trainers/run.py isc [key=value ...]`` is `python -m trainers.isc` (``isc --help``).
"""

from __future__ import annotations

import argparse
import shlex
import sys

from trainers import config
from trainers.methods import METHODS
from trainers.trainer import Trainer, training_walks


def main(argv: list[str] | None = None) -> dict:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["isc"]:
        from trainers import isc
        return isc.main(argv[1:])
    p = argparse.ArgumentParser(prog="trainers/run.py", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("method", choices=sorted(METHODS))
    p.add_argument("--config", help="YAML file (trainers/configs/)")
    p.add_argument("--resume", action="store_true", help="continue from OUT/last.pt")
    p.add_argument("overrides", nargs="*", metavar="key=value")
    args = p.parse_intermixed_args(argv)
    cfg_cls, method_cls = METHODS[args.method]
    try:
        cfg, method_cfg = config.load(args.config, args.overrides, cfg_cls)
    except (ValueError, FileNotFoundError) as exc:
        p.error(str(exc))
    trainer = Trainer(cfg, args.method, method_cfg, method_cls,
                      command="python trainers/run.py " + shlex.join(argv))
    fit, val, split = training_walks(cfg, method_cfg.length, progress=trainer.main)
    if trainer.main:
        print(f"{args.method}: {len(fit.windows)} training windows from {len(fit.walk_person)} walks, "
              f"{len(val.windows)} validation windows; device {trainer.device}, world {trainer.world}",
              flush=True)
    return trainer.fit(fit, val, split, resume=args.resume)


if __name__ == "__main__":
    main()
