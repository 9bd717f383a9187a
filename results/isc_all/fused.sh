#!/bin/bash
# The ninth and tenth addenda's candidates (RULE.md): the bundled action checkpoint's weights, the
# learned feature (optionally pooled over spans) fused with the raw trajectory at weight w (no
# training). Validation figures first, the test figures after the choice.
#   bash results/isc_all/fused.sh [val|test] [NAME=W[@SEGMENTS]...]
# (default: the ninth addendum's fused75=0.75 fused50=0.5 fused25=0.25; SEGMENTS a span count or a
# JSON pyramid such as [1,4]). Checkpoints go to runs/isc14/NAME, figures to
# results/isc_all/eval/NAME_{val,test}_DATASET.
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
w, name, seg = float(sys.argv[1]), sys.argv[2], json.loads(sys.argv[4])
size = meta["input"]["frames"] * len(meta["input"]["joints"]) * 3
levels = [seg] if isinstance(seg, int) else seg
meta["architecture"].pop("segments", None)  # the bundled weights' BiGRU, pooled as asked
if seg != 1:
    meta["architecture"]["segments"] = seg
meta["architecture"]["raw"] = {"weight": w, "size": size}
meta["embedding"]["dim"] = 2 * meta["architecture"]["hidden"] * sum(levels) + size
meta.pop("metrics", None)
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
meta["made_by"] += [f"bash results/isc_all/fused.sh val {name}={w:g}" + ("" if seg == 1 else f"@{json.dumps(seg, separators=(',', ':'))}")]
meta["name"] = f"action_isc_{name}"
meta["derived_from"] = (f"engine/models/weights/action_isc (the same weights; the learned feature"
                        f"{'' if seg == 1 else f' pooled over spans {levels}'} fused with the raw trajectory, w = {w})")
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
