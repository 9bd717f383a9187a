import sys
import numpy as np
sys.path.insert(0, "results/transfer/metric")
import store
from engine.checkpoint import load_gait
from engine.embed import unit, Whitening
from trainers.evaluate.reid import per_person
from trainers.evaluate.transfer import bone_scores
V = store.load("/tmp/metric_raw_val.npz")
model, meta = load_gait(None)
W = model.whitening
kg = V["kgbd"]
fit = [d for d in kg if d["group"] == "fit"]; val = [d for d in kg if d["group"] == "val"]

def lda(items, k, reg=1e-3):
    X = np.concatenate([unit(d["raw"]) for d in items]).astype(np.float64)
    y = np.concatenate([[d["person"]] * len(d["raw"]) for d in items])
    mu = X.mean(0); Xc = X - mu
    # reduce to 512 PCA first for stability
    _, s, vt = np.linalg.svd(Xc, full_matrices=False); P = vt[:400].T
    Z = Xc @ P
    Sw = np.zeros((Z.shape[1],) * 2); means = []
    for p in np.unique(y):
        z = Z[y == p]; m = z.mean(0); means.append(m); Sw += (z - m).T @ (z - m)
    Sw /= len(Z); M = np.array(means); Sb = np.cov(M.T)
    Sw += reg * np.trace(Sw) / len(Sw) * np.eye(len(Sw))
    from scipy.linalg import eigh
    ev, evec = eigh(Sb, Sw)
    A = evec[:, ::-1][:, :k]
    # scale so within-class is white
    proj = P @ A
    return lambda r: unit((unit(r) - mu) @ proj)

def gallery_white(feat_fn, g_items, k, alpha=0.0, ref=None):
    X = np.concatenate([feat_fn(d["raw"]) for d in g_items]).astype(np.float64)
    mu = X.mean(0); C = np.cov((X - mu).T)
    if alpha: C = (1 - alpha) * C + alpha * ref
    ev, evec = np.linalg.eigh(C); idx = np.argsort(ev)[::-1][:k]
    proj = evec[:, idx] / np.sqrt(ev[idx] + 1e-9)
    return lambda r: unit((feat_fn(r) - mu) @ proj)

def emb(fn, items): return np.stack([unit(fn(d["raw"]).mean(0)) for d in items])
def r1(pe, pp, ge, gp):
    cls = np.unique(gp); s = per_person(pe @ ge.T, gp, cls)
    return 100 * np.mean(cls[s.argmax(1)] == pp)
def kgbd_val(fn): return r1(emb(fn, val), np.array([d["person"] for d in val]), emb(fn, fit), np.array([d["person"] for d in fit]))
def utd(make):  # make(gallery_items) -> fn
    accs = []
    for a in ("a22", "a23"):
        items = [d for d in V["utd"] if d["action"] == a]
        grp = np.array([d["group"] for d in items]); per = np.array([d["person"] for d in items])
        for g in np.unique(grp):
            gi = [items[i] for i in np.flatnonzero(grp == g)]; pi = [items[i] for i in np.flatnonzero(grp != g)]
            fn = make(gi)
            accs.append(r1(emb(fn, pi), per[grp != g], emb(fn, gi), per[grp == g]))
    return np.mean(accs)
def utd_bones():
    accs = []
    for a in ("a22", "a23"):
        items = [d for d in V["utd"] if d["action"] == a]
        grp = np.array([d["group"] for d in items]); per = np.array([d["person"] for d in items]); B = np.stack([d["bones"] for d in items])
        for g in np.unique(grp):
            gm = grp == g; cls = np.unique(per[gm]); s = per_person(bone_scores(B[~gm], B[gm]), per[gm], cls)
            accs.append(100 * np.mean(cls[s.argmax(1)] == per[~gm]))
    return np.mean(accs)
print("bones utd", round(utd_bones(), 1))
res = {}
res["kgbd_pca512"] = (kgbd_val(W), utd(lambda g: W))
Xk = np.concatenate([W(d["raw"]) for d in fit[::3]]); refW = np.cov(Xk.T)
for k in (32, 64):
    for a in (0.0, 0.5):
        res[f"gallery{k}_a{a}"] = (np.nan, utd(lambda g: gallery_white(W, g, k, a, refW)))
L = {}
for k in (32, 64, 128):
    L[k] = lda(fit, k)
    res[f"lda{k}"] = (kgbd_val(L[k]), utd(lambda g: L[k]))
    XL = np.concatenate([L[k](d["raw"]) for d in fit[::3]]); refL = np.cov(XL.T)
    for a in (0.0, 0.5):
        res[f"lda{k}+gallery_a{a}"] = (np.nan, utd(lambda g: gallery_white(L[k], g, min(k, 32), a, refL)))
for n, (a, b) in res.items(): print(f"{n:<22} kgbd_val {a:5.1f} utd {b:5.1f}", flush=True)
