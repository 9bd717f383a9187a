"""How much of each domain's walking is seen in profile? Per frame, the angle between the body's
left-right axis (shoulder line + hip line, in the x-z plane) and the image plane: 0 = the sensor
sees the chest or back, 90 = a profile. Joints as the readers give them (to_canonical), no model.

    python results/transfer/orient/orient.py   -> orient.txt beside it
"""
from pathlib import Path

import numpy as np

from engine.datasets import open_dataset
from engine.datasets.cache import extract
from engine.skeleton import INDEX, to_canonical


def angles(seq) -> np.ndarray:
    j, c, _ = to_canonical(seq.joints, seq.confidence, seq.layout)
    v = (j[:, INDEX["ShoulderLeft"]] - j[:, INDEX["ShoulderRight"]]) + (j[:, INDEX["HipLeft"]] - j[:, INDEX["HipRight"]])
    return np.degrees(np.arctan2(np.abs(v[:, 2]), np.abs(v[:, 0])))


DOMAINS = (("KARD walks (a14, all 30)", "kard", lambda ds: [it for it in ds.items if it.meta["action"] == "a14"]),
           ("KGBD walks (every 40th)", "kgbd", lambda ds: ds.items[::40]),
           ("NW-UCLA a04 (every 6th)", "nwucla", lambda ds: [it for it in ds.items if it.meta["action"] == "a04"][::6]))
lines = ["| domain | sequences | frames | median angle | frames > 60 deg (profile) | frames < 30 deg (frontal) |",
         "|---|---|---|---|---|---|"]
for title, name, pick in DOMAINS:
    ds = open_dataset(extract(name))
    items = pick(ds)
    a = np.concatenate([angles(ds.read(it.path)) for it in items])
    lines.append(f"| {title} | {len(items)} | {len(a)} | {np.median(a):.1f} | {100 * (a > 60).mean():.0f} % | "
                 f"{100 * (a < 30).mean():.0f} % |")
    print(lines[-1], flush=True)
(Path(__file__).parent / "orient.txt").write_text("\n".join(lines) + "\n")
