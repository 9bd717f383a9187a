"""Body shape (engine/shape.py): the descriptor, its comparison, and the fused identification."""

import sqlite3

import numpy as np
import pytest

from engine.gallery import Enrollment, Gallery
from engine.identity import UNKNOWN, identify
from engine.sequence import SkeletonSequence
from engine.shape import FEATURES, Shapes, describe, family, fuse, gallery_scale, sequence_shape, shape_scores
from engine.skeleton import CANONICAL, INDEX, KINECT_V2


def _body(scale: float = 1.0, frames: int = 40, seed: int = 0) -> SkeletonSequence:
    """A walking-ish canonical skeleton: a fixed body scaled by ``scale``, jittered per frame."""
    rng = np.random.default_rng(seed)
    base = np.random.default_rng(123).normal(0, 0.3, (25, 3)).astype(np.float32) * scale
    joints = base[None] + rng.normal(0, 0.002, (frames, 25, 3)).astype(np.float32)
    joints[:, :, 0] += np.linspace(0, 1, frames)[:, None]  # walking along x
    conf = np.ones((frames, 25), np.float32)
    return SkeletonSequence(joints, conf, np.arange(frames) / 30.0, KINECT_V2, 30.0)


def test_a_masked_joint_cannot_change_the_descriptor():
    seq = _body()
    conf = seq.confidence.copy()
    conf[:, [INDEX["HandLeft"], INDEX["FootRight"], INDEX["Head"]]] = 0
    ref = describe(seq.joints, conf, seq.layout)
    junk = seq.joints.copy()
    for value in (0.0, 1e6, np.nan, -np.inf):
        junk[:, [INDEX["HandLeft"], INDEX["FootRight"], INDEX["Head"]]] = value
        np.testing.assert_array_equal(describe(junk, conf, seq.layout), ref)
    # and the features that need them are not given (NaN), the others are
    given = dict(zip(FEATURES, np.isfinite(ref)))
    assert not given["Neck-Head"] and not given["Head-SpineShoulder"] and given["Hip-Knee"]


def test_the_descriptor_is_rigid_and_mirror_invariant():
    seq = _body()
    ref = sequence_shape(seq).values[0]
    assert np.isfinite(ref).all()
    a = np.deg2rad(4)  # turned a little: the same shoulder and hip stay nearer the sensor
    rot = np.array([[np.cos(a), 0, np.sin(a)], [0, 1, 0], [-np.sin(a), 0, np.cos(a)]], np.float32)
    moved = seq.joints @ rot.T + np.array([2.0, -0.5, 3.0], np.float32)
    np.testing.assert_allclose(describe(moved, seq.confidence, seq.layout), ref, atol=1e-5)
    # left and right swapped (a person walking the other way past a profile sensor)
    swap = [CANONICAL.index(n.replace("Left", "#").replace("Right", "Left").replace("#", "Right")) for n in CANONICAL]
    np.testing.assert_allclose(describe(seq.joints[:, swap], seq.confidence[:, swap], seq.layout), ref, atol=1e-6)


def _symmetric_body(yaw_deg: float, frames: int = 30) -> np.ndarray:
    """A left/right symmetric body (each right joint the mirror of its left one about x = 0),
    turned by ``yaw_deg`` about y and standing 3 m from the sensor: [frames, 25, 3]."""
    rng = np.random.default_rng(7)
    base = np.zeros((25, 3), np.float32)
    for i, n in enumerate(CANONICAL):
        if "Left" in n:
            base[i] = [0.1 + abs(rng.normal(0, 0.2)), rng.normal(0, 0.4), rng.normal(0, 0.03)]
            base[CANONICAL.index(n.replace("Left", "Right"))] = base[i] * [-1, 1, 1]
        elif "Right" not in n:
            base[i] = [0, rng.normal(0, 0.3), rng.normal(0, 0.05)]
    a = np.deg2rad(yaw_deg)
    rot = np.array([[np.cos(a), 0, np.sin(a)], [0, 1, 0], [-np.sin(a), 0, np.cos(a)]], np.float32)
    return np.repeat((base @ rot.T + [0, 0, 3.0])[None], frames, 0).astype(np.float32)


def test_pairs_are_measured_on_the_side_nearer_the_sensor():
    """Seen in profile, the far limbs are estimated poorly, and which side is far changes with the
    walking direction: the descriptor takes each left/right pair from the nearer side, so the same
    body seen from either side, its far limbs corrupted, gives the descriptor of the clean body."""
    clean = _symmetric_body(60)
    conf = np.ones(clean.shape[:2], np.float32)
    ref = describe(clean, conf, KINECT_V2)
    rng = np.random.default_rng(0)
    limbs = ("Elbow", "Wrist", "Hand", "HandTip", "Thumb", "Knee", "Ankle", "Foot")
    for yaw in (60, -60):
        body = _symmetric_body(yaw)
        left_near = body[0, INDEX["ShoulderLeft"], 2] < body[0, INDEX["ShoulderRight"], 2]
        assert left_near == (body[0, INDEX["HipLeft"], 2] < body[0, INDEX["HipRight"], 2]) == (yaw > 0)
        far = "Right" if left_near else "Left"
        idx = [INDEX[j + far] for j in limbs]
        body[:, idx] += rng.normal(0, 0.1, (len(body), len(idx), 3)).astype(np.float32)  # the far side's guesses
        np.testing.assert_allclose(describe(body, conf, KINECT_V2), ref, atol=1e-5)
    # the depth is read only from given joints: a missing shoulder gives the two sides' mean
    body = _symmetric_body(60)
    conf2 = conf.copy()
    conf2[:, INDEX["ShoulderRight"]] = 0
    out = describe(body, conf2, KINECT_V2)
    assert np.isfinite(out[FEATURES.index("Elbow-Wrist")])


def test_scores_are_scaled_by_the_gallerys_own_spread():
    rng = np.random.default_rng(0)
    gallery = rng.normal(0.4, 0.05, (6, len(FEATURES)))
    gallery[:, 0] *= 100  # one feature with a hundredfold spread must not decide alone
    names = ["a", "a", "b", "b", "c", "c"]
    assert gallery_scale(gallery[:4], names[:4]) is None  # 2 people: no spread to scale by
    scale = gallery_scale(gallery, names)
    assert scale[0] > 50 * np.median(scale[1:])
    probe = gallery[2:3] + 0.001
    s = shape_scores(probe, gallery, names)
    assert s.argmax() == 2
    # a feature the probe does not give is left out, not compared as a number
    probe_missing = probe.copy()
    probe_missing[0, 1:5] = np.nan
    assert shape_scores(probe_missing, gallery, names).argmax() == 2


def test_fused_ranking_keeps_the_gait_open_set_decision():
    """A toy gallery: gait alone cannot tell A from B (equal cosines); shape can. The fused
    ranking names the right one; and a person whose gait score is under the threshold is never
    named, whatever the shape says."""
    e = np.eye(4, dtype=np.float32)
    names, emb = ["A", "B", "C"], np.stack([e[0] + 0.5 * e[1], e[0] - 0.5 * e[1], e[2]])
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    shapes = Shapes(np.stack([np.full(len(FEATURES), v) for v in (0.30, 0.40, 0.50)]).astype(np.float32),
                    np.array(["kinect_v2"] * 3))
    query = e[0]
    gait_only = identify(query, names, emb, threshold=0.5)
    assert gait_only.cue == "gait" and {gait_only.top[0][0], gait_only.top[1][0]} == {"A", "B"}
    for who, value in (("A", 0.301), ("B", 0.399)):
        m = identify(query, names, emb, 0.5, shape=Shapes.one(np.full(len(FEATURES), value), "kinect_v2"), shapes=shapes)
        assert m.cue == "gait+shape" and m.decision == who and m.top[0][0] == who
    # C's shape fits exactly, but C's gait score (0) is under the threshold: unknown, not C
    m = identify(e[2] * 0.1 + e[3], names, emb, 0.5, shape=Shapes.one(np.full(len(FEATURES), 0.5), "kinect_v2"),
                 shapes=shapes)
    assert m.decision == UNKNOWN
    # the fused score is the mean of the two z-scores
    f = fuse(np.array([[1.0, 0.0, 0.5]]), np.array([[0.0, 1.0, 0.5]]))
    np.testing.assert_allclose(f, 0.0, atol=1e-6)


def test_shapes_compare_only_within_one_skeleton_family():
    """A MediaPipe query against Kinect enrollments gets no shape evidence (gait alone ranks);
    in a mixed gallery only its own family's enrollments give evidence, the others count as
    neither for nor against (z-score 0)."""
    assert family("kgbd") == family("kinect_v1") == family("utd_mhad") == "kinect_v1"
    assert family("kard") == "openni" and family("mediapipe") == "mediapipe" and family("my_csv") == "my_csv"
    e = np.eye(4, dtype=np.float32)
    names = ["A", "B", "C"]
    emb = np.stack([e[0] + 0.5 * e[1], e[0] - 0.5 * e[1], e[0] + 0.5 * e[2]])
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    values = np.stack([np.full(len(FEATURES), v) for v in (0.30, 0.40, 0.50)]).astype(np.float32)
    kinect = Shapes(values, np.array(["kinect_v1"] * 3))
    probe = Shapes.one(np.full(len(FEATURES), 0.40), "mediapipe")
    assert identify(e[0], names, emb, 0.5, shape=probe, shapes=kinect).cue == "gait"
    mixed = Shapes(values, np.array(["mediapipe", "mediapipe", "kinect_v1"]))
    m = identify(e[0], names, emb, 0.5, shape=probe, shapes=mixed)
    assert m.cue == "gait+shape" and m.decision == "B"
    fused = fuse(np.array([[0.9, 0.9, 0.9]]), np.array([[-1.0, 0.0, np.nan]]))
    np.testing.assert_allclose(fused, [[-0.5, 0.5, 0.0]], atol=1e-6)
    unknown = Shapes(values, np.array(["", "", ""]))  # a family nobody could tell compares with nothing
    assert identify(e[0], names, emb, 0.5, shape=probe, shapes=unknown).cue == "gait"


def test_a_stored_skeletons_family_is_inferred_from_its_joints():
    from engine.missing import SENSOR_JOINTS
    from engine.shape import infer_family
    seq = _body()
    assert infer_family(seq.joints, seq.confidence) == "kinect_v2"
    from engine.skeleton import LAYOUTS, to_canonical
    landmarks = np.random.default_rng(1).normal(size=(20, len(LAYOUTS["mediapipe"]), 3)).astype(np.float32)
    mp, mp_conf, _ = to_canonical(landmarks, np.ones(landmarks.shape[:2], np.float32), LAYOUTS["mediapipe"])
    assert infer_family(mp, mp_conf) == "mediapipe"  # its SpineBase is made as the hips' midpoint
    for sensor, fam in (("kinect_v1", "kinect_v1"), ("openni15", "openni"), ("export18", "kinect_v2")):
        conf = np.zeros_like(seq.confidence)
        conf[:, [INDEX[j] for j in SENSOR_JOINTS[sensor]]] = 1
        assert infer_family(seq.joints, conf) == fam
    conf = seq.confidence.copy()
    conf[:, INDEX["Head"]] = 0  # no sensor's joint set
    assert infer_family(seq.joints, conf) == ""


def test_the_gallery_stores_shapes_and_migrates_version_1(tmp_path):
    seq = _body(1.1)
    path = tmp_path / "g.db"
    with Gallery(path) as g:
        g.enroll("A", [Enrollment(np.ones(4, np.float32), "a", seq)], "ck", "f1")  # from the skeleton
        g.enroll("B", [Enrollment(np.arange(4, dtype=np.float32), "b", shape=Shapes.one(np.full(len(FEATURES), 0.3), "kard"))],
                 "ck", "f1")
        g.enroll("C", [Enrollment(-np.ones(4, np.float32), "c")], "ck", "f1")  # neither: no shape
        stored = g.shapes("f1")
        assert g.embeddings("f1")[0] == ["A", "B", "C"]
    shapes = stored.values
    np.testing.assert_allclose(shapes[0], sequence_shape(seq).values[0], rtol=1e-6)
    np.testing.assert_allclose(shapes[1], 0.3)
    assert np.isnan(shapes[2]).all()
    assert list(stored.family) == ["kinect_v2", "kard", ""]
    # a version-1 file (no shape column): opened, migrated, shapes filled from its skeletons
    db = sqlite3.connect(path)
    db.execute("ALTER TABLE enrollments DROP COLUMN shape")
    db.execute("ALTER TABLE enrollments DROP COLUMN shape_family")
    db.execute("UPDATE meta SET value='1' WHERE key='schema'")
    db.commit()
    db.close()
    with Gallery(path) as g:
        migrated = g.shapes("f1")
        assert g.db.execute("SELECT value FROM meta WHERE key='schema'").fetchone()[0] == "3"
    np.testing.assert_allclose(migrated.values[0], shapes[0], rtol=1e-6)
    assert np.isnan(migrated.values[1:]).all() and list(migrated.family) == ["kinect_v2", "", ""]
    # a version-2 file (descriptors of another definition): those of stored skeletons made again
    with Gallery(path) as g:
        g.enroll("D", [Enrollment(np.full(4, 2.0, np.float32), "d", shape=Shapes.one(np.full(len(FEATURES), 0.3), "kard"))],
                 "ck", "f1")
        g.db.execute("UPDATE enrollments SET shape=? WHERE source='a'", (np.full(len(FEATURES), 9, "<f4").tobytes(),))
        g.db.execute("UPDATE meta SET value='2' WHERE key='schema'")
    with Gallery(path) as g:
        again = g.shapes("f1")
        assert g.db.execute("SELECT value FROM meta WHERE key='schema'").fetchone()[0] == "3"
    np.testing.assert_allclose(again.values[0], shapes[0], rtol=1e-6)  # from its skeleton
    np.testing.assert_allclose(again.values[3], 0.3)  # no skeleton: kept as stored
    # the descriptors are biometric data: exported with everything else, deleted with the person
    import json
    with Gallery(path) as g:
        exported = json.loads(g.export(tmp_path / "out.json").read_text())["people"]
        assert exported[0]["enrollments"][0]["shape"][:3] == [round(float(v), 5) for v in shapes[0][:3]]
        assert exported[2]["enrollments"][0]["shape"] is None
        a_shape = g.db.execute("SELECT shape FROM enrollments ORDER BY id").fetchone()[0]
        g.remove("A")
    assert not any(a_shape in f.read_bytes() for f in tmp_path.glob("g.db*"))  # B gave a descriptor but no skeleton: nothing to refill from


def test_a_bad_descriptor_is_refused_and_nothing_is_stored(tmp_path):
    with Gallery(tmp_path / "g.db") as g:
        with pytest.raises(ValueError, match="descriptor"):
            g.enroll("A", [Enrollment(np.ones(4, np.float32), "a", shape=Shapes.one(np.ones(3), "kinect_v2"))], "ck", "f1")
        assert g.people() == []


@pytest.mark.realdata
def test_kard_openni_gives_the_features_of_its_joints():
    from engine.shape import infer_family
    """KARD's 15 OpenNI joints: no hands, feet or spine base, so those bones are not given; every
    other feature is, with lengths of an adult body."""
    from engine.datasets import open_dataset
    from conftest import _dataset
    ds = open_dataset(_dataset("kard")).filter(lambda m: m["action"] == "a14")
    seq = ds.read(ds.items[0].path)
    shape = sequence_shape(seq)
    stored = seq.canonical()  # what a gallery keeps: the family is told by the joints it holds
    assert shape.family[0] == "openni" == infer_family(stored.joints, stored.confidence)
    d = dict(zip(FEATURES, shape.values[0]))
    missing = {k for k, v in d.items() if not np.isfinite(v)}
    assert missing == {"Wrist-Hand", "Hand-HandTip", "Wrist-Thumb", "SpineBase-Hip", "Ankle-Foot",
                       "SpineBase-SpineMid", "SpineShoulder-Neck", "Neck-Head"}
    assert 0.35 < d["Hip-Knee"] < 0.55 and 0.2 < d["Shoulder-Elbow"] < 0.4 and 0.25 < d["ShoulderLeft-ShoulderRight"] < 0.5
