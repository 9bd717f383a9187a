"""RULE.md's runs: `plain` (every window) against `frontal` (the windows that face the sensor,
when there are 5 of them), from one encoding pass per sequence.

    python results/transfer/frontal/run.py val    # the rule's validation figures -> val.json
    python results/transfer/frontal/run.py test   # once, after the choice -> test.json

The stepping rule's harness (results/transfer/gate/run.py) with its window criterion replaced by
`facing`: its "gate" candidate is this rule's `frontal`.
"""
import importlib.util
import json
import sys
from pathlib import Path

import numpy as np

from engine.skeleton import INDEX

HERE = Path(__file__).parent
spec = importlib.util.spec_from_file_location("gate_run", HERE.parent / "gate" / "run.py")
gate = importlib.util.module_from_spec(spec)
spec.loader.exec_module(gate)

FACING = 45.0  # degrees: a window faces the sensor when its median angle is below this
_AXIS = ("ShoulderLeft", "ShoulderRight", "HipLeft", "HipRight")


def angles(joints: np.ndarray, confidence: np.ndarray) -> np.ndarray:
    """Per frame, the angle (degrees) between the body's left-right axis (shoulder line + hip
    line, x-z plane) and the image plane: 0 facing or back to the sensor, 90 a profile; NaN where
    the sensor did not give all four joints (their stored coordinates are never read)."""
    idx = [INDEX[n] for n in _AXIS]
    j = joints[:, idx]
    v = (j[:, 0] - j[:, 1]) + (j[:, 2] - j[:, 3])
    a = np.degrees(np.arctan2(np.abs(v[:, 2]), np.abs(v[:, 0])))
    return np.where((confidence[:, idx] > 0).all(1), a, np.nan)


def facing(joints: np.ndarray, confidence: np.ndarray, fps: float, ends: np.ndarray) -> np.ndarray:
    """Whether each window (ending at each frame of ``ends``, `gate.stepping`'s signature) faces
    the sensor: the median angle over its frames is below `FACING`."""
    a = angles(joints, confidence)
    f = int(ends[0]) + 1 if len(ends) else 1  # windows end at k f + f - 1
    out = np.zeros(len(ends), bool)
    for i, e in enumerate(np.asarray(ends, np.int64)):
        seg = a[max(0, e + 1 - f):e + 1]
        out[i] = bool(np.isfinite(seg).any()) and float(np.nanmedian(seg)) < FACING
    return out


gate.stepping = facing  # the harness's criterion, replaced


def main():
    which = sys.argv[1] if len(sys.argv) > 1 else "val"
    res = gate.run(which)
    res = {k: {("frontal" if c == "gate" else "facing_windows" if c == "stepping_windows" else c): x
               for c, x in v.items()} for k, v in res.items()}
    if which == "val":
        res["rule"] = {c: float(np.mean([v[c]["fused"] for v in res.values()])) for c in ("plain", "frontal")}
        print("mean fused over the five: " + "  ".join(f"{c} {x:.2f}" for c, x in res["rule"].items()))
    (HERE / f"{which}.json").write_text(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
