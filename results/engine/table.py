"""The markdown tables of docs/RESULTS.md, "Engine: latency, ONNX Runtime, scale, soak and fuzz",
from the JSON files results/engine/run.sh and the soak/fuzz commands wrote.

    python results/engine/table.py
"""

import json
from pathlib import Path

R = Path(__file__).resolve().parent


def load(name):
    path = R / name
    return json.loads(path.read_text()) if path.is_file() else None


def profiles():
    print("| model, backend | engine-side p50 / p99 | add | ready | prepare | model | whiten | send | actions (a batch) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for model in ("sge_la", "a3d"):
        for be in ("torch", "onnx"):
            p = load(f"profile_{model}_{be}.json")
            if p is None:
                continue
            cells = [f"{p[k]['p50_ms']:.2f}" if k in p else "-" for k in ("add", "ready", "prepare", "model", "whiten",
                                                                          "send", "actions")]
            name = {"gait_sge_la": "SGE-LA (default)"}.get(p["checkpoint"], f"A3D ({p['checkpoint']})")
            print(f"| {name}, {p['backend']} | {p['e2e_engine_p50_ms']:.1f} / {p['e2e_engine_p99_ms']:.1f} | "
                  + " | ".join(cells) + " |")


def engine_rows(name, label):
    data = load(name)
    if data is None:
        return
    for r in data["results"]:
        drops = (r["frames_missing_engine"] + r["frames_missing_here"] + r["frames_rejected_engine"]
                 + r["results_dropped"] + r["sensor_dropped"])
        print(f"| {label} | {r['backend']} | {r['tracks']} | {r['e2e_p50_ms']:.1f} | {r['e2e_p99_ms']:.1f} | "
              f"{r['wire_p50_ms']:.2f} | {r['wire_p99_ms']:.2f} | {r['results_per_s']:.1f} ({r['results_expected_per_s']:.0f}) | "
              f"{r['batch_mean']:.1f} | {drops} |")


def engines():
    print("| model | backend | tracks | e2e p50 | e2e p99 | wire p50 | wire p99 | results/s (expected) | batch | drops |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    engine_rows("sge_la_1_6.json", "SGE-LA (default)")
    engine_rows("a3d_1_6.json", "A3D")


def curve():
    print("| model | backend | tracks | e2e p50 | e2e p99 | wire p50 | wire p99 | results/s (expected) | batch | drops |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    engine_rows("curve.json", "SGE-LA (default)")


def wire():
    data = load("wire.json")
    if data is None:
        return
    print("| transport | load | impl | msgs/s | p50 ms | p99 ms | missing |")
    print("|---|---|---|---|---|---|---|")
    for r in data["results"]:
        print(f"| {r['transport']} | {r['load']} | {r['impl']} | {r['rate']:,.0f} | {r['p50_ms']:.2f} | {r['p99_ms']:.2f} | "
              f"{r['missing']:,} |")
    for t in sorted({r["transport"] for r in data["results"]}):
        rate = {r["impl"]: r["rate"] for r in data["results"] if r["transport"] == t and r["load"] == "flat out"}
        print(f"\n{t}: flat-out ratio skelstream / pyzmq = {rate['skelstream'] / rate['pyzmq']:.2f}")


if __name__ == "__main__":
    for title, fn in (("profile", profiles), ("engine", engines), ("curve", curve), ("wire", wire)):
        print(f"\n### {title}\n")
        fn()
