"""RULE.md's runs: distilled students against the bundled default, as the system ranks (gait
fused with the near-side body shape, w = 0.5), all encoded in one run.

    python results/distill/run.py val  STUDENT [STUDENT ...] [--out NAME.json]   # validation figures
    python results/distill/run.py test STUDENT [STUDENT ...] [--out NAME.json]   # once, after the choice

STUDENT: a student checkpoint without suffix (runs/distill_kgbd/best); in the output each is named
by its run folder (the first RULE.md run: `student`, so its files read as before). Default output:
val.json / test.json. The domains, splits and figures are the stepping rule's
(results/transfer/gate/run.py, its `run` with this `Experiment`): per domain the fused Rank-1,
gait alone and bone lengths, for each encoder.
"""
import argparse
import importlib.util
import json
from pathlib import Path

import numpy as np

from engine.checkpoint import load_gait

HERE = Path(__file__).parent
spec = importlib.util.spec_from_file_location("gate_run", HERE.parent / "transfer" / "gate" / "run.py")
gate = importlib.util.module_from_spec(spec)
spec.loader.exec_module(gate)
STUDENTS: dict = {}  # name: (model, meta), set in main


def name_of(path: str) -> str:
    folder = Path(path).parent.name
    return "student" if folder == "distill_kgbd" else folder.removeprefix("distill_").removesuffix("_kgbd")


def encode(model, meta, seqs, person, group, desc, family=None) -> dict:
    out = {"default": gate.encode(model, meta, seqs, person, group, desc, family)["plain"]}
    for name, (student, smeta) in STUDENTS.items():
        out[name] = gate.encode(student, smeta, seqs, person, group, f"{desc} ({name})", family)["plain"]
    return out


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("which", choices=("val", "test"))
    p.add_argument("students", nargs="+")
    p.add_argument("--out", help="file name in results/distill (default: WHICH.json)")
    args = p.parse_args()
    for path in args.students:
        STUDENTS[name_of(path)] = load_gait(path)
    res = gate.run(args.which, gate.Experiment(encode=encode, extra=dict, reset=lambda: None))
    doms = list(res)
    res["student_checkpoints"] = {n: {"fingerprint": m[1]["fingerprint"]} for n, m in STUDENTS.items()}
    if args.which == "val":
        cands = ["default", *STUDENTS]
        res["rule"] = {c: float(np.mean([res[d][c]["fused"] for d in doms])) for c in cands}
        res["rule"]["worst_domain_drop"] = {c: float(max(res[d]["default"]["fused"] - res[d][c]["fused"] for d in doms))
                                            for c in STUDENTS}
        print("mean fused over the five: " + "  ".join(f"{c} {res['rule'][c]:.2f}" for c in cands)
              + "; worst drop against the default: " + "  ".join(f"{c} {x:.2f}" for c, x in
                                                                 res["rule"]["worst_domain_drop"].items()))
    (HERE / (args.out or f"{args.which}.json")).write_text(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
