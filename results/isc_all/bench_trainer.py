"""ISC training throughput: the old loop of its own (trainers/isc.py at commit 264cc9f) against
the one trainer (trainers/run.py isc), same settings (BiGRU intra, batch 64 x 32 frames, SGD,
cosine), NW-UCLA's training views, interleaved rounds in one run. Sequences/s of the training
steps (each loop's own figure) and seconds per epoch including everything else it does
(validation loss for the one trainer).

python results/isc_all/bench_trainer.py [--rounds 2] [--epochs 3]
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
OLD = "264cc9f"
p = argparse.ArgumentParser()
p.add_argument("--rounds", type=int, default=2)
p.add_argument("--epochs", type=int, default=3)
args = p.parse_args()
tmp = Path(tempfile.mkdtemp())
tree = tmp / "old"
subprocess.run(["git", "-C", str(REPO), "worktree", "add", "--detach", str(tree), OLD], check=True, capture_output=True)
env = dict(os.environ, PYTHONPATH="")
res = {"old loop": [], "one trainer": []}
try:
    for r in range(args.rounds):
        for name in res:
            out = tmp / f"{name.replace(' ', '_')}_{r}"
            if name == "old loop":
                cmd = [sys.executable, "-m", "trainers.isc", f"epochs={args.epochs}", f"out={out}", "device=cpu"]
                cwd = tree
            else:
                cmd = [sys.executable, "trainers/run.py", "isc", "--config", "trainers/configs/isc_nwucla.yaml",
                       f"epochs={args.epochs}", f"out={out}", "device=cpu"]
                cwd = REPO
            t0 = time.time()
            subprocess.run(cmd, cwd=cwd, env=env, check=True, capture_output=True)
            wall = time.time() - t0
            if name == "old loop":
                hist = json.loads((out / "isc.json").read_text())["history"]
                sps = [h["seq_per_s"] for h in hist]
            else:
                hist = json.loads((out / "metrics.json").read_text())["history"]
                sps = [h["sequences_per_s"] for h in hist]
            res[name].append({"seq_per_s": statistics.median(sps), "wall_s": wall})
            print(f"round {r + 1} {name:<12} {statistics.median(sps):6.0f} seq/s (median epoch), whole command {wall:5.1f} s",
                  flush=True)
finally:
    subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force", str(tree)], capture_output=True)
for name, rows in res.items():
    print(f"{name:<12} median {statistics.median(r['seq_per_s'] for r in rows):6.0f} seq/s; "
          f"command {statistics.median(r['wall_s'] for r in rows):5.1f} s for {args.epochs} epochs "
          "(old: with its final test evaluation; one trainer: with validation loss and validation kNN/linear)")
