"""RULE.md's runs: the distilled student against the bundled default, as the system ranks (gait
fused with the near-side body shape, w = 0.5), both encoded in one run.

    python results/distill/run.py val  STUDENT   # the rule's validation figures -> val.json
    python results/distill/run.py test STUDENT   # once, after the choice -> test.json

STUDENT: the student checkpoint without suffix (runs/distill_kgbd/best). The domains, splits and
figures are the stepping rule's (results/transfer/gate/run.py, its `run` with this `Experiment`):
per domain the fused Rank-1, gait alone and bone lengths, for each encoder.
"""
import importlib.util
import json
import sys
from pathlib import Path

import numpy as np

from engine.checkpoint import load_gait

HERE = Path(__file__).parent
spec = importlib.util.spec_from_file_location("gate_run", HERE.parent / "transfer" / "gate" / "run.py")
gate = importlib.util.module_from_spec(spec)
spec.loader.exec_module(gate)
STUDENT: list = []  # (model, meta), set in main


def encode(model, meta, seqs, person, group, desc, family=None) -> dict:
    student, smeta = STUDENT[0]
    return {"default": gate.encode(model, meta, seqs, person, group, desc, family)["plain"],
            "student": gate.encode(student, smeta, seqs, person, group, f"{desc} (student)", family)["plain"]}


def main():
    which, path = sys.argv[1], sys.argv[2]
    STUDENT.append(load_gait(path))
    res = gate.run(which, gate.Experiment(encode=encode, extra=dict, reset=lambda: None))
    res["student_checkpoint"] = {"path": path, "fingerprint": STUDENT[0][1]["fingerprint"]}
    if which == "val":
        doms = [k for k in res if k != "student_checkpoint"]
        res["rule"] = {c: float(np.mean([res[d][c]["fused"] for d in doms])) for c in ("default", "student")}
        res["rule"]["worst_domain_drop"] = float(max(res[d]["default"]["fused"] - res[d]["student"]["fused"] for d in doms))
        print("mean fused over the five: " + "  ".join(f"{c} {x:.2f}" for c, x in res["rule"].items()))
    (HERE / f"{which}.json").write_text(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
