"""Scores of the demo walk (recordings/demo_walk.mcap) against the demo gallery, each window levelled
over the last N frames as the engine does, beside the whole-walk embedding (identify).

    python -c "from app.demo import build_gallery; from pathlib import Path; build_gallery(Path('/tmp/demo_g.db'))"
    python results/engine/context/skew.py
"""
import numpy as np, torch
from engine.checkpoint import load_gait
from engine.recording import Recording
from engine.models.sge_la import prepare_last_windows, window_options
from engine.embed import window_features, unit, gait_embedding
from engine.gallery import Gallery
from engine.skeleton import to_canonical
model, meta = load_gait(None); opts = window_options(meta["input"]); f = int(meta["input"]["window"])
names, emb = Gallery("/tmp/demo_g.db").embeddings(meta["fingerprint"])
with Recording("recordings/demo_walk.mcap") as rec:
    seqs = sorted(rec.sequences(), key=lambda s: int(s.meta.get("track", 0)))
for seq in seqs:
    j, c, _ = to_canonical(seq.joints, seq.confidence, seq.layout)
    out = {}
    for ctx in (6, 30, 60, 120, 240):
        idx = [t for t in range(ctx, len(j) + 1, f)]
        J = np.stack([j[t - ctx:t] for t in idx]); C = np.stack([c[t - ctx:t] for t in idx])
        x = prepare_last_windows(J, C, f, **opts)
        with torch.no_grad():
            feats = window_features(model, model.encode(torch.from_numpy(x))["sequence"].numpy())
        q = unit(feats.mean(0)); s = emb @ q
        out[ctx] = (names[int(s.argmax())], round(float(s.max()), 4))
    off = gait_embedding(model, meta, seq)[0]; s = emb @ off
    print(seq.meta.get("track"), out, "offline", names[int(s.argmax())], round(float(s.max()), 4))
