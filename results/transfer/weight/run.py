"""RULE.md's runs: body shape's weight in the fused ranking, w in {0.25, 0.5, 0.75}, the bundled
gait features and the near-side descriptor (the product's) from one encoding pass.

    python results/transfer/weight/run.py val    # the rule's validation figures -> val.json
    python results/transfer/weight/run.py test   # once, after the choice -> test.json

The domains, splits and figures are the stepping rule's (results/transfer/gate/run.py, its `run`
with this `Experiment`): per domain, the fused Rank-1 at each weight beside gait alone, shape alone
and bone lengths.
"""
import importlib.util
import json
import sys
from pathlib import Path

import numpy as np

from engine.shape import shape_scores
from trainers.evaluate.transfer import Encoded, closed_set, fused_scores

HERE = Path(__file__).parent
spec = importlib.util.spec_from_file_location("gate_run", HERE.parent / "gate" / "run.py")
gate = importlib.util.module_from_spec(spec)
spec.loader.exec_module(gate)
WEIGHTS = (0.5, 0.25, 0.75)  # today's first


def encode(model, meta, seqs, person, group, desc, family=None) -> dict:
    return {"system": gate.encode(model, meta, seqs, person, group, desc, family)["plain"]}


def figures(probe: Encoded, gallery: Encoded) -> dict:
    rank1 = lambda s: closed_set(s, probe.person, gallery.person)["rank1"]  # noqa: E731
    out = {f"fused w{w}": rank1(fused_scores(probe, gallery, w)) for w in WEIGHTS}
    base = gate.figures(probe, gallery)
    return out | {"gait": base["gait"], "shape": rank1(shape_scores(probe.shape, gallery.shape, gallery.person)),
                  "bones": base["bones"]}


def main():
    which = sys.argv[1] if len(sys.argv) > 1 else "val"
    res = gate.run(which, gate.Experiment(encode=encode, figures=figures, extra=dict, reset=lambda: None))
    if which == "val":
        res["rule"] = {f"w{w}": float(np.mean([v["system"][f"fused w{w}"] for v in res.values()])) for w in WEIGHTS}
        print("mean fused over the five: " + "  ".join(f"{c} {x:.2f}" for c, x in res["rule"].items()))
    (HERE / f"{which}.json").write_text(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
