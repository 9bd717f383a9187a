"""Tables of results/isc_all/eval/*/summary.json (docs/RESULTS.md): validation with the rule's
score, test in domain / transfer, leave-one-dataset-out. python results/isc_all/table.py"""
import json
from pathlib import Path

HERE = Path(__file__).resolve().parent / "eval"
DATASETS = ("nwucla", "msr", "utd_mhad", "kard")
CKPTS = ("action_isc", "random", "random_seg4", "nwucla", "all", "all_seg4", "all_seg4_mild", "all_seg2")


def get(name):
    f = HERE / name / "summary.json"
    return json.loads(f.read_text()) if f.is_file() else None


def cell(r):
    return f"{r['knn']:.1f} / {r['linear']:.1f} / {r['raw_knn']:.1f}" if r else "-"


for split in ("val", "test"):
    print(f"\n{split}: kNN / linear / raw-coordinate kNN (%)\n")
    print("| checkpoint | " + " | ".join(DATASETS) + (" | rule score |" if split == "val" else " |"))
    print("|---" * (len(DATASETS) + 1 + (split == "val")) + "|")
    for c in CKPTS:
        rows = [get(f"{c}_{split}_{d}") for d in DATASETS]
        score = (sum((r["knn"] + r["linear"]) / 2 for r in rows) / len(rows)) if all(rows) else None
        marks = [("" if not r or r["left_out"] is False else " (t)") for r in rows]
        line = f"| {c} | " + " | ".join(cell(r) + m for r, m in zip(rows, marks))
        print(line + (f" | {score:.1f} |" if split == "val" and score is not None else " |"))
print("\nleave-one-dataset-out (test split of the left-out dataset): kNN / linear / raw-coordinate kNN\n")
print("| left out | " + " | ".join(DATASETS) + " |")
print("|---" * (len(DATASETS) + 1) + "|")
for prefix, what in (("", "ISC (`isc_all.yaml`)"), ("seg4_", "ISC, `seq_segments=4`"), ("seg2_", "ISC, `seq_segments=2`")):
    print(f"| {what} on the other three | " + " | ".join(cell(get(f"{prefix}no_{d}_transfer_{d}")) for d in DATASETS) + " |")
