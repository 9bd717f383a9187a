"""The readers on the real datasets of ../shared/data: counts, conventions, round trips."""

import json
from collections import defaultdict

import numpy as np
import pytest

from engine import skeleton as sk
from engine.cli import main
from engine.datasets import (KARDDataset, KGBDDataset, MSRDataset, NWUCLADataset, UTDMHADDataset,
                             open_dataset, read_file, read_npz, write_npz)
from engine.recording import Recording, write_sequences

from conftest import _dataset

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


@pytest.fixture(scope="module")
def utd_mhad_root():
    return _dataset("utd_mhad")


@pytest.fixture(scope="module")
def kard_root():
    return _dataset("kard")


@pytest.fixture(scope="module")
def utd_mhad(utd_mhad_root):
    return open_dataset(utd_mhad_root)


@pytest.fixture(scope="module")
def kard(kard_root):
    return open_dataset(kard_root)


@pytest.fixture(scope="module")
def utd_mhad_seqs(utd_mhad):
    return list(utd_mhad)


@pytest.fixture(scope="module")
def kard_seqs(kard):
    return list(kard)


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


def test_utd_mhad_counts(utd_mhad, utd_mhad_seqs):
    assert isinstance(utd_mhad, UTDMHADDataset)
    # 27 actions x 8 subjects x 4 trials, less the three the release leaves out
    assert len(utd_mhad) == 861 and len(utd_mhad_seqs) == 861
    assert utd_mhad.values("action") == list(utd_mhad.classes) and len(utd_mhad.classes) == 27
    assert utd_mhad.values("subject") == [f"s{k:02d}" for k in range(1, 9)]
    assert utd_mhad.values("session") == ["t01", "t02", "t03", "t04"]
    names = {it.path.stem for it in utd_mhad.items}
    assert not names & {"a8_s1_t4_skeleton", "a23_s6_t4_skeleton", "a27_s8_t4_skeleton"}
    frames = [len(s) for s in utd_mhad_seqs]
    assert (min(frames), int(np.median(frames)), max(frames)) == (41, 67, 125)
    for seq in utd_mhad_seqs:
        assert seq.joints.shape[1:] == (20, 3) and seq.layout is sk.UTD_MHAD and seq.fps == 30.0
        assert (seq.confidence == 1).all()


def test_kard_counts(kard, kard_seqs):
    assert isinstance(kard, KARDDataset)
    assert len(kard) == 540 and len(kard_seqs) == 540
    assert kard.values("action") == list(kard.classes) and len(kard.classes) == 18
    assert kard.values("subject") == [f"s{k:02d}" for k in range(1, 11)]
    assert kard.values("session") == ["e01", "e02", "e03"]
    assert set(kard.counts("action").values()) == {30}  # 10 people x 3 repetitions each
    frames = [len(s) for s in kard_seqs]
    assert (min(frames), int(np.median(frames)), max(frames)) == (42, 112, 310)
    for seq in kard_seqs:
        assert seq.joints.shape[1:] == (15, 3) and seq.layout is sk.KARD and seq.fps == 30.0
        assert (seq.confidence == 1).all()


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


@pytest.mark.parametrize("name", ["kgbd", "nwucla", "msr", "utd_mhad"])
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


def _spread(seqs, joint: str) -> np.ndarray:
    """Per sequence: how much a canonical joint moves (its std over time, summed over x, y, z)."""
    return np.array([_canonical(s)[0][:, sk.INDEX[joint]].std(0).sum() for s in seqs])


# The one-arm (one-leg) actions, documented as done with the right side: the joint that moves is
# our right one. KARD's OpenNI "hand" and "foot" are mapped to Wrist and Ankle.
@pytest.mark.parametrize("name,actions,left,right", [
    ("utd_mhad", ("a01", "a02", "a03", "a05", "a08", "a09", "a10", "a11", "a19", "a20"),
     "HandLeft", "HandRight"),
    ("kard", ("a01", "a02", "a05", "a06", "a07", "a15", "a16"), "WristLeft", "WristRight"),
    ("kard", ("a09", "a10"), "AnkleLeft", "AnkleRight"),  # forward kick, side kick
])
def test_right_side_does_the_one_sided_actions(name, actions, left, right, request):
    ds, seqs = request.getfixturevalue(name), request.getfixturevalue(f"{name}_seqs")
    for action in actions:
        sub = [s for s in seqs if s.meta["action"] == action]
        r, lft = _spread(sub, right), _spread(sub, left)
        assert len(sub) >= 30 and (r > 2 * lft).all(), (action, r, lft)


@pytest.mark.parametrize("name", ["utd_mhad", "kard"])
def test_person_facing_the_sensor_has_right_shoulder_at_larger_x(name, request):
    # a person facing the sensor (everyone but KARD's walkers, a14, who cross the room sideways)
    seqs = [s for s in request.getfixturevalue(f"{name}_seqs") if not (name == "kard" and s.meta["action"] == "a14")]
    j = np.concatenate([_canonical(s)[0] for s in seqs])
    lx, rx = j[:, sk.INDEX["ShoulderLeft"], 0], j[:, sk.INDEX["ShoulderRight"], 0]
    assert (rx > lx).mean() > 0.99 and (rx - lx).mean() > 0.2  # metres: shoulders about 0.3 m apart
    # y up, metres: the head is 1.2 to 2 m above the lowest leg joint
    low = "FootLeft" if name == "utd_mhad" else "AnkleLeft"
    height = j[:, sk.INDEX["Head"], 1] - j[:, sk.INDEX[low], 1]
    assert (height > 0).all() and 1.2 < np.median(height) < 2.0
    # z away from the sensor, metres
    assert 1.5 < np.median(j[:, sk.INDEX["SpineMid"], 2]) < 4.5


def test_kard_person_faces_minus_z(kard_seqs):
    """Independent of left/right: seated (the end of a17 sit down) the knees are nearer the
    sensor than the hips, and the forward direction left x up from our sides points there too."""
    i = sk.INDEX
    for s in (s for s in kard_seqs if s.meta["action"] == "a17"):
        j = _canonical(s)[0][-10:]
        knees_ahead = (j[:, [i["KneeLeft"], i["KneeRight"]]] - j[:, [i["HipLeft"], i["HipRight"]]]).mean((0, 1))
        assert knees_ahead[2] < -0.2, s.meta
        left = (j[:, i["ShoulderLeft"]] - j[:, i["ShoulderRight"]] + j[:, i["HipLeft"]] - j[:, i["HipRight"]]).mean(0)
        forward = np.cross(left, [0, 1, 0])
        assert forward[2] < 0 and np.dot(forward[[0, 2]], knees_ahead[[0, 2]]) > 0, s.meta


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


@pytest.mark.parametrize("name", ["kgbd", "nwucla", "msr", "utd_mhad", "kard"])
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
    ("utd_mhad", {"dataset": "utd_mhad", "sequences": 861, "actions": 27, "subjects": 8,
                  "sessions": 4, "joints": [20], "frames_min_median_max": [41, 67, 125]}),
    ("kard", {"dataset": "kard", "sequences": 540, "actions": 18, "subjects": 10, "sessions": 3,
              "joints": [15], "frames_min_median_max": [42, 112, 310]}),
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


@pytest.mark.realdata
def test_nwucla_rate_gives_human_walking_steps(nwucla):
    """The files carry no rate; the reader's must make a04's walking a human cadence: a step
    (half the period of the distance between the ankles) of 0.45 to 0.7 s. At 30 Hz it was 0.24 s."""
    from engine.skeleton import INDEX, to_canonical
    periods = []
    for it in [it for it in nwucla.items if it.meta["action"] == "a04" and it.meta["view"] == "v02"]:
        seq = nwucla.read(it.path)
        j, _, _ = to_canonical(seq.joints, seq.confidence, seq.layout)
        d = np.linalg.norm((j[:, INDEX["AnkleLeft"]] - j[:, INDEX["AnkleRight"]])[:, [0, 2]], axis=1)
        x = d - d.mean()
        if len(x) < 14:
            continue
        ac = np.correlate(x, x, "full")[len(x) - 1:] / np.arange(len(x), 0, -1)
        peaks = [k for k in range(3, len(ac) // 2) if ac[k] > ac[k - 1] and ac[k] >= ac[k + 1] and ac[k] > 0.2 * ac[0]]
        if peaks:
            periods.append(peaks[0] / seq.fps)
    assert len(periods) > 30
    assert 0.45 < float(np.median(periods)) < 0.7
