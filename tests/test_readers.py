"""Readers on files written here: generic NPZ/CSV, NTU .skeleton, and bad input of every kind."""

import warnings

import numpy as np
import pytest

from engine.cli import main
from engine.datasets import (open_dataset, read_csv, read_file, read_kard, read_kgbd, read_msr,
                             read_npz, read_ntu, read_ntu_bodies, read_nwucla, read_utd_mhad,
                             write_csv, write_npz)
from engine.datasets.kgbd import KGBD_NAMES
from engine.recording import write_sequences
from engine.sequence import MaskedJointsWarning, SkeletonDataError, SkeletonSequence
from engine.skeleton import CANONICAL, layout_for

SUBSET = list(CANONICAL[:18])


def _subset_npz(path, frames=120, **extra):
    rng = np.random.default_rng(1)
    joints = rng.normal(size=(frames, 18, 3)).astype(np.float32)
    names = list(reversed(SUBSET))  # any order
    np.savez(path, joints=joints, joint_names=np.array(names), fps=np.array(30.0), **extra)
    return joints, names


def test_subset_npz_to_recording_and_back(tmp_path, capsys):
    joints, names = _subset_npz(tmp_path / "subset.npz", subject=np.array("alice"))
    seq = read_npz(tmp_path / "subset.npz")
    assert seq.layout.joints == tuple(names) and seq.meta["subject"] == "alice"
    assert main(["convert", str(tmp_path / "subset.npz"), "-o", str(tmp_path / "rec.mcap")]) == 0
    (back,) = read_file(tmp_path / "rec.mcap")
    assert back.joints.tobytes() == joints.tobytes() and back.layout.joints == tuple(names)
    assert back.timestamps.tobytes() == seq.timestamps.tobytes() and back.meta["subject"] == "alice"
    capsys.readouterr()
    assert main(["info", str(tmp_path / "rec.mcap")]) == 0
    lines = dict(ln.split(None, 1) for ln in capsys.readouterr().out.splitlines() if not ln.startswith(" "))
    assert lines["frames"] == "120" and lines["recording_frames"] == "120"
    # and back to NPZ through the CLI
    assert main(["convert", str(tmp_path / "rec.mcap"), "-o", str(tmp_path / "again.npz")]) == 0
    again = read_npz(tmp_path / "again.npz")
    assert again.joints.tobytes() == joints.tobytes()


def test_csv_round_trip_keeps_values_and_missing_joints(tmp_path):
    joints, _ = _subset_npz(tmp_path / "a.npz", frames=30)
    seq = read_npz(tmp_path / "a.npz")
    seq.confidence[3, 4] = 0
    seq.joints[3, 4] = 0
    write_csv(seq, tmp_path / "a.csv")
    header = (tmp_path / "a.csv").read_text().splitlines()[0]
    assert header.startswith(f"time,{SUBSET[-1]}_x,{SUBSET[-1]}_y,{SUBSET[-1]}_z,")
    back = read_csv(tmp_path / "a.csv")
    assert back.joints.tobytes() == seq.joints.tobytes()
    assert back.confidence.tobytes() == seq.confidence.tobytes()
    assert back.timestamps.tobytes() == seq.timestamps.tobytes() and back.fps == 30.0


NTU_BODY = "72057594037931101 0 1 1 1 1 0 0.1 0.2 2"


def _ntu_joint(k, t, state=2):
    return f"{0.01 * k:.3f} {0.1 * t - 0.5:.3f} {3 + 0.01 * k:.3f} 200 200 900 500 1 0 0 0 {state}"


def _ntu_text(frames=3, two_in=(1,)):
    lines = [str(frames)]
    for t in range(frames):
        bodies = [NTU_BODY] + (["72057594037931999 0 1 1 1 1 0 0 0 2"] if t in two_in else [])
        lines.append(str(len(bodies)))
        for b, head in enumerate(bodies):
            lines += [head, "25"] + [_ntu_joint(k + b, t, state=1 if k == 3 else 2) for k in range(25)]
    return "\n".join(lines) + "\n"


def test_ntu_skeleton_by_hand(tmp_path):
    path = tmp_path / "S001C002P003R001A010.skeleton"
    path.write_text(_ntu_text())
    bodies = read_ntu_bodies(path)
    assert [len(b) for b in bodies] == [3, 1]
    main_body = read_ntu(path)
    assert main_body.meta["body_id"] == "72057594037931101"
    assert main_body.meta.items() >= {"subject": "P003", "view": "C002", "action": "A010", "setup": "S001"}.items()
    assert main_body.joints.shape == (3, 25, 3) and main_body.layout.name == "kinect_v2"
    np.testing.assert_allclose(main_body.joints[2, 5], [0.05, -0.3, 3.05], atol=1e-6)
    assert main_body.confidence[0, 3] == 0.5 and main_body.confidence[0, 4] == 1.0
    np.testing.assert_allclose(bodies[1].timestamps, [1 / 30])
    # a folder of them is a dataset, and a recording keeps both bodies as tracks
    ds = open_dataset(tmp_path)
    assert ds.name == "ntu" and len(ds) == 1 and ds.values("subject") == ["P003"]
    write_sequences(tmp_path / "n.mcap", {"ntu": bodies})
    back = read_file(tmp_path / "n.mcap")
    assert [len(b) for b in back] == [3, 1]
    assert back[1].joints.tobytes() == bodies[1].joints.tobytes()


def _kgbd_text(frames=2):
    return "".join(f"{n};{0.01 * k:.2f};{0.5 - 0.05 * k:.2f};2.5\n" for _ in range(frames) for k, n in enumerate(KGBD_NAMES))


@pytest.fixture
def kgbd_file(tmp_path):
    path = tmp_path / "Person007" / "2.txt"
    path.parent.mkdir()
    path.write_text(_kgbd_text())
    return path


def test_kgbd_small_file_and_meta(kgbd_file):
    seq = read_kgbd(kgbd_file)
    assert seq.joints.shape == (2, 20, 3) and seq.meta["subject"] == "Person007" and seq.meta["walk"] == "2"
    np.testing.assert_allclose(seq.timestamps, [0, 1 / 30])


@pytest.mark.parametrize("mutate,match", [
    (lambda t: t[: t.rindex("Knee-Left")], r"2\.txt:35: truncated: last frame has 15 of 20"),
    (lambda t: t.replace("Spine;", "Backbone;", 1), r"2\.txt:11: unknown joint name 'Backbone'"),
    (lambda t: t.replace("Elbow-Left;0.05;0.25;2.5\n", "", 1), r"2\.txt:6: joint out of order 'Wrist-Right'"),
    (lambda t: t.replace("Hip-Left;0.13;-0.15;2.5", "Hip-Left;0.13;-0.15", 1), r"2\.txt:14: expected 'Joint;x;y;z'"),
    (lambda t: t.replace("Knee-Right;0.14;-0.20;2.5", "Knee-Right;0.14;abc;2.5", 1), r"2\.txt:15: not a number"),
    (lambda t: "", r"2\.txt: empty file"),
    (lambda t: "\n\n", r"2\.txt: empty file"),
])
def test_kgbd_bad_input(kgbd_file, mutate, match):
    kgbd_file.write_text(mutate(kgbd_file.read_text()))
    with pytest.raises(SkeletonDataError, match=match):
        read_kgbd(kgbd_file)


def test_kgbd_nan_joints_are_masked_and_counted(kgbd_file):
    text = kgbd_file.read_text().replace("Hand-Left;0.09;0.05;2.5", "Hand-Left;nan;0.05;2.5")
    kgbd_file.write_text(text)
    with pytest.warns(MaskedJointsWarning, match=r"masked 2 NaN joint\(s\) in 2 frame"):
        seq = read_kgbd(kgbd_file)
    assert (seq.confidence[:, 9] == 0).all() and (seq.joints[:, 9] == 0).all()
    assert (seq.confidence[:, :9] == 1).all()


def test_msr_bad_input(tmp_path):
    path = tmp_path / "a01_s01_e01_skeleton3D.txt"
    good = "".join(f"{k * 0.01} 0.1 2.5 1\n" for k in range(40))
    path.write_text(good)
    assert read_msr(path).joints.shape == (2, 20, 3)
    path.write_text(good + "0.1 0.2 2.5 1\n")
    with pytest.raises(SkeletonDataError, match=r"skeleton3D\.txt:41: truncated: last frame has 1 of 20"):
        read_msr(path)
    path.write_text(good.replace("0.1 2.5 1\n", "0.1 2.5\n", 1))
    with pytest.raises(SkeletonDataError, match=r"skeleton3D\.txt:1: expected 'x y z confidence'"):
        read_msr(path)
    path.write_text("")
    with pytest.raises(SkeletonDataError, match="empty file"):
        read_msr(path)
    bad_name = tmp_path / "walk_skeleton3D.txt"
    bad_name.write_text(good)
    with pytest.raises(SkeletonDataError, match="aAA_sSS_eEE_skeleton3D"):
        read_msr(bad_name)


def test_nwucla_bad_input(tmp_path):
    path = tmp_path / "a01_s01_e00_v01.json"
    frame = [[0.1 * k, 0.2, 3.0] for k in range(20)]
    path.write_text('{"file_name": "a01_s01_e00_v01", "skeletons": %s, "label": 1}' % [frame, frame])
    assert read_nwucla(path).joints.shape == (2, 20, 3)
    path.write_text('{"skeletons": %s, "label": 1}' % [frame[:19]])
    with pytest.raises(SkeletonDataError, match=r"v01\.json: skeletons\[0\] is not 20 joints"):
        read_nwucla(path)
    path.write_text('{"skeletons": %s, "label": 3}' % [frame])
    with pytest.raises(SkeletonDataError, match="'label' is 3, but the name says a01"):
        read_nwucla(path)
    path.write_text('{"skeletons": [[[0.1, 0.2')
    with pytest.raises(SkeletonDataError, match=r"v01\.json:1: not valid JSON"):
        read_nwucla(path)
    path.write_text('{"skeletons": []}')
    with pytest.raises(SkeletonDataError, match="holds no frames"):
        read_nwucla(path)


def _save_mat(path, **variables):
    from scipy.io import savemat
    savemat(path, variables)
    return path


def test_utd_mhad_small_file_and_meta(tmp_path):
    skel = np.random.default_rng(0).normal(size=(20, 3, 4))
    path = _save_mat(tmp_path / "a3_s1_t2_skeleton.mat", d_skel=skel)
    (seq,) = read_file(path)
    assert seq.joints.shape == (4, 20, 3) and seq.layout.name == "utd_mhad" and seq.fps == 30.0
    np.testing.assert_allclose(seq.joints[2, 7], skel[7, :, 2], rtol=1e-6)  # kept as stored
    assert {k: seq.meta[k] for k in ("action", "subject", "session")} == \
        {"action": "a03", "subject": "s01", "session": "t02"}
    one = _save_mat(tmp_path / "a3_s1_t3_skeleton.mat", d_skel=skel[:, :, 0])  # MATLAB's one frame
    assert read_utd_mhad(one).joints.shape == (1, 20, 3)
    ds = open_dataset(tmp_path)
    assert ds.name == "utd_mhad" and len(ds) == 2 and ds.values("session") == ["t02", "t03"]


def test_utd_mhad_bad_input(tmp_path):
    path = tmp_path / "a1_s2_t1_skeleton.mat"
    _save_mat(path, skel=np.zeros((20, 3, 5)))
    with pytest.raises(SkeletonDataError, match=r"a1_s2_t1_skeleton\.mat: no variable 'd_skel' \(found: skel\)"):
        read_utd_mhad(path)
    _save_mat(path, d_skel=np.ones((19, 3, 5)))
    with pytest.raises(SkeletonDataError, match=r"skeleton\.mat: d_skel has shape \[19, 3, 5\], expected \[20, 3, T\]"):
        read_utd_mhad(path)
    _save_mat(path, d_skel=np.ones((5, 20, 3)))
    with pytest.raises(SkeletonDataError, match=r"skeleton\.mat: d_skel has shape \[5, 20, 3\]"):
        read_utd_mhad(path)
    _save_mat(path, d_skel=np.ones((20, 3, 0)))
    with pytest.raises(SkeletonDataError, match=r"skeleton\.mat: d_skel has shape \[20, 3, 0\]"):
        read_utd_mhad(path)
    _save_mat(path, d_skel=np.array(["head", "neck"]))
    with pytest.raises(SkeletonDataError, match=r"skeleton\.mat: d_skel holds <U4 values, not real numbers"):
        read_utd_mhad(path)
    path.write_bytes(b"not a MATLAB file at all, just some bytes " * 4)
    with pytest.raises(SkeletonDataError, match=r"skeleton\.mat: not a readable MATLAB \.mat file"):
        read_utd_mhad(path)
    path.write_bytes(b"")
    with pytest.raises(SkeletonDataError, match=r"skeleton\.mat: not a readable MATLAB"):
        read_utd_mhad(path)
    bad_name = _save_mat(tmp_path / "a1_s2_skeleton.mat", d_skel=np.ones((20, 3, 2)))
    with pytest.raises(SkeletonDataError, match=r"a1_s2_skeleton\.mat: name does not follow aA_sS_tT_skeleton"):
        read_utd_mhad(bad_name)
    inf = np.ones((20, 3, 2))
    inf[4, 1, 1] = np.inf
    _save_mat(path, d_skel=inf)
    with pytest.raises(SkeletonDataError, match=r"skeleton\.mat: infinite value at frame 1, joint 4"):
        read_utd_mhad(path)
    nan = np.ones((20, 3, 3))
    nan[5, 0, :2] = np.nan
    _save_mat(path, d_skel=nan)
    with pytest.warns(MaskedJointsWarning, match=r"masked 2 NaN joint\(s\) in 2 frame"):
        seq = read_utd_mhad(path)
    assert seq.confidence[:, 5].tolist() == [0, 0, 1] and (seq.joints[:2, 5] == 0).all()


def _kard_text(frames=2):
    return "".join(f"{10.0 * k - 70:.1f} {500 - 50.0 * k:.1f} 2500.0\n" for _ in range(frames) for k in range(15))


def test_kard_small_file_and_meta(tmp_path):
    path = tmp_path / "a01_s02_e03_realworld.txt"
    path.write_text(_kard_text())
    (seq,) = read_file(path)
    assert seq.joints.shape == (2, 15, 3) and seq.layout.name == "kard" and seq.fps == 30.0
    # millimetres to metres, x mirrored into Kinect camera space
    np.testing.assert_allclose(seq.joints[1, 2], [0.05, 0.4, 2.5], rtol=1e-6)
    np.testing.assert_allclose(seq.joints[0, 7], [0.0, 0.15, 2.5], atol=1e-7)
    assert not np.signbit(seq.joints[0, 7, 0])  # a stored 0 stays +0.0
    assert {k: seq.meta[k] for k in ("action", "subject", "session")} == \
        {"action": "a01", "subject": "s02", "session": "e03"}
    assert open_dataset(tmp_path).name == "kard"


def test_kard_bad_input(tmp_path):
    path = tmp_path / "a01_s02_e03_realworld.txt"
    good = _kard_text()
    path.write_text(good + "1.0 2.0 3.0\n")
    with pytest.raises(SkeletonDataError,
                       match=r"realworld\.txt:31: truncated: last frame has 1 of 15 joints \(31 lines"):
        read_kard(path)
    lines = good.splitlines()
    lines[3] = "-40.0 abc 2500.0"
    path.write_text("\n".join(lines))
    with pytest.raises(SkeletonDataError, match=r"realworld\.txt:4: not a number in '-40\.0 abc 2500\.0'"):
        read_kard(path)
    lines[3] = "-40.0 350.0"
    path.write_text("\n".join(lines))
    with pytest.raises(SkeletonDataError, match=r"realworld\.txt:4: expected 'x y z'"):
        read_kard(path)
    path.write_text("")
    with pytest.raises(SkeletonDataError, match=r"realworld\.txt: empty file"):
        read_kard(path)
    bad_name = tmp_path / "a01_s02_realworld.txt"
    bad_name.write_text(good)
    with pytest.raises(SkeletonDataError, match=r"a01_s02_realworld\.txt: name does not follow aAA_sSS_eEE_realworld"):
        read_kard(bad_name)
    path.write_text(good.replace("-40.0 350.0", "nan 350.0", 1))
    with pytest.warns(MaskedJointsWarning, match=r"masked 1 NaN joint\(s\) in 1 frame"):
        seq = read_kard(path)
    assert seq.confidence[:, 3].tolist() == [0, 1] and (seq.joints[0, 3] == 0).all()


def test_ntu_bad_input(tmp_path):
    path = tmp_path / "S001C001P001R001A001.skeleton"
    text = _ntu_text()
    path.write_text(text[: text.rindex("\n", 0, len(text) // 2)])
    with pytest.raises(SkeletonDataError, match=r"\.skeleton:\d+: truncated: file ends before"):
        read_ntu(path)
    path.write_text(text.replace("\n25\n", "\n24\n", 1))
    with pytest.raises(SkeletonDataError, match=r"\.skeleton:4: 24 joints, expected 25"):
        read_ntu(path)
    lines = text.splitlines()
    lines[5] = lines[5].rsplit(" ", 1)[0] + " 7"
    path.write_text("\n".join(lines))
    with pytest.raises(SkeletonDataError, match=r"\.skeleton:5: trackingState must be 0, 1 or 2"):
        read_ntu(path)
    path.write_text("")
    with pytest.raises(SkeletonDataError, match="empty file"):
        read_ntu(path)


def test_npz_bad_input(tmp_path):
    path = tmp_path / "x.npz"
    joints = np.zeros((5, 2, 3), np.float32)
    np.savez(path, joints=joints, joint_names=np.array(["Head", "Pelvis"]), fps=np.array(30.0))
    with pytest.raises(SkeletonDataError, match=r"x\.npz: unknown joint name 'Pelvis'"):
        read_npz(path)
    np.savez(path, joints=joints, joint_names=np.array(["Head", "Neck", "SpineBase"]), fps=np.array(30.0))
    with pytest.raises(SkeletonDataError, match=r"x\.npz: field 'joints' has shape \(5, 2, 3\).*3 joint names"):
        read_npz(path)
    np.savez(path, joints=joints, joint_names=np.array(["Head", "Neck"]), fps=np.array(30.0),
             timestamps=np.array([0, 0.1, 0.2, 0.2, 0.3]))
    with pytest.raises(SkeletonDataError, match=r"x\.npz: timestamps are not strictly increasing at frame 3"):
        read_npz(path)
    np.savez(path, joints=joints, joint_names=np.array(["Head", "Neck"]))
    with pytest.raises(SkeletonDataError, match=r"x\.npz: missing field 'fps'"):
        read_npz(path)
    np.savez(path, joints=joints[:0], joint_names=np.array(["Head", "Neck"]), fps=np.array(30.0))
    with pytest.raises(SkeletonDataError, match=r"x\.npz: no frames"):
        read_npz(path)
    np.savez(path, joints=joints, joint_names=np.array(["Head", "Neck"], dtype=object), fps=np.array(30.0))
    with pytest.raises(SkeletonDataError, match="object arrays"):
        read_npz(path)
    inf = joints.copy()
    inf[2, 1, 0] = np.inf
    np.savez(path, joints=inf, joint_names=np.array(["Head", "Neck"]), fps=np.array(30.0))
    with pytest.raises(SkeletonDataError, match="infinite value at frame 2, joint 1"):
        read_npz(path)
    path.write_bytes(b"not a zip")
    with pytest.raises(SkeletonDataError, match=r"x\.npz: not a readable NPZ"):
        read_npz(path)
    (tmp_path / "empty.npz").write_bytes(b"")
    with pytest.raises(SkeletonDataError, match=r"empty\.npz"):
        read_npz(tmp_path / "empty.npz")


def test_csv_bad_input(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("time,Head_x,Head_y,Head_z\n0.0,1,2,3\n0.1,1,2\n")
    with pytest.raises(SkeletonDataError, match=r"x\.csv:3: expected"):
        read_csv(path)
    path.write_text("time,Head_x,Head_y,Foo_z\n0.0,1,2,3\n")
    with pytest.raises(SkeletonDataError, match=r"x\.csv:1: columns 2-4 must be Head_x,Head_y,Head_z"):
        read_csv(path)
    path.write_text("time,Hed_x,Hed_y,Hed_z\n0.0,1,2,3\n")
    with pytest.raises(SkeletonDataError, match=r"x\.csv: unknown joint name 'Hed'"):
        read_csv(path)
    path.write_text("time,Head_x,Head_y,Head_z\n0.1,1,2,3\n0.0,1,2,3\n")
    with pytest.raises(SkeletonDataError, match=r"x\.csv: timestamps are not strictly increasing at frame 1"):
        read_csv(path)
    path.write_text("time,Head_x,Head_y,Head_z\n")
    with pytest.raises(SkeletonDataError, match="no frames after the header"):
        read_csv(path)
    path.write_text("time,Head_x,Head_y,Head_z\n0.0,nan,2,3\n0.1,1,2,3\n")
    with pytest.warns(MaskedJointsWarning):
        assert read_csv(path).confidence[:, 0].tolist() == [0.0, 1.0]


def test_sequence_validation():
    lay = layout_for(["Head", "Neck"])
    ok = dict(joints=np.zeros((3, 2, 3)), confidence=np.ones((3, 2)), timestamps=[0, 1, 2], layout=lay, fps=1)
    SkeletonSequence(**ok)
    with pytest.raises(SkeletonDataError, match=r"joints have shape \(3, 3, 3\), expected \(3, 2, 3\)"):
        SkeletonSequence(**ok | {"joints": np.zeros((3, 3, 3))})
    with pytest.raises(SkeletonDataError, match="NaN or inf"):
        SkeletonSequence(**ok | {"joints": np.full((3, 2, 3), np.nan)})
    with pytest.raises(SkeletonDataError, match="not strictly increasing at frame 2"):
        SkeletonSequence(**ok | {"timestamps": [0, 1, 0.5]})


def test_unsupported_file_and_cli_errors(tmp_path, capsys):
    (tmp_path / "x.bvh").write_text("HIERARCHY")
    assert main(["info", str(tmp_path / "x.bvh")]) == 2
    err = capsys.readouterr().err
    assert "x.bvh: unsupported file type '.bvh'" in err
    assert main(["info", str(tmp_path / "missing.npz")]) == 2
    assert "missing.npz: no such file" in capsys.readouterr().err
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["info", str(empty)]) == 2
    assert "no supported dataset here" in capsys.readouterr().err
