"""Tables of issue 15 (docs/RESULTS.md, "CRRL and skeleton BYOL"): validation with the rule's
score, test, leave-one-dataset-out; cells frozen kNN / linear / raw-coordinate kNN of the same
run. python results/ssl15/table.py"""
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parent
DATASETS = ("nwucla", "msr", "utd_mhad", "kard")
ROWS = (("action_isc", "bundled `action_isc` (ISC, NW-UCLA; issue 14)"),
        ("random_crrl", "untrained BiGRU 2x256 (CRRL's encoder)"),
        ("cml_nwucla", "CRRL: CML alone, NW-UCLA"),
        ("ser_nwucla", "CRRL: SER alone, NW-UCLA"),
        ("crrl_nwucla", "CRRL (CML distilled into SER), NW-UCLA"),
        ("ser_motion_nwucla", "CRRL: SER alone with ISC's motion input (not the paper's), NW-UCLA"),
        ("random_byol", "untrained ST-GCN 0.25x (BYOL's encoder)"),
        ("byol60_nwucla", "BYOL, 60 epochs (collapsed), NW-UCLA"),
        ("byol_nwucla", "BYOL (multi-view, asymmetric; 10 epochs), NW-UCLA"),
        ("byol_bn_nwucla", "BYOL, plain BN in the target, NW-UCLA"),
        ("byol_no_mvs_nwucla", "BYOL, no multi-view sampling, NW-UCLA"),
        ("byol_aggressive_nwucla", "BYOL, aggressive pipeline both sides, NW-UCLA"),
        ("byol_conservative_nwucla", "BYOL, conservative pipeline both sides, NW-UCLA"),
        ("crrl_msr", "CRRL, MSR alone"),
        ("byol_msr", "BYOL, MSR alone"),
        ("crrl_all", "CRRL, all four (`crrl_cml_all.yaml` 20 + `crrl_all.yaml` 12 epochs)"),
        ("byol_all", "BYOL, all four (`byol_all.yaml`, 10 epochs)"),
        # the GPU session (results/gpu/RULE.md): width 1, 68- and 300-epoch schedules, kept along the way
        ("gpu_e68_byol_w1_epoch22", "BYOL 1x (H200), 68-epoch schedule, epoch 22"),
        ("gpu_e68_byol_w1_epoch45", "BYOL 1x (H200), 68-epoch schedule, epoch 45"),
        ("gpu_e68_byol_w1_epoch68", "BYOL 1x (H200), 68 epochs"),
        ("gpu_byol_w1_e300_epoch100", "BYOL 1x (H200), 300-epoch schedule, epoch 100"),
        ("gpu_byol_w1_e300_epoch200", "BYOL 1x (H200), 300-epoch schedule, epoch 200"),
        ("gpu_byol_w1_e300_epoch300", "BYOL 1x (H200), 300 epochs"))
FOLDER = {"action_isc": ROOT.parent / "isc_all" / "eval"}  # issue 14's summaries; the rest: ROOT / "eval"


def get(row, name):
    f = FOLDER.get(row, ROOT / "eval") / name / "summary.json"
    return json.loads(f.read_text()) if f.is_file() else None


def cell(r):
    return f"{r['knn']:.1f} / {r['linear']:.1f} / {r['raw_knn']:.1f}" + ("" if r["left_out"] is False else " (t)") if r else "-"


for split in ("val", "test"):
    print(f"\n{split}: kNN / linear / raw-coordinate kNN (%); (t): not in the checkpoint's pretraining\n")
    print("| checkpoint | " + " | ".join(DATASETS) + (" | rule score |" if split == "val" else " |"))
    print("|---" * (len(DATASETS) + 1 + (split == "val")) + "|")
    for name, what in ROWS:
        rows = [get(name, f"{name}_{split}_{d}") for d in DATASETS]
        if not any(rows):
            continue
        score = (sum((r["knn"] + r["linear"]) / 2 for r in rows) / len(rows)) if all(rows) else None
        line = f"| {what} | " + " | ".join(cell(r) for r in rows)
        print(line + ((f" | {score:.1f} |" if score is not None else " | - |") if split == "val" else " |"))
print("\nleave one dataset out (its test split): kNN / linear / raw-coordinate kNN\n")
print("| pretrained on the other three | " + " | ".join(DATASETS) + " |")
print("|---" * (len(DATASETS) + 1) + "|")
FOLDER["isc"] = ROOT.parent / "isc_all" / "eval"
for prefix, what, pattern in (("isc", "ISC (`isc_all.yaml`; issue 14)", "no_{d}_transfer_{d}"),
                              ("crrl", "CRRL (`crrl_cml_all.yaml`, `crrl_all.yaml`)", "crrl_no_{d}"),
                              ("byol", "BYOL (`byol_all.yaml`)", "byol_no_{d}")):
    rows = [get(prefix, pattern.format(d=d)) for d in DATASETS]
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
