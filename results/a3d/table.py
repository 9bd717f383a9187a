"""Markdown tables of the A3D evaluations (results/a3d/eval/*/summary.json): per run, raw and
whitened, gallery matching beside bone lengths of the same run. ``python results/a3d/table.py``."""

import json
from pathlib import Path

HERE = Path(__file__).parent
ROWS = [("open_head", "A3D (policy gradient into F_a only; the default)"),
        ("open", "A3D, policy gradient into the whole network (first recipe)"),
        ("open_none", "w/o attention (global feature only)"),
        ("open_random", "random attention"),
        ("open_one_step", "w/o RNN (one glimpse, at the centre)"),
        ("open_no_rl", "w/o RL objective"),
        ("open_no_velocity", "w/o velocity stream"),
        ("open_stgcn_byol", "ST-GCN streams from skeleton BYOL (self-supervised, NW-UCLA)"),
        ("open_stgcn", "ST-GCN streams from scratch")]


def cell(s: dict, scorer: str, unit: str) -> str:
    get = lambda m: s.get(f"{scorer}.{unit}.{m}", {}).get("mean")  # noqa: E731
    return "-" if get("rank1") is None else f"{get('rank1'):.1f} / {get('map'):.1f}"


def load(name: str) -> dict | None:
    path = HERE / "eval" / name / "summary.json"
    return json.loads(path.read_text())["summary"] if path.is_file() else None


def open_world() -> str:
    lines = ["| model | per window: raw | per window: whitened | per walk: raw | per walk: whitened |",
             "|---|---|---|---|---|"]
    bones = None
    for name, label in ROWS:
        raw, white = load(name), load(f"{name}_white")
        if raw is None:
            continue
        bones = bones or raw
        lines.append(f"| {label} | {cell(raw, 'matching', 'per_window')} | "
                     f"{cell(white or {}, 'matching', 'per_window')} | {cell(raw, 'matching', 'per_walk')} | "
                     f"{cell(white or {}, 'matching', 'per_walk')} |")
    if bones:
        lines.append(f"| bone lengths (same split) | {cell(bones, 'bones', 'per_window')} | | "
                     f"{cell(bones, 'bones', 'per_walk')} | |")
    return "\n".join(lines)


def tracklets() -> str:
    lines = ["| model | Rank-1 | Rank-5 | Rank-10 | mAP |", "|---|---|---|---|---|"]
    for name, label in (("tracklets", "A3D"), ("tracklets_white", "A3D, whitened"),
                        ("sge_la_tracklets", "SGE-LA"), ("sge_la_tracklets_white", "SGE-LA, whitened")):
        s = load(name)
        if s is None:
            continue
        lines.append(f"| {label} | " + " | ".join(f"{s[f'tracklets.per_tracklet.{m}']['mean']:.1f}"
                                                for m in ("rank1", "rank5", "rank10", "map")) + " |")
        bones = s
    if len(lines) > 2:
        lines.append("| bone lengths (same split) | " + " | ".join(
            f"{bones[f'bones.per_tracklet.{m}']['mean']:.1f}" for m in ("rank1", "rank5", "rank10", "map")) + " |")
    return "\n".join(lines)


def transfer() -> str:
    """A3D and SGE-LA from `results/a3d/transfer.sh`: mean over rotations (KARD, NW-UCLA) and the
    KGBD joint sets."""
    runs = {}
    for name in ("a3d", "sge_la_default"):
        path = HERE / "transfer" / name / "transfer.json"
        if path.is_file():
            runs[name] = json.loads(path.read_text())[0]["protocols"]
    if len(runs) < 2:
        return "(transfer runs missing)"
    lines = ["| protocol | A3D: Rank-1 / mAP | SGE-LA default: Rank-1 / mAP | bone lengths (A3D's run) | "
             "A3D open set: named / rejected | SGE-LA open set: named / rejected |", "|---|---|---|---|---|---|"]
    rows = [("kard", "mean", "KARD walks, mean of 3 rotations"), ("nwucla", "mean", "NW-UCLA a04, mean of 3 views")]
    rows += [("kgbd", f"probes with {j} joints", f"KGBD probes, {j} joints") for j in ("all", "openni15", "mediapipe")]
    for proto, key, label in rows:
        cells = []
        for name in ("a3d", "sge_la_default"):
            r = runs[name][proto]["mean" if key == "mean" else "rotations"]
            r = r if key == "mean" else r[key]
            cells.append(r)
        a, s_ = cells
        on = lambda r: f"{r['open_set']['normalised']['named']:.1f} / {r['open_set']['normalised']['rejected']:.1f}"  # noqa: E731
        lines.append(f"| {label} | {a['model']['rank1']:.1f} / {a['model']['map']:.1f} | {s_['model']['rank1']:.1f} / "
                     f"{s_['model']['map']:.1f} | {a['bones']['rank1']:.1f} / {a['bones']['map']:.1f} | {on(a)} | {on(s_)} |")
    return "\n".join(lines)


if __name__ == "__main__":
    print("Open world (KGBD, 82 people never seen in training), Rank-1 / mAP in %\n")
    print(open_world())
    print("\nTracklet protocol (KGBD, split 0), in %\n")
    print(tracklets())
    print("\nTransfer (eval transfer), in %\n")
    print(transfer())
