#!/bin/bash
# The bundled action checkpoint's weights as another embedding (no training), judged by the
# rule's validation figures and, after the choice, the test figures: the learned feature pooled
# over SEGMENTS spans (a count, or a JSON pyramid such as [1,4]; fourth and eighth addenda of
# RULE.md, via pooled_default.sh) and, with a weight W, fused with the raw trajectory (ninth and
# tenth addenda).
#   bash results/isc_all/fused.sh [val|test] [NAME=[W][@SEGMENTS]...]
# (default: the ninth addendum's fused75=0.75 fused50=0.5 fused25=0.25). Checkpoints go to
# runs/isc14/NAME, figures to results/isc_all/eval/NAME_{val,test}_DATASET.
set -e
cd "$(dirname "$0")/../.."
PY=.venv/bin/python
split=${1:-val}; shift || true
O=results/isc_all/eval
for item in ${@:-fused75=0.75 fused50=0.5 fused25=0.25}; do
  name=${item%%=*}; spec=${item#*=}
  w=${spec%%@*}; seg=1; [ "$spec" = "$w" ] || seg=${spec#*@}
  out=runs/isc14/$name
  mkdir -p $out
  cp engine/models/weights/action_isc.safetensors $out/seq.safetensors
  $PY - "$w" "$name" "$out/seq.json" "$seg" <<'PYEOF'
import json, sys
meta = json.load(open("engine/models/weights/action_isc.json"))
w, name, seg = float(sys.argv[1] or 0), sys.argv[2], json.loads(sys.argv[4])
size = meta["input"]["frames"] * len(meta["input"]["joints"]) * 3
levels = [seg] if isinstance(seg, int) else seg
meta["architecture"].pop("segments", None)  # the bundled weights' BiGRU, pooled as asked,
meta["architecture"].pop("raw", None)  # and fused only when asked
if seg != 1:
    meta["architecture"]["segments"] = seg
if w:
    meta["architecture"]["raw"] = {"weight": w, "size": size}
meta["embedding"]["dim"] = 2 * meta["architecture"]["hidden"] * sum(levels) + (size if w else 0)
meta.pop("metrics", None)
meta.pop("exported_from", None)
# how the weights were made (steps 1-5 of the bundled card before fusion), then this step
meta["made_by"] = [
    "python -m trainers.isc reps=seq seq_motion=true epochs=60 spatial=shear out=runs/isc/motion_shear",
    "python -m trainers.isc reps=graph inter=false epochs=60 shear=0.5 l_min=0.5 spatial=shear out=runs/isc/intra_graph",
    "python -m trainers.isc reps=seq,graph intra=false inter=true seq_motion=true epochs=60 shear=0.5 l_min=0.5 spatial=shear "
    "init=seq=runs/isc/motion_shear/seq,graph=runs/isc/intra_graph/graph out=runs/isc/inter_motion_graph_init",
    "python -m trainers.isc reps=seq,graph intra=false inter=true seq_motion=true epochs=60 shear=0.5 l_min=0.5 spatial=shear "
    "init=seq=runs/isc/inter_motion_graph_init/seq,graph=runs/isc/inter_motion_graph_init/graph "
    "out=runs/isc/inter_motion_graph_e120",
    "python -m trainers.export_action runs/isc/inter_motion_graph_e120/seq (now python -m trainers.export)"]
meta["made_by"] += [f"bash results/isc_all/fused.sh val {name}={sys.argv[1]}"
                    + ("" if seg == 1 else f"@{json.dumps(seg, separators=(',', ':'))}")]
meta["name"] = f"action_isc_{name}"
meta["derived_from"] = (f"engine/models/weights/action_isc (the same weights; the learned feature"
                        + ("" if seg == 1 else f" pooled over spans {levels}")
                        + (f" fused with the raw trajectory, w = {w:g})" if w else ")"))
json.dump(meta, open(sys.argv[3], "w"), indent=1)
PYEOF
  for d in nwucla msr utd_mhad kard; do
    if [ "$split" = val ]; then
      $PY -m engine.cli eval action $out/seq --dataset $d --split val --out $O/${name}_val_$d | tail -n +2
    else
      $PY -m engine.cli eval action $out/seq --dataset $d --protocols knn,linear --out $O/${name}_test_$d | tail -n +2
    fi
  done
done
