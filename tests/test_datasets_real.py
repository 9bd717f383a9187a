"""The readers on the real datasets of ../shared/data: counts, conventions, round trips."""

import json
from collections import defaultdict

import numpy as np
import pytest

from engine import skeleton as sk
from engine.cli import main
from engine.datasets import (KGBDDataset, MSRDataset, NWUCLADataset, open_dataset, read_file,
                             read_npz, write_npz)
from engine.recording import Recording, write_sequences

pytestmark = pytest.mark.realdata


@pytest.fixture(scope="module")
def kgbd(kgbd_root):
    return open_dataset(kgbd_root)


@pytest.fixture(scope="module")
def kgbd_walks(kgbd):
    return list(kgbd)


@pytest.fixture(scope="module")
def nwucla(nwucla_root):
    return open_dataset(nwucla_root)


@pytest.fixture(scope="module")
def msr(msr_root):
    return open_dataset(msr_root)


def test_kgbd_counts(kgbd, kgbd_walks):
    assert isinstance(kgbd, KGBDDataset)
    assert len(kgbd) == 822 and len(kgbd.values("subject")) == 164
    assert len({s.meta["subject"] for s in kgbd_walks}) == 164
    # every frame of every walk has the 20 joints
    for seq in kgbd_walks:
        assert seq.joints.shape[1:] == (20, 3) and len(seq) >= 200
        assert (seq.confidence == 1).all()


def test_nwucla_counts(nwucla):
    assert isinstance(nwucla, NWUCLADataset)
    assert len(nwucla) == 1484
    assert len(nwucla.values("action")) == 10 and nwucla.values("action") == list(nwucla.classes)
    assert len(nwucla.values("subject")) == 10
    assert nwucla.values("view") == ["v01", "v02", "v03"]
    frames = [len(s) for s in nwucla]
    assert min(frames) == 1 and max(frames) == 201


def test_msr_counts(msr):
    assert isinstance(msr, MSRDataset)
    assert len(msr) == 567
    assert len(msr.values("action")) == 20 and len(msr.values("subject")) == 10
    assert msr.counts("used")["1"] == 557
    frames = [len(s) for s in msr]
    assert min(frames) == 13 and max(frames) == 936
    assert all(s.joints.shape[1] == 20 for s in msr)


def _canonical(seq):
    return sk.to_canonical(seq.joints, seq.confidence, seq.layout)


def _forward_agrees_with_feet(seq) -> float:
    """Mean cosine between the facing direction implied by left/right and the feet's direction."""
    j, c, _ = _canonical(seq)
    i = sk.INDEX
    ok = (c[:, [i["ShoulderLeft"], i["ShoulderRight"], i["HipLeft"], i["HipRight"], i["FootLeft"],
                i["FootRight"], i["AnkleLeft"], i["AnkleRight"]]] > 0).all(1)
    j = j[ok]
    left = j[:, i["ShoulderLeft"]] - j[:, i["ShoulderRight"]] + j[:, i["HipLeft"]] - j[:, i["HipRight"]]
    forward = np.cross(left, [0, 1, 0])  # left x up = forward in a right-handed frame
    feet = j[:, i["FootLeft"]] - j[:, i["AnkleLeft"]] + j[:, i["FootRight"]] - j[:, i["AnkleRight"]]
    forward[:, 1] = feet[:, 1] = 0
    cos = (forward * feet).sum(-1) / (np.linalg.norm(forward, axis=-1) * np.linalg.norm(feet, axis=-1) + 1e-9)
    return float(cos.mean()) if len(cos) else 0.0


@pytest.mark.parametrize("name", ["kgbd", "nwucla", "msr"])
def test_left_right_and_up(name, request):
    ds = request.getfixturevalue(name)
    seqs = [ds[k] for k in range(0, len(ds), max(1, len(ds) // 60))]
    agree = [_forward_agrees_with_feet(s) for s in seqs if len(s) >= 10]
    # the feet point where the body faces: left and right are not swapped
    assert np.mean(np.array(agree) > 0) > 0.9, agree
    for s in seqs:
        j, c, _ = _canonical(s)
        head, feet = j[:, sk.INDEX["Head"], 1], j[:, [sk.INDEX["FootLeft"], sk.INDEX["FootRight"]], 1]
        valid = (c[:, sk.INDEX["Head"]] > 0) & (c[:, [sk.INDEX["FootLeft"], sk.INDEX["FootRight"]]] > 0).all(1)
        assert (head[valid, None] > feet[valid]).mean() > 0.95  # y is up


def test_msr_right_arm_does_the_one_arm_actions(msr):
    # a01 high arm wave, a02 horizontal arm wave, a03 hammer: done with the right arm
    i = sk.INDEX
    for action in ("a01", "a02", "a03"):
        sub = msr.filter(action=action)
        right = left = 0.0
        for s in sub:
            j, c, _ = _canonical(s)
            right += j[:, i["HandRight"]].std(0).sum()
            left += j[:, i["HandLeft"]].std(0).sum()
        assert right > 2 * left, (action, right, left)


def test_msr_person_faces_the_sensor_with_left_at_smaller_x(msr):
    s = msr[0]
    j, c, _ = _canonical(s)
    lx, rx = j[:, sk.INDEX["ShoulderLeft"], 0], j[:, sk.INDEX["ShoulderRight"], 0]
    assert (lx < rx).mean() > 0.95


def test_kgbd_bone_lengths_stable_per_person(kgbd_walks):
    """The same person's mean bone lengths vary far less across walks than between people."""
    bones = [(a, b) for a, b in sk.BONES if a in sk.KGBD.joints and b in sk.KGBD.joints]
    cols = [sk.BONES.index(bone) for bone in bones]
    per_person = defaultdict(list)
    for s in kgbd_walks:
        j, _, _ = _canonical(s)
        per_person[s.meta["subject"]].append(np.median(sk.bone_lengths(j[10:-10])[:, cols], axis=0))
    means = np.array([np.mean(v, 0) for v in per_person.values()])
    within = np.mean([np.std(v, 0) for v in per_person.values() if len(v) > 1], 0)
    between = means.std(0)
    assert (within < between).mean() > 0.75, (within, between)
    for bone in (("HipLeft", "KneeLeft"), ("KneeLeft", "AnkleLeft"), ("ShoulderLeft", "ElbowLeft")):
        assert within[bones.index(bone)] < 0.03, bone  # within 3 cm across a person's walks


@pytest.mark.parametrize("name", ["kgbd", "nwucla", "msr"])
def test_round_trips_are_bit_exact(name, request, tmp_path):
    ds = request.getfixturevalue(name)
    picks = list(range(0, len(ds), len(ds) // 5))
    if name == "msr":  # one with joints stored as missing
        picks.append(next(i for i, it in enumerate(ds.items) if it.path.stem.startswith("a07_s04_e01")))
    seqs = [ds[i] for i in picks]
    assert name != "msr" or (seqs[-1].confidence == 0).any()
    write_sequences(tmp_path / "all.mcap", {f"s{i}": [s] for i, s in enumerate(seqs)})
    recorded = read_file(tmp_path / "all.mcap")
    for i, seq in enumerate(seqs):
        write_npz(seq, tmp_path / f"{i}.npz")
        for other in (read_npz(tmp_path / f"{i}.npz"), recorded[i]):
            assert other.joints.tobytes() == seq.joints.tobytes()
            assert other.confidence.tobytes() == seq.confidence.tobytes()
            assert other.timestamps.tobytes() == seq.timestamps.tobytes()
            assert other.layout == seq.layout and other.fps == seq.fps
            for key in ("subject", "action", "view", "session", "walk"):
                assert other.meta.get(key) == seq.meta.get(key)


def test_protocol_splits_by_metadata(nwucla, msr):
    train, test = nwucla.filter(view={"v01", "v02"}), nwucla.filter(view="v03")
    assert len(train) + len(test) == len(nwucla) and test.values("view") == ["v03"]
    odd = msr.filter(lambda m: int(m["subject"][1:]) % 2 == 1, used="1")
    assert odd.values("subject") == ["s01", "s03", "s05", "s07", "s09"]
    assert all(it.meta["used"] == "1" for it in odd.items)


@pytest.mark.parametrize("name,expect", [
    ("kgbd", {"dataset": "kgbd", "sequences": 822, "subjects": 164, "walks": 6, "joints": [20]}),
    ("nwucla", {"dataset": "nwucla", "sequences": 1484, "actions": 10, "subjects": 10, "views": 3,
                "joints": [20]}),
    ("msr", {"dataset": "msr_action3d", "sequences": 567, "actions": 20, "subjects": 10,
             "joints": [20]}),
])
def test_info_on_dataset_roots(name, expect, request, capsys):
    root = request.getfixturevalue(f"{name}_root")
    assert main(["info", str(root)]) == 0
    lines = dict(line.split(None, 1) for line in capsys.readouterr().out.splitlines())
    for key, value in expect.items():
        assert lines[key] == str(value), key
    assert int(lines["frames"]) > 20000


def test_info_json(msr_root, capsys):
    assert main(["info", str(msr_root), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert (out["sequences"], out["frames"], out["actions"]) == (567, 23478, 20)
