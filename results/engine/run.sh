#!/usr/bin/env bash
# Issue 17's figures, on a quiet machine, in this order (docs/RESULTS.md, "Engine: latency, ONNX
# Runtime, scale, soak and fuzz"). A3D rows read a local checkpoint (runs/a3d/open/white, issue 16).
set -euo pipefail
cd "$(dirname "$0")/../.."
R=results/engine
A3D=${A3D:-runs/a3d/open/white}
for be in torch onnx; do
  python results/engine/profile.py --tracks 1 --backend $be --json $R/profile_sge_la_$be.json
  [ -e "$A3D.json" ] && python results/engine/profile.py --tracks 1 --backend $be --checkpoint $A3D --json $R/profile_a3d_$be.json
done
skelstream bench engine --tracks 1,6 --seconds 20 --backend torch,onnx --json $R/sge_la_1_6.json
[ -e "$A3D.json" ] && skelstream bench engine --tracks 1,6 --seconds 20 --backend torch,onnx --checkpoint $A3D --json $R/a3d_1_6.json
skelstream bench engine --curve --seconds 10 --backend torch,onnx --json $R/curve.json
skelstream bench wire --seconds 10 --messages 50000 --json $R/wire.json
