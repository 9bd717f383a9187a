"""Tables of issue 15 (docs/RESULTS.md, "CRRL and skeleton BYOL"): validation with the rule's
score, test, leave-one-dataset-out; cells frozen kNN / linear / raw-coordinate kNN of the same
run. python results/ssl15/table.py"""
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parent
DATASETS = ("nwucla", "msr", "utd_mhad", "kard")
ROWS = (("action_isc", "bundled `action_isc` (ISC, NW-UCLA; issue 14)", ROOT.parent / "isc_all" / "eval"),
        ("random_crrl", "untrained BiGRU 2x256 (CRRL's encoder)", ROOT / "eval"),
        ("cml_nwucla", "CRRL: CML alone, NW-UCLA", ROOT / "eval"),
        ("ser_nwucla", "CRRL: SER alone, NW-UCLA", ROOT / "eval"),
        ("crrl_nwucla", "CRRL (CML distilled into SER), NW-UCLA", ROOT / "eval"),
        ("random_byol", "untrained ST-GCN 0.25x (BYOL's encoder)", ROOT / "eval"),
        ("byol60_nwucla", "BYOL, 60 epochs (collapsed), NW-UCLA", ROOT / "eval"),
        ("byol_nwucla", "BYOL (multi-view, asymmetric; 10 epochs), NW-UCLA", ROOT / "eval"),
        ("byol_bn_nwucla", "BYOL, plain BN in the target, NW-UCLA", ROOT / "eval"),
        ("byol_no_mvs_nwucla", "BYOL, no multi-view sampling, NW-UCLA", ROOT / "eval"),
        ("byol_aggressive_nwucla", "BYOL, aggressive pipeline both sides, NW-UCLA", ROOT / "eval"),
        ("byol_conservative_nwucla", "BYOL, conservative pipeline both sides, NW-UCLA", ROOT / "eval"),
        ("crrl_msr", "CRRL, MSR alone", ROOT / "eval"),
        ("byol_msr", "BYOL, MSR alone", ROOT / "eval"))


def get(folder, name):
    f = folder / name / "summary.json"
    return json.loads(f.read_text()) if f.is_file() else None


def cell(r):
    return f"{r['knn']:.1f} / {r['linear']:.1f} / {r['raw_knn']:.1f}" + ("" if r["left_out"] is False else " (t)") if r else "-"


for split in ("val", "test"):
    print(f"\n{split}: kNN / linear / raw-coordinate kNN (%); (t): not in the checkpoint's pretraining\n")
    print("| checkpoint | " + " | ".join(DATASETS) + (" | rule score |" if split == "val" else " |"))
    print("|---" * (len(DATASETS) + 1 + (split == "val")) + "|")
    for name, what, folder in ROWS:
        rows = [get(folder, f"{name}_{split}_{d}") for d in DATASETS]
        if not any(rows):
            continue
        score = (sum((r["knn"] + r["linear"]) / 2 for r in rows) / len(rows)) if all(rows) else None
        line = f"| {what} | " + " | ".join(cell(r) for r in rows)
        print(line + ((f" | {score:.1f} |" if score is not None else " | - |") if split == "val" else " |"))
print("\nleave one dataset out (its test split): kNN / linear / raw-coordinate kNN\n")
print("| pretrained on the other three | " + " | ".join(DATASETS) + " |")
print("|---" * (len(DATASETS) + 1) + "|")
for prefix, what, folder in (("crrl", "CRRL (`crrl_cml_all.yaml`, `crrl_all.yaml`)", ROOT / "eval"),
                             ("byol", "BYOL (`byol_all.yaml`)", ROOT / "eval")):
    rows = [get(folder, f"{prefix}_no_{d}") for d in DATASETS]
    if any(rows):
        print(f"| {what} | " + " | ".join(cell(r) for r in rows) + " |")

print("\ntraining throughput (median epoch, sequences/s; one thread each, two runs side by side on the 2-core CPU)\n")
print("| run | method | clips / epoch | sequences/s | epochs | minutes |")
print("|---|---|---|---|---|---|")
RUNS = ROOT.parent.parent / "runs"
for run in ("crrl_cml_nwucla", "crrl_nwucla", "crrl_ser_nwucla", "byol_nwucla", "byol_diag_mbn", "byol_no_mvs_nwucla"):
    f = RUNS / run / "metrics.json"
    if f.is_file():
        m = json.loads(f.read_text())
        rates = sorted(h["sequences_per_s"] for h in m["history"])
        print(f"| {run} | {run.split('_')[0]} | 918 | {rates[len(rates) // 2]:.0f} | {m['epochs']} | "
              f"{sum(h['seconds'] for h in m['history']) / 60:.0f} |")
