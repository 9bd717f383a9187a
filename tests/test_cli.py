"""The skelstream command: help, convert, play, data extraction."""

import subprocess
import sys
import tarfile

import numpy as np
import pytest

from engine.cli import build_parser, main
from engine.datasets import read_file, read_npz
from engine.datasets.cache import extract
from engine.player import play, render
from engine.recording import Recording
from conftest import REPO

DEMO = REPO / "recordings" / "demo.mcap"


def test_help_explains_every_subcommand():
    out = subprocess.run([sys.executable, "-m", "engine.cli", "--help"], capture_output=True, text=True,
                         cwd=REPO, check=True).stdout
    for cmd in ("info", "convert", "data", "synthetic", "play"):
        assert cmd in out
    parser = build_parser()
    for cmd in ("info", "convert", "data", "synthetic", "play"):
        with pytest.raises(SystemExit):
            parser.parse_args([cmd, "--help"])


def test_demo_recording_plays(capsys):
    with Recording(DEMO) as rec:
        assert rec.frame_count() == 600 and set(rec.sensors) == {"synthetic"}
        first = next(rec.frames())
    picture = render(first)
    assert sum(picture.count(c) for c in "ABC") == 3 and picture.count(".") > 30
    assert play(DEMO, speed=0) == 600
    assert "played 600 frames" in capsys.readouterr().out


def test_demo_recording_is_what_its_command_makes(tmp_path):
    assert main(["synthetic", "-o", str(tmp_path / "d.mcap"), "--walkers", "3", "--seconds", "20",
                 "--seed", "7"]) == 0
    made, bundled = read_file(tmp_path / "d.mcap"), read_file(DEMO)
    assert [s.joints.tobytes() for s in made] == [s.joints.tobytes() for s in bundled]


def test_convert_many_inputs(tmp_path):
    main(["synthetic", "-o", str(tmp_path / "a.mcap"), "--walkers", "2", "--seconds", "2"])
    assert main(["convert", str(tmp_path / "a.mcap"), "-o", str(tmp_path / "npz")]) == 0
    files = sorted((tmp_path / "npz").glob("*.npz"))
    assert [f.name for f in files] == ["a_track0.npz", "a_track1.npz"]
    assert main(["convert", *map(str, files), "-o", str(tmp_path / "b.mcap")]) == 0
    with Recording(tmp_path / "b.mcap") as rec:
        assert set(rec.sensors) == {"a_track0", "a_track1"} and rec.frame_count() == 120
    assert main(["convert", str(tmp_path / "npz"), "-o", str(tmp_path / "c.csv")]) == 2
    assert main(["convert", str(files[0]), "-o", str(tmp_path / "c.csv")]) == 0
    assert read_file(tmp_path / "c.csv")[0].joints.tobytes() == read_npz(files[0]).joints.tobytes()


def test_data_cache_extracts_once(tmp_path, monkeypatch):
    shared = tmp_path / "shared"
    (tmp_path / "src" / "nwucla" / "all_sqe").mkdir(parents=True)
    frame = [[0.1 * k, 0.2, 3.0] for k in range(20)]
    (tmp_path / "src" / "nwucla" / "all_sqe" / "a01_s01_e00_v01.json").write_text(
        '{"skeletons": %s, "label": 1}' % [frame])
    shared.mkdir()
    with tarfile.open(shared / "nwucla.tar.xz", "w:xz") as tar:
        tar.add(tmp_path / "src" / "nwucla", arcname="nwucla")
    monkeypatch.setenv("SKELSTREAM_SHARED_DATA", str(shared))
    monkeypatch.setenv("SKELSTREAM_CACHE", str(tmp_path / "cache"))
    root = extract("nwucla", progress=False)
    assert root == tmp_path / "cache" / "data" / "nwucla"
    stamp = (root / "all_sqe" / "a01_s01_e00_v01.json").stat().st_mtime_ns
    (shared / "nwucla.tar.xz").unlink()  # a second call must not need the archive
    assert extract("nwucla", progress=False) == root
    assert (root / "all_sqe" / "a01_s01_e00_v01.json").stat().st_mtime_ns == stamp
    assert not [p for p in root.parent.iterdir() if p.name.startswith(".nwucla-")]
    with pytest.raises(FileNotFoundError, match="kgbd.tar.xz: archive not found"):
        extract("kgbd", progress=False)
    assert main(["info", str(root)]) == 0


def test_gallery_commands_take_options_anywhere_and_bad_inputs_get_one_line_errors(tmp_path, capsys):
    """What a new user's review found: options after the names were refused, one walk could be
    enrolled under two names, a walk of zeros was enrolled, corrupt checkpoints and bad devices
    ended in tracebacks, and -o names were not what was written."""
    from engine.datasets import write_npz
    from engine.sensors.synthetic import walkers
    from engine.sequence import SkeletonSequence
    ada, bob = walkers(2, 6.0, seed=3)
    write_npz(ada, tmp_path / "ada.npz")
    write_npz(bob, tmp_path / "bob.npz")
    zeros = SkeletonSequence(np.zeros_like(ada.joints), ada.confidence, ada.timestamps, ada.layout, ada.fps)
    write_npz(zeros, tmp_path / "zeros.npz")
    g = str(tmp_path / "g.db")

    def run(*argv):
        code = main(list(argv))
        out = capsys.readouterr()
        assert "Traceback" not in out.err
        return code, out.out + out.err

    assert run("enroll", str(tmp_path / "ada.npz"), "--name", "Ada", "--gallery", g)[0] == 0
    code, said = run("enroll", "--name", "Bob", str(tmp_path / "ada.npz"), "--gallery", g)
    assert code == 2 and "'Ada' has an enrollment of this same recording" in said
    code, said = run("enroll", "--name", "Zed", str(tmp_path / "zeros.npz"), "--gallery", g)
    assert code == 2 and "zeros.npz" in said and "usable skeleton" in said
    assert run("enroll", "--name", "Bob", str(tmp_path / "bob.npz"), "--gallery", g)[0] == 0
    assert run("gallery", "rename", "Ada", "--gallery", g, "Ava")[0] == 0
    out = tmp_path / "out.json"
    assert run("gallery", "export", "--gallery", g, str(out))[0] == 0 and out.stat().st_mode & 0o777 == 0o600
    code, said = run("gallery", "export", str(out), "--gallery", g)
    assert code == 2 and "exists" in said
    code, said = run("gallery", "remove", "--gallery", g, "Ava", "Bob")
    assert code == 0 and "removed 'Ava'" in said and "removed 'Bob'" in said
    code, said = run("gallery", "list", "--gallery", g)
    assert "0 people" in said
    code, said = run("embed", str(tmp_path / "bob.npz"), "-o", str(tmp_path / "e.txt"))
    assert code == 2 and "OUT.npz" in said and not (tmp_path / "e.txt").exists()
    code, said = run("embed", str(tmp_path / "bob.npz"), "--device", "bogus", "-o", str(tmp_path / "e.npz"))
    assert code == 2 and "--device bogus" in said
    weights = REPO / "engine" / "models" / "weights"
    (tmp_path / "cut.json").write_text((weights / "gait_fast.json").read_text())
    (tmp_path / "cut.safetensors").write_bytes((weights / "gait_fast.safetensors").read_bytes()[:1000])
    code, said = run("embed", "--checkpoint", str(tmp_path / "cut"), str(tmp_path / "bob.npz"), "-o", str(tmp_path / "e.npz"))
    assert code == 2 and "cut.safetensors: not a readable checkpoint" in said
    assert run("embed", str(tmp_path / "bob.npz"), "-o", str(tmp_path / "e.npz"))[0] == 0
    assert (tmp_path / "e.npz").stat().st_mode & 0o777 == 0o600  # embeddings are biometric data
    code, said = run("synthetic", "-o", str(tmp_path / "s.npz"))
    assert code == 2 and "OUT.mcap" in said and not (tmp_path / "s.npz").exists()
    code, said = run("engine", "--frames", "bogus", "--gallery", str(tmp_path / "e" / "x.db"))
    assert code == 2 and "endpoint 'bogus'" in said and not (tmp_path / "e").exists()  # nothing made
