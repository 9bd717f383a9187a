import numpy as np
exec(open("results/transfer/metric/validate.py").read().split('print("bones utd"')[0])
T = store.load("/tmp/metric_raw.npz")
test = [d for d in kg if d["group"] == "test"]
Lk = lda(fit, 64)
XL = np.concatenate([Lk(d["raw"]) for d in fit[::3]]); refL = np.cov(XL.T)
Xk = np.concatenate([W(d["raw"]) for d in fit[::3]]); refW = np.cov(Xk.T)
cands = {"kgbd_pca512": lambda g: W, "lda64": lambda g: Lk,
         "lda64+gallery_a0.5": lambda g: gallery_white(Lk, g, 32, 0.5, refL),
         "gallery64_a0": lambda g: gallery_white(W, g, 64, 0.0, refW)}
for name, items in T.items():
    grp = np.array([d["group"] for d in items]); per = np.array([d["person"] for d in items])
    for c, make in cands.items():
        accs = []
        for g in np.unique(grp):
            gi = [items[i] for i in np.flatnonzero(grp == g)]; pi = [items[i] for i in np.flatnonzero(grp != g)]
            fn = make(gi)
            accs.append(r1(emb(fn, pi), per[grp != g], emb(fn, gi), per[grp == g]))
        print(name, c, round(np.mean(accs), 1), [round(a, 1) for a in accs], flush=True)
tp = np.array([d["person"] for d in test]); fp = np.array([d["person"] for d in fit + val])
for c, make in cands.items():
    fn = make(fit + val)
    print("kgbd_test", c, round(r1(emb(fn, test), tp, emb(fn, fit + val), fp), 1), flush=True)
