"""Analysis (chooses nothing): is the NW-UCLA linear drop of span pooling (RULE.md, fourth and
eighth addenda) the probe's fixed regularisation? The bundled action weights pooled over the
whole clip, 4 spans and the 1+4 pyramid; on NW-UCLA's validation split (fit view v01 -> v02),
the protocol's probe (C = 1) beside one whose C is chosen by 5-fold cross-validation inside the
fit clips (C in 0.001 ... 10). Validation data only.

    python results/isc_all/probe_c/run.py   -> probe_c.txt beside it
"""
import json
from pathlib import Path

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from engine.checkpoint import DEFAULT_ACTION, read_meta
from engine.models.action import encoder_from
from trainers.action_data import load_protocol
from trainers.evaluate.action import features, linear_accuracy
from safetensors.torch import load_file

HERE = Path(__file__).parent
GRID = [0.001, 0.01, 0.1, 1.0, 10.0]


def encoder(segments):
    meta = read_meta(DEFAULT_ACTION)
    arch = dict(meta["architecture"], segments=segments)
    arch.pop("raw", None)  # the learned feature alone (the bundled default is fused since the ninth addendum)
    enc = encoder_from(arch)
    enc.load_state_dict({k: v.float() for k, v in load_file(str(DEFAULT_ACTION.with_suffix(".safetensors"))).items()})
    return enc.eval(), meta


def main():
    torch.set_num_threads(2)
    lines = ["| pooling | dim | linear, C = 1 (the protocol's) | linear, C by 5-fold CV in the fit clips | chosen C |",
             "|---|---|---|---|---|"]
    out = {}
    for name, seg in (("whole clip (bundled)", 1), ("4 spans", 4), ("pyramid 1+4", [1, 4])):
        enc, meta = encoder(seg)
        fit, val = load_protocol("nwucla", int(meta["input"]["frames"]), progress=False, split="val")
        with torch.no_grad():
            tr, te = features(enc, fit.x, "cpu"), features(enc, val.x, "cpu")
        fixed = linear_accuracy(tr, fit.label, te, val.label)
        search = GridSearchCV(make_pipeline(StandardScaler(), LogisticRegression(max_iter=3000)),
                              {"logisticregression__C": GRID}, cv=5).fit(tr, fit.label)
        tuned = float((search.predict(te) == val.label).mean() * 100)
        c = search.best_params_["logisticregression__C"]
        out[name] = {"dim": int(tr.shape[1]), "linear_c1": fixed, "linear_cv": tuned, "c": c}
        lines.append(f"| {name} | {tr.shape[1]} | {fixed:.1f} | {tuned:.1f} | {c:g} |")
        print(lines[-1], flush=True)
    (HERE / "probe_c.txt").write_text("\n".join(lines) + "\n")
    (HERE / "probe_c.json").write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
