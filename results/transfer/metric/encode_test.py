import sys
import numpy as np, torch
sys.path.insert(0, "results/transfer/metric")
import store
from engine.checkpoint import load_gait
from engine.datasets import open_dataset
from engine.datasets.cache import extract
from engine.models.sge_la import prepare_windows, window_options
from engine.embed import unit, Whitening
from trainers.evaluate.transfer import bone_features
torch.set_num_threads(2)
model, meta = load_gait(None)
f = int(meta["input"]["window"]); opts = window_options(meta["input"])
def load(name, action, key):
    ds = open_dataset(extract(name))
    out = []
    for it in ds.items:
        if it.meta["action"] != action: continue
        seq = ds.read(it.path)
        w = prepare_windows(seq.joints, seq.confidence, seq.layout, f, **opts)
        if len(w) == 0: continue
        with torch.no_grad():
            raw = model.encode(torch.from_numpy(w))["sequence"].numpy()
        out.append(dict(person=it.meta["subject"], group=it.meta[key], raw=raw, bones=bone_features(seq), n=len(seq)))
    return out
data = {"kard": load("kard", "a14", "session"), "nwucla": load("nwucla", "a04", "view")}
ds = open_dataset(extract("utd_mhad"))
print(sorted(set(it.meta["action"] for it in ds.items))[:30])
print({k: it.meta for k, it in [(0, ds.items[0])]})
store.save("/tmp/metric_raw.npz", data)
print({k: len(v) for k, v in data.items()})
