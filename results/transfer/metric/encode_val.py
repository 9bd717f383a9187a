import sys
import numpy as np, torch
sys.path.insert(0, "results/transfer/metric")
import store
from engine.checkpoint import load_gait
from engine.datasets import open_dataset
from engine.datasets.cache import extract
from engine.models.sge_la import prepare_windows, window_options
from trainers.evaluate.transfer import bone_features
from trainers.gait_data import Walks, holdout_split, validation_split, walk_dataset
torch.set_num_threads(2)
model, meta = load_gait(None)
f = int(meta["input"]["window"]); opts = window_options(meta["input"])
def enc(seq, **kw):
    w = prepare_windows(seq.joints, seq.confidence, seq.layout, f, **opts)
    if len(w) == 0: return None
    with torch.no_grad():
        raw = np.concatenate([model.encode(torch.from_numpy(w[s:s+512]))["sequence"].numpy() for s in range(0, len(w), 512)])
    return dict(raw=raw, bones=bone_features(seq), n=len(seq), **kw)
train = meta["training"]
ds = walk_dataset("kgbd", "", train.get("limit_people", 0))
person = [it.meta["subject"] for it in ds.items]
ids = [f"{it.meta['subject']}/{it.meta.get('walk', it.path.stem)}" for it in ds.items]
walks = Walks(np.zeros((0, 6, 20, 3), np.float32), np.zeros(0, int), person, ids)
g_ids, test_ids = holdout_split(walks, int(train["split_seed"]))
pool = Walks(walks.windows, walks.walk, [person[w] for w in g_ids], [ids[w] for w in g_ids])
fit, val = validation_split(pool, int(train["split_seed"]), float(train["config"].get("val_fraction", 0.1)))
role = {}
for w in test_ids: role[w] = "test"
for k in fit: role[g_ids[k]] = "fit"
for k in val: role[g_ids[k]] = "val"
kgbd = []
for w, it in enumerate(ds.items):
    e = enc(ds.read(it.path), person=person[w], group=role.get(w, "none"))
    if e: kgbd.append(e)
utd = open_dataset(extract("utd_mhad"))
u = []
for it in utd.items:
    if it.meta["action"] in ("a22", "a23"):
        e = enc(utd.read(it.path), person=it.meta["subject"], group=it.meta["session"], action=it.meta["action"])
        if e: u.append(e)
store.save("/tmp/metric_raw_val.npz", {"kgbd": kgbd, "utd": u})
print(len(kgbd), len(u), {r: sum(d["group"] == r for d in kgbd) for r in ("fit", "val", "test", "none")})
