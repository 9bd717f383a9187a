"""NW-UCLA's frame rate, measured: the step period of its walking clips (a04) against KGBD's 30 Hz walks.

    python results/transfer/rate/estimate.py > results/transfer/rate/estimate.txt

A step is half the period of the horizontal distance between the ankles (its autocorrelation's
first peak, refined by a parabola); the frame rate follows at KGBD's cadence. Reads no identity.
"""
import numpy as np
from engine.datasets import open_dataset
from engine.datasets.cache import extract
from engine.skeleton import to_canonical, INDEX
def period(sig):
    x = sig - sig.mean()
    if len(x) < 14: return np.nan
    ac = np.correlate(x, x, "full")[len(x)-1:] / np.arange(len(x), 0, -1)
    ac /= ac[0] + 1e-12
    for k in range(3, len(ac)//2):
        if ac[k] > ac[k-1] and ac[k] >= ac[k+1] and ac[k] > 0.2:
            a, b, c = ac[k-1], ac[k], ac[k+1]
            return k + 0.5 * (a - c) / (a - 2*b + c)
    return np.nan
out = {}
for name, act in (("kgbd",None),("nwucla","a04")):
    ds = open_dataset(extract(name))
    items = [it for it in ds.items if act is None or it.meta.get("action")==act]
    P = {}
    for it in items:
        s = ds.read(it.path)
        j, c, _ = to_canonical(s.joints, s.confidence, s.layout)
        a = j[:, INDEX["AnkleLeft"]] - j[:, INDEX["AnkleRight"]]
        P.setdefault(it.meta.get("view", "all"), []).append(period(np.linalg.norm(a[:, [0, 2]], axis=1)))
    for v, p in sorted(P.items()):
        p = np.array(p); print(name, v, "clips", len(p), "found", np.isfinite(p).sum(), "median step period (frames)", round(float(np.nanmedian(p)), 2), "IQR", np.round(np.nanpercentile(p, [25, 75]), 2))
    out[name] = float(np.nanmedian([x for p in P.values() for x in p]))
kgbd_seconds = out["kgbd"] / 30.0
print(f"KGBD step: {kgbd_seconds:.3f} s; NW-UCLA a04 step: {out['nwucla']:.2f} frames -> "
      f"{out['nwucla'] / kgbd_seconds:.1f} frames a second at KGBD's cadence")
