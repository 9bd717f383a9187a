"""KARD's frame rate against its cadence (sixth session): the stride (one ankle against the hips'
midpoint, along its main horizontal direction) and the step (the distance between the ankles)
on each walk's longest stepping stretch (the ankles' distance ranging over more than 0.25 m in
every second), KARD's walks (a14) beside KGBD's 30 Hz walks. Reads no identity.

    python results/transfer/rate/stride.py > results/transfer/rate/stride.txt
"""
import numpy as np
src = open("results/transfer/rate/estimate.py").read()
exec(src[src.index("def period"):src.index("out = {}")])
from engine.datasets import open_dataset
from engine.datasets.cache import extract
from engine.skeleton import to_canonical, INDEX
from engine.missing import fill_missing
def runs(name, act, limit=40):
    ds = open_dataset(extract(name))
    items = [it for it in ds.items if act is None or it.meta.get("action") == act][:limit]
    P = []
    for it in items:
        s = ds.read(it.path)
        j, c, _ = to_canonical(s.joints, s.confidence, s.layout)
        j, _ = fill_missing(j, c)
        hip = 0.5 * (j[:, INDEX["HipLeft"]] + j[:, INDEX["HipRight"]])
        d = np.linalg.norm((j[:, INDEX["AnkleLeft"]] - j[:, INDEX["AnkleRight"]])[:, [0, 2]], axis=1)
        if len(d) < 45:
            P.append((np.nan, np.nan)); continue
        w = np.lib.stride_tricks.sliding_window_view(d, 30)
        mov = np.zeros(len(d), bool); mov[29:] = (w.max(1) - w.min(1)) > 0.25
        best, start = (0, 0), None
        for i, m in enumerate(np.append(mov, False)):
            if m and start is None: start = i
            elif not m and start is not None:
                best = max(best, (i - start, start)); start = None
        n, s0 = best
        sl = slice(max(0, s0 - 29), s0 + n)
        if n + 29 < 45: P.append((np.nan, np.nan)); continue
        # per-leg: ankle minus hip centre, along the run's main horizontal direction of that offset
        outs = []
        for leg in ("AnkleLeft", "AnkleRight"):
            off = (j[sl, INDEX[leg]] - hip[sl])[:, [0, 2]]
            off = off - off.mean(0)
            u, sv, vt = np.linalg.svd(off, full_matrices=False)
            outs.append(period(off @ vt[0]))
        P.append((period(d[sl]), np.nanmean(outs) if np.isfinite(outs).any() else np.nan))
    p = np.array(P)
    print(f"{name} {act}: step (ankle distance) median {np.nanmedian(p[:,0]):.1f}, stride (one ankle vs hips) median {np.nanmedian(p[:,1]):.1f} frames; found {np.isfinite(p[:,1]).sum()}/{len(p)}; stride IQR {np.round(np.nanpercentile(p[:,1],[25,75]),1)}")
runs("kgbd", None)
runs("kard", "a14")
