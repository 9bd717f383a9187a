"""`skelstream bench soak` at small scale (the 60-minute run is in docs/RESULTS.md): the engine,
synthetic walkers, the recorder and a results subscriber run together with live enrollments and
removals through the control socket. Nothing is dropped, the recording holds every published
frame without a gap, and the gallery holds exactly the people enrolled and not removed, one
enrollment each."""

import json

from engine.bench_soak import soak


def test_short_soak_loses_nothing_and_keeps_the_gallery(tmp_path, onnx_cache):
    s = soak(0.75, tmp_path, tracks=3, sample=5.0, enroll_every=7.0, warmup=10.0, progress=False)
    assert s["enrolled"] >= 4 and s["removed"] >= 1  # more than three enrolled: the oldest went
    assert s["gallery_intact"], (s["gallery_expected"], s["gallery_stored"], s["gallery_listed"])
    assert s["drops"] == 0 and s["frames_missing_engine"] == 0 and s["results_dropped_engine"] == 0
    assert s["frames_recorded"] == s["frames_published"] > 1000 and s["recording_gaps"] == 0
    assert s["results"] > 0 and s["bad_results"] == 0
    rows = json.loads((tmp_path / "soak.json").read_text())["rows"]
    assert len(rows) >= 7 and all(r["engine_fds"] > 0 and r["engine_rss_mib"] > 0 for r in rows)
    assert (tmp_path / "soak.png").stat().st_size > 10_000


def test_soak_writes_its_figures_where_json_asks(tmp_path, monkeypatch):
    """`skelstream bench soak --json F` writes the figures to F too, as every bench does with
    --json (the soak run itself stubbed: this is the command's plumbing)."""
    import argparse

    import engine.bench_soak as bench_soak

    summary = {"engine_rss_mib_after_warmup": 1.0, "engine_rss_mib_end": 1.0, "engine_rss_growth_pct": 0.0,
               "engine_fds_min_max": [1, 1], "e2e_p50_ms_median": 1.0, "e2e_p99_ms_max": 1.0, "drops": 0,
               "frames_missing_engine": 0, "frames_rejected_engine": 0, "results_dropped_engine": 0,
               "frames_recorded": 1, "frames_published": 1, "recording_gaps": 0, "gallery_intact": True, "enrolled": 1,
               "removed": 0, "gallery_expected": [], "gallery_stored": {}, "gallery_listed": []}

    def fake(minutes, out, *a, **k):
        out.mkdir(parents=True, exist_ok=True)
        (out / "soak.json").write_text(json.dumps({"summary": summary, "rows": []}))
        return summary
    monkeypatch.setattr(bench_soak, "soak", fake)
    args = argparse.Namespace(out=str(tmp_path / "run"), minutes=0.1, tracks=1, rate=30.0, sample=1.0, enroll_every=5.0,
                              warmup=1.0, backend="auto", json=str(tmp_path / "figures" / "soak10.json"))
    bench_soak.main(args)
    assert json.loads((tmp_path / "figures" / "soak10.json").read_text())["summary"]["gallery_intact"] is True
