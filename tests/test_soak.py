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
