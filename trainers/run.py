"""Self-supervised pretraining of any method through the one trainer:
``python trainers/run.py METHOD --config trainers/configs/X.yaml [key=value ...]``.

Keys of the YAML's top level are the run's (`trainers.config.TrainConfig`: data, epochs,
optimiser, early stopping, device...); ``method:`` holds the method's own (``method.key=value``
on the command line; ``--keys`` lists both with their defaults). Gait methods train on walks,
action methods on clips of one or several datasets (``dataset=nwucla,msr,utd_mhad,kard``: the
union of their training splits). Multi-GPU or multi-process: ``torchrun --nproc_per_node N
trainers/run.py ...`` (DDP; gloo on CPU, NCCL on CUDA). ``--resume`` continues OUT/last.pt.
Checkpoints at the best validation loss: OUT/best (gait) or OUT/REP (action), then
``python -m trainers.export`` makes one a bundled default with its model card.

Methods: sge_la (gait, seed 000; trainers/configs/sge_la_kgbd.yaml), a3d (supervised gait, seed
001; trainers/configs/a3d_kgbd.yaml), isc (action, seed 002; isc_nwucla.yaml, isc_all.yaml), crrl
(seed 003; crrl_cml_nwucla.yaml then crrl_nwucla.yaml), byol (seed 004; byol_nwucla.yaml).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import shlex
import sys

from trainers import config
from trainers.data import make_data
from trainers.methods import METHODS
from trainers.trainer import Trainer


def main(argv: list[str] | None = None) -> dict | None:
    argv = sys.argv[1:] if argv is None else argv
    p = argparse.ArgumentParser(prog="trainers/run.py", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("method", choices=sorted(METHODS))
    p.add_argument("--config", help="YAML file (trainers/configs/)")
    p.add_argument("--resume", action="store_true", help="continue from OUT/last.pt")
    p.add_argument("--keys", action="store_true", help="list the run's and the method's keys with their defaults")
    p.add_argument("overrides", nargs="*", metavar="key=value")
    args = p.parse_intermixed_args(argv)
    cfg_cls, method_cls = METHODS[args.method]
    if args.keys:
        for title, cls in (("run keys", config.TrainConfig), (f"method keys ({args.method}; method.KEY=VALUE)", cfg_cls)):
            print(title + ":")
            for f in dataclasses.fields(cls):
                if f.name != "method":
                    default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
                    print(f"  {f.name}={default}")
        return None
    try:
        cfg, method_cfg = config.load(args.config, args.overrides, cfg_cls)
    except (ValueError, FileNotFoundError) as exc:
        p.error(str(exc))
    main_rank = int(os.environ.get("RANK", "0")) == 0
    try:
        data = make_data(method_cls.data, cfg, method_cfg, progress=main_rank)
    except ValueError as exc:
        p.error(str(exc))
    if hasattr(method_cls, "configure"):  # what the method learns from the data (A3D: its classes)
        method_cfg = method_cls.configure(method_cfg, data)
    trainer = Trainer(cfg, args.method, method_cfg, method_cls,
                      command="python trainers/run.py " + shlex.join(argv))
    if trainer.main:
        print(f"{args.method}: {data.describe()}; device {trainer.device}, world {trainer.world}", flush=True)
    return trainer.fit(data, resume=args.resume)


if __name__ == "__main__":
    main()
