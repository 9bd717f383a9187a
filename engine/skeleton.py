"""Joint layouts, the canonical 25-joint vocabulary, and the geometry every model needs.

Coordinates are metres in a right-handed frame with y up, as Kinect camera space: x grows to
the sensor's left, z away from the sensor. A person facing the sensor therefore has the left
shoulder at smaller x than the right one and faces -z.

Arrays follow one shape convention: joints ``[..., J, 3]`` (usually ``[T, J, 3]``),
confidence ``[..., J]`` with 0 meaning the joint is missing.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

CANONICAL: tuple[str, ...] = (
    "SpineBase", "SpineMid", "Neck", "Head",
    "ShoulderLeft", "ElbowLeft", "WristLeft", "HandLeft",
    "ShoulderRight", "ElbowRight", "WristRight", "HandRight",
    "HipLeft", "KneeLeft", "AnkleLeft", "FootLeft",
    "HipRight", "KneeRight", "AnkleRight", "FootRight",
    "SpineShoulder", "HandTipLeft", "ThumbLeft", "HandTipRight", "ThumbRight",
)
INDEX: dict[str, int] = {name: i for i, name in enumerate(CANONICAL)}

# Kinect v1 names of the joints that Kinect v2 renamed.
V1_ALIASES: dict[str, str] = {
    "HipCenter": "SpineBase", "Spine": "SpineMid", "ShoulderCenter": "SpineShoulder",
}

# The Kinect v2 kinematic tree as (parent, child); SpineBase is the root.
BONES: tuple[tuple[str, str], ...] = (
    ("SpineBase", "SpineMid"), ("SpineMid", "SpineShoulder"), ("SpineShoulder", "Neck"),
    ("Neck", "Head"),
    ("SpineShoulder", "ShoulderLeft"), ("ShoulderLeft", "ElbowLeft"), ("ElbowLeft", "WristLeft"),
    ("WristLeft", "HandLeft"), ("HandLeft", "HandTipLeft"), ("WristLeft", "ThumbLeft"),
    ("SpineShoulder", "ShoulderRight"), ("ShoulderRight", "ElbowRight"),
    ("ElbowRight", "WristRight"), ("WristRight", "HandRight"), ("HandRight", "HandTipRight"),
    ("WristRight", "ThumbRight"),
    ("SpineBase", "HipLeft"), ("HipLeft", "KneeLeft"), ("KneeLeft", "AnkleLeft"),
    ("AnkleLeft", "FootLeft"),
    ("SpineBase", "HipRight"), ("HipRight", "KneeRight"), ("KneeRight", "AnkleRight"),
    ("AnkleRight", "FootRight"),
)
# PARENT[i] is the canonical index of joint i's parent; the root is its own parent.
PARENT: np.ndarray = np.arange(len(CANONICAL))
for _p, _c in BONES:
    PARENT[INDEX[_c]] = INDEX[_p]

LEFT_RIGHT: tuple[tuple[str, str], ...] = tuple(
    (n, n.replace("Left", "Right")) for n in CANONICAL if n.endswith("Left")
)
# FLIP[i] is the index of joint i's mirror image (itself on the midline).
FLIP: np.ndarray = np.arange(len(CANONICAL))
for _l, _r in LEFT_RIGHT:
    FLIP[INDEX[_l]], FLIP[INDEX[_r]] = INDEX[_r], INDEX[_l]


def canonical_name(name: str) -> str:
    """The canonical name of ``name`` (itself, or its Kinect v1 alias); KeyError if unknown."""
    name = V1_ALIASES.get(name, name)
    if name not in INDEX:
        raise KeyError(
            f"unknown joint name {name!r}; expected one of the canonical joints "
            f"({', '.join(CANONICAL)}) or a Kinect v1 alias ({', '.join(V1_ALIASES)})"
        )
    return name


@dataclass(frozen=True)
class Layout:
    """An ordered list of a source's joints and how they map onto the canonical joints.

    ``joints`` are the source's own names. A name that is canonical (or a Kinect v1 alias)
    maps directly; ``derived`` gives, for canonical joints the source lacks, the source
    joints whose mean stands in for it (such joints are flagged as derived).
    """

    name: str
    joints: tuple[str, ...]
    derived: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def __post_init__(self):
        if len(set(self.joints)) != len(self.joints):
            raise ValueError(f"layout {self.name!r} repeats a joint name")
        for target, sources in self.derived.items():
            canonical_name(target)
            missing = [s for s in sources if s not in self.joints]
            if missing:
                raise ValueError(f"layout {self.name!r}: {target} derives from unknown {missing}")

    def __len__(self) -> int:
        return len(self.joints)

    @property
    def is_canonical_subset(self) -> bool:
        """True when every joint is named in the canonical vocabulary (or a v1 alias)."""
        return all(V1_ALIASES.get(j, j) in INDEX for j in self.joints)

    def canonical_names(self) -> tuple[str, ...]:
        """The canonical name of each joint, in order (for canonical-subset layouts)."""
        return tuple(canonical_name(j) for j in self.joints)

    def index(self, joint: str) -> int:
        """Position of a source joint in this layout."""
        return self.joints.index(joint)


def _v1_order(*names: str) -> tuple[str, ...]:
    return tuple(canonical_name(n) for n in names)


KINECT_V2 = Layout("kinect_v2", CANONICAL)
# Kinect v1 (Microsoft SDK 1.x) standard order, as in NW-UCLA.
# The 20 Kinect v1 joints as a body-ordered grid (A3D's feature map columns): left leg, left arm,
# torso (head down to SpineBase), right arm, right leg, so neighbouring columns are neighbouring parts.
BODY_GRID: tuple[str, ...] = (
    "FootLeft", "AnkleLeft", "KneeLeft", "HipLeft",
    "HandLeft", "WristLeft", "ElbowLeft", "ShoulderLeft",
    "Head", "SpineShoulder", "SpineMid", "SpineBase",
    "ShoulderRight", "ElbowRight", "WristRight", "HandRight",
    "HipRight", "KneeRight", "AnkleRight", "FootRight",
)

KINECT_V1 = Layout("kinect_v1", _v1_order(
    "HipCenter", "Spine", "ShoulderCenter", "Head",
    "ShoulderLeft", "ElbowLeft", "WristLeft", "HandLeft",
    "ShoulderRight", "ElbowRight", "WristRight", "HandRight",
    "HipLeft", "KneeLeft", "AnkleLeft", "FootLeft",
    "HipRight", "KneeRight", "AnkleRight", "FootRight",
))
# column k of the body grid is model joint BODY_GRID_INDEX[k] (of the 20 Kinect v1 joints)
BODY_GRID_INDEX: tuple[int, ...] = tuple(KINECT_V1.joints.index(j) for j in BODY_GRID)
# KGBD's files: Head, Shoulder-Center, Shoulder-Right, Shoulder-Left, ... (see KGBD_NAMES).
KGBD = Layout("kgbd", _v1_order(
    "Head", "ShoulderCenter", "ShoulderRight", "ShoulderLeft",
    "ElbowRight", "ElbowLeft", "WristRight", "WristLeft", "HandRight", "HandLeft",
    "Spine", "HipCenter", "HipRight", "HipLeft", "KneeRight", "KneeLeft",
    "AnkleRight", "AnkleLeft", "FootRight", "FootLeft",
))
# MSR Action3D's own order. Its documentation names the first joint "ShoulderRight", but the
# files label sides from the sensor's point of view: in the one-arm actions (done with the
# right arm) the joint documented as HandLeft is the one that moves, and only with the sides
# swapped do the feet point the way the body faces. So each documented Right is our Left.
MSR_ACTION3D = Layout("msr_action3d", _v1_order(
    "ShoulderLeft", "ShoulderRight", "ShoulderCenter", "Spine",
    "HipLeft", "HipRight", "HipCenter", "ElbowLeft", "ElbowRight",
    "WristLeft", "WristRight", "HandLeft", "HandRight",
    "KneeLeft", "KneeRight", "AnkleLeft", "AnkleRight", "FootLeft", "FootRight", "Head",
))
# UTD-MHAD's order (Skeleton_joint_order.txt: head, shoulder_center, spine, hip_center,
# left_shoulder, ..., right_foot). Checked on all 861 files: its names are the person's own
# sides and its coordinates are Kinect v1 camera space as stored (metres, y up, z 1.8-4.1 m
# away, the person facing -z), so nothing is converted. In every sequence of the one-arm
# actions (a01-a03, a05, a08-a11, a19, a20) the documented right hand moves at least 5 times
# as much as the left (spread summed over x, y, z: median 0.7 m against 0.03 m); the documented
# right shoulder is at larger x than the left in all 58299 frames and the head above the feet;
# the feet lie ahead of the ankles toward the sensor (-z) in 96% of frames; and in a26 (forward
# lunge, left foot forward) the documented left ankle comes 35 cm toward the sensor, the right 2 cm.
UTD_MHAD = Layout("utd_mhad", _v1_order(
    "Head", "ShoulderCenter", "Spine", "HipCenter",
    "ShoulderLeft", "ElbowLeft", "WristLeft", "HandLeft",
    "ShoulderRight", "ElbowRight", "WristRight", "HandRight",
    "HipLeft", "KneeLeft", "AnkleLeft", "FootLeft",
    "HipRight", "KneeRight", "AnkleRight", "FootRight",
))
# KARD's OpenNI / NiTE 15 joints, in the files' order: head, neck, right shoulder, right elbow,
# right hand, left shoulder, left elbow, left hand, torso, right hip, right knee, right foot,
# left hip, left knee, left foot. Checked on all 540 files:
# - Sides: the documented names are the person's own sides. The documented right hand is the
#   one that moves in all 30 sequences of each of a01 horizontal arm wave, a02 high arm wave,
#   a05 high throw, a06 draw X, a07 draw tick, a15 phone call and a16 drink (3.6 to 10 times the
#   left's spread), the documented right foot in all of a09 forward kick and a10 side kick.
#   (a04 catch cap, a08 toss paper and a11 take umbrella move the documented left hand; swapping
#   the sides would instead make those seven activities and both kicks left-handed for all ten
#   people.)
# - Axes: y is up (head above feet in every frame), z grows away from the sensor (1.7-3.5 m),
#   and the person faces -z (seated at the end of a17 the knees are 40 cm nearer the sensor
#   than the hips in all 30 sequences; bending in a12 brings the head 50 cm toward it). Yet the
#   documented right shoulder is at SMALLER x than the left in every frame of every activity
#   but a14 (walk, where people turn sideways): OpenNI's real-world x grows to the sensor's
#   right, mirrored with respect to Kinect SDK camera space (its frame is left-handed). The
#   reader negates x (and converts millimetres to metres), which makes the frame right-handed
#   with the right shoulder at larger x, as Kinect's.
# - Mapping: "neck" is exactly the midpoint of the two shoulders in every frame (NiTE computes
#   it so), i.e. where SpineShoulder is, not Kinect v2's Neck, which sits higher up the neck
#   (Kinect v1's ShoulderCenter, also mapped to SpineShoulder, is about 11 cm above the
#   shoulder midpoint in UTD-MHAD). "torso" is exactly the midpoint of neck and hip centre:
#   SpineMid. NiTE's "hand" ends the forearm; its distance from the elbow (1.01 upper arms) lies
#   between Kinect v1's wrist (0.87) and hand (1.12, UTD-MHAD), and it has no separate palm
#   direction, so it is mapped to Wrist: the last joint of the forearm chain, which keeps the
#   Elbow-Wrist bone and every mapped joint's parent present; the Hand is left missing.
#   NiTE's "foot" likewise ends the shank (0.94 thighs from the knee, between Kinect v1's ankle
#   0.77 and foot 0.90) but has no forward offset (standing, it is 9 cm behind the knee, where
#   Kinect's foot is 4 cm ahead of its ankle): it is the ankle/heel point, mapped to Ankle; Foot
#   is left missing. OpenNI has no SpineBase, Neck, Hand, Foot, HandTip or Thumb: those are
#   absent here (masked by to_canonical).
KARD = Layout("kard", (
    "Head", "SpineShoulder", "ShoulderRight", "ElbowRight", "WristRight",
    "ShoulderLeft", "ElbowLeft", "WristLeft", "SpineMid",
    "HipRight", "KneeRight", "AnkleRight", "HipLeft", "KneeLeft", "AnkleLeft",
))
MEDIAPIPE_NAMES: tuple[str, ...] = (
    "nose", "left_eye_inner", "left_eye", "left_eye_outer", "right_eye_inner", "right_eye",
    "right_eye_outer", "left_ear", "right_ear", "mouth_left", "mouth_right",
    "left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist",
    "right_wrist", "left_pinky", "right_pinky", "left_index", "right_index", "left_thumb",
    "right_thumb", "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle",
    "right_ankle", "left_heel", "right_heel", "left_foot_index", "right_foot_index",
)


def _mediapipe_derivations() -> dict[str, tuple[str, ...]]:
    d = {
        "SpineBase": ("left_hip", "right_hip"),
        "SpineShoulder": ("left_shoulder", "right_shoulder"),
        "SpineMid": ("left_hip", "right_hip", "left_shoulder", "right_shoulder"),
        "Head": ("left_ear", "right_ear"),
        "Neck": ("left_shoulder", "right_shoulder", "left_ear", "right_ear"),
    }
    for side, s in (("Left", "left"), ("Right", "right")):
        d |= {
            f"Shoulder{side}": (f"{s}_shoulder",), f"Elbow{side}": (f"{s}_elbow",),
            f"Wrist{side}": (f"{s}_wrist",),
            f"Hand{side}": (f"{s}_wrist", f"{s}_index", f"{s}_pinky"),
            f"HandTip{side}": (f"{s}_index",), f"Thumb{side}": (f"{s}_thumb",),
            f"Hip{side}": (f"{s}_hip",), f"Knee{side}": (f"{s}_knee",),
            f"Ankle{side}": (f"{s}_ankle",), f"Foot{side}": (f"{s}_foot_index",),
        }
    return d


# MediaPipe Pose's 33 landmarks. Every canonical joint is a mean of landmarks; those that
# are not a single corresponding landmark (spine, neck, head centre, palm) are flagged
# derived. Coordinates must already be converted to metres, y up (the adapter's job).
MEDIAPIPE = Layout("mediapipe", MEDIAPIPE_NAMES, _mediapipe_derivations())

LAYOUTS: dict[str, Layout] = {
    lay.name: lay for lay in (KINECT_V2, KINECT_V1, KGBD, MSR_ACTION3D, UTD_MHAD, KARD, MEDIAPIPE)
}


def layout_for(joints: tuple[str, ...] | list[str] | str) -> Layout:
    """The registered layout with this name or exactly these joint names, else a custom one.

    Custom layouts must name canonical joints (or v1 aliases); KeyError names the bad joint.
    """
    if isinstance(joints, str):
        if joints not in LAYOUTS:
            raise KeyError(f"unknown layout {joints!r}; known: {', '.join(LAYOUTS)}")
        return LAYOUTS[joints]
    joints = tuple(str(j) for j in joints)
    for lay in LAYOUTS.values():
        if lay.joints == joints:
            return lay
    return Layout("custom", tuple(canonical_name(j) for j in joints))


@dataclass(frozen=True)
class CanonicalMap:
    """Precomputed gather/average weights from one layout to the canonical joints."""

    weights: np.ndarray  # [25, J] float32: canonical = weights @ source
    derived: np.ndarray  # [25] bool: the joint is computed from other joints
    present: np.ndarray  # [25] bool: the layout provides or derives it

    @classmethod
    def of(cls, layout: Layout) -> "CanonicalMap":
        w = np.zeros((len(CANONICAL), len(layout)), np.float32)
        derived = np.zeros(len(CANONICAL), bool)
        if layout.is_canonical_subset:
            for j, name in enumerate(layout.canonical_names()):
                w[INDEX[name], j] = 1.0
        for target, sources in layout.derived.items():
            t = INDEX[canonical_name(target)]
            for s in sources:
                w[t, layout.index(s)] = 1.0 / len(sources)
            derived[t] = len(sources) > 1
        return cls(w, derived, w.sum(1) > 0)


def to_canonical(joints: np.ndarray, confidence: np.ndarray, layout: Layout
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Map ``joints [..., J, 3]`` and ``confidence [..., J]`` of ``layout`` onto the 25 canonical joints.

    Returns ``(joints [..., 25, 3], confidence [..., 25], derived [25] bool)``. A canonical
    joint the layout lacks has confidence 0 and coordinates 0. A derived joint is the mean of
    its sources, with the smallest of their confidences (0 if any source is missing).
    """
    cmap = CanonicalMap.of(layout)
    # a joint the sensor did not give (confidence 0, or coordinates that are not finite) is never
    # read: it would reach every canonical joint through the mapping's zero weights (0 * NaN = NaN)
    given = (confidence > 0) & np.isfinite(joints).all(-1)
    confidence = np.where(given, confidence, 0.0)
    joints = np.where(given[..., None], joints, 0.0)
    out = np.einsum("kj,...jc->...kc", cmap.weights, joints).astype(np.float32)
    uses = cmap.weights > 0
    conf = np.where(uses, confidence[..., None, :], np.inf).min(-1)
    conf = np.where(cmap.present, conf, 0.0).astype(np.float32)
    out[conf == 0] = 0.0
    return out, conf, cmap.derived.copy()


def center(joints: np.ndarray, root: str = "SpineBase", per_frame: bool = True) -> np.ndarray:
    """Translate canonical ``joints [T, 25, 3]`` so that ``root`` is at the origin.

    ``per_frame=False`` subtracts the root of the first frame only, keeping the trajectory.
    """
    r = joints[..., INDEX[root], :]
    if not per_frame:
        r = r[..., :1, :]
    return joints - r[..., None, :]


def facing_angle(joints: np.ndarray) -> np.ndarray:
    """Yaw (radians about +y) of the body's left-to-right axis per frame, ``[T, 25, 3] -> [T]``.

    The axis is the mean of ShoulderRight-ShoulderLeft and HipRight-HipLeft projected on the
    ground plane; its yaw is 0 when it points along +x (the body then faces -z).
    """
    axis = (joints[..., INDEX["ShoulderRight"], :] - joints[..., INDEX["ShoulderLeft"], :]
            + joints[..., INDEX["HipRight"], :] - joints[..., INDEX["HipLeft"], :])
    return np.arctan2(-axis[..., 2], axis[..., 0])


def rotation_y(angle: np.ndarray | float) -> np.ndarray:
    """Rotation matrices about +y, ``[...] -> [..., 3, 3]`` (right-handed)."""
    c, s = np.cos(angle), np.sin(angle)
    z, o = np.zeros_like(c), np.ones_like(c)
    return np.stack([np.stack([c, z, s], -1), np.stack([z, o, z], -1),
                     np.stack([-s, z, c], -1)], -2)


def face_forward(joints: np.ndarray, per_frame: bool = False) -> np.ndarray:
    """Rotate centred canonical ``joints [T, 25, 3]`` about y so the body faces -z.

    After rotation the right shoulder and hip lie at larger x than the left ones (a person
    facing a Kinect). By default one rotation for the whole sequence (the mean facing
    direction, keeping turns within it); ``per_frame=True`` removes every turn.
    """
    yaw = facing_angle(joints)
    if not per_frame:
        yaw = np.arctan2(np.sin(yaw).mean(-1, keepdims=True), np.cos(yaw).mean(-1, keepdims=True))
        yaw = np.broadcast_to(yaw, joints.shape[:-2])
    # rotation_y(a) adds a to every yaw, so -yaw brings the axis back to +x.
    rot = rotation_y(-yaw).astype(joints.dtype)
    return np.einsum("...ab,...jb->...ja", rot, joints)


def rotation_between(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The smallest rotation [3, 3] taking direction ``a`` onto direction ``b`` (Rodrigues)."""
    a = a / np.linalg.norm(a)
    b = b / np.linalg.norm(b)
    v, c = np.cross(a, b), float(np.dot(a, b))
    if c < -1 + 1e-9:  # opposite: half a turn about any axis normal to a
        axis = np.cross(a, [1.0, 0, 0] if abs(a[0]) < 0.9 else [0, 1.0, 0])
        axis /= np.linalg.norm(axis)
        return 2 * np.outer(axis, axis) - np.eye(3)
    k = np.array([[0, -v[2], v[1]], [v[2], 0, -v[0]], [-v[1], v[0], 0]])
    return np.eye(3) + k + k @ k / (1 + c)


def common_spine(joints: np.ndarray) -> np.ndarray:
    """Canonical ``joints [..., 25, 3]`` with SpineBase, SpineMid and SpineShoulder replaced by
    the mean of the hips, of hips and shoulders, and of the shoulders.

    Sensors disagree on the spine: Kinect v1's HipCenter sits above v2's SpineBase, and
    MediaPipe has no spine landmarks at all (its layout derives them exactly so). Hips and
    shoulders every sensor has, so models fed these spine joints see the same skeleton from all.
    """
    out = joints.copy()
    hips = joints[..., [INDEX["HipLeft"], INDEX["HipRight"]], :].mean(-2)
    shoulders = joints[..., [INDEX["ShoulderLeft"], INDEX["ShoulderRight"]], :].mean(-2)
    out[..., INDEX["SpineBase"], :] = hips
    out[..., INDEX["SpineShoulder"], :] = shoulders
    out[..., INDEX["SpineMid"], :] = (hips + shoulders) / 2
    return out


def upright(joints: np.ndarray, confidence: np.ndarray | None = None) -> np.ndarray:
    """Rotate canonical ``joints [..., T, 25, 3]`` so that the mean torso axis (SpineBase to
    SpineShoulder, over the T frames) points along +y; leading dimensions are a batch.

    This removes the sensor's tilt and roll (a Kinect on a shelf looking down, a phone held
    crooked): the person's average lean is taken as vertical. One rotation per sequence, about
    the origin, so motion within it is kept. Frames missing either joint are ignored; a
    sequence without any torso (or an upside-down one) is returned unchanged.
    """
    a, b = INDEX["SpineBase"], INDEX["SpineShoulder"]
    ok = None if confidence is None else (confidence[..., a] > 0) & (confidence[..., b] > 0)
    rot = upright_rotation(joints[..., b, :] - joints[..., a, :], ok).astype(joints.dtype)
    return np.einsum("...ij,...tkj->...tki", rot, joints)


def upright_rotation(axis: np.ndarray, ok: np.ndarray | None = None) -> np.ndarray:
    """The rotation [..., 3, 3] of `upright` from the torso vectors ``axis [..., T, 3]`` (SpineBase
    to SpineShoulder per frame; ``ok [..., T]``: frames to use, default all): the mean direction
    onto +y (Rodrigues, batched); the identity where no frame has a torso or it is upside down."""
    axis = axis.astype(np.float64)
    norm = np.linalg.norm(axis, axis=-1, keepdims=True)
    ok = norm[..., 0] > 1e-6 if ok is None else ok & (norm[..., 0] > 1e-6)
    mean = np.where(ok[..., None], axis / np.maximum(norm, 1e-12), 0.0).sum(-2)
    mean /= np.maximum(np.linalg.norm(mean, axis=-1, keepdims=True), 1e-12)
    # R = I + [v]x + [v]x^2 / (1 + c), v = mean x y, c = mean . y
    v = np.stack([-mean[..., 2], np.zeros_like(mean[..., 0]), mean[..., 0]], -1)
    c = mean[..., 1]
    k = np.zeros(mean.shape[:-1] + (3, 3))
    k[..., 0, 1], k[..., 0, 2], k[..., 1, 0] = -v[..., 2], v[..., 1], v[..., 2]
    k[..., 1, 2], k[..., 2, 0], k[..., 2, 1] = -v[..., 0], -v[..., 1], v[..., 0]
    usable = (c > -1 + 1e-6) & ok.any(-1)
    rot = np.eye(3) + k + k @ k / np.where(usable, 1 + c, 1.0)[..., None, None]
    return np.where(usable[..., None, None], rot, np.eye(3))


def body_size(joints: np.ndarray, confidence: np.ndarray | None = None) -> float:
    """Median torso length (SpineBase to SpineShoulder, metres) over the valid frames of ``[T, 25, 3]``."""
    a, b = INDEX["SpineBase"], INDEX["SpineShoulder"]
    length = np.linalg.norm(joints[..., b, :] - joints[..., a, :], axis=-1)
    if confidence is not None:
        length = length[(confidence[..., a] > 0) & (confidence[..., b] > 0)]
    length = length[length > 0]
    if length.size == 0:
        raise ValueError("cannot measure body size: no frame has both SpineBase and SpineShoulder")
    return float(np.median(length))


def normalize(joints: np.ndarray, confidence: np.ndarray | None = None, *, rotate: bool = True,
              scale: bool = True) -> np.ndarray:
    """Centre on SpineBase, face -z and divide by torso length: ``[T, 25, 3] -> [T, 25, 3]``.

    Missing joints (confidence 0) stay at 0.
    """
    out = center(joints)
    if rotate:
        out = face_forward(out)
    if scale:
        out = out / body_size(joints, confidence)
    if confidence is not None:
        out = np.where(confidence[..., None] > 0, out, 0.0)
    return out.astype(joints.dtype)


def velocities(joints: np.ndarray, timestamps: np.ndarray | None = None) -> np.ndarray:
    """Frame-to-frame motion ``[T, J, 3] -> [T, J, 3]``; the first frame's is 0.

    With ``timestamps [T]`` (seconds) the result is in metres per second, else per frame.
    """
    v = np.zeros_like(joints)
    v[1:] = joints[1:] - joints[:-1]
    if timestamps is not None:
        dt = np.diff(np.asarray(timestamps, np.float64))
        v[1:] = v[1:] / dt[:, None, None].astype(joints.dtype)
    return v


def bones(joints: np.ndarray) -> np.ndarray:
    """Bone vectors of canonical ``joints [..., 25, 3]``: each joint minus its parent (root: 0)."""
    return joints - joints[..., PARENT, :]


def bone_lengths(joints: np.ndarray) -> np.ndarray:
    """Length of each bone in BONES order, ``[..., 25, 3] -> [..., len(BONES)]``."""
    p = np.array([INDEX[a] for a, _ in BONES])
    c = np.array([INDEX[b] for _, b in BONES])
    return np.linalg.norm(joints[..., c, :] - joints[..., p, :], axis=-1)


def mirror(joints: np.ndarray, confidence: np.ndarray | None = None):
    """Mirror canonical ``joints [..., 25, 3]`` left-to-right (negate x, swap sides).

    Returns the mirrored joints, and the matching confidence when one is given.
    """
    out = joints[..., FLIP, :].copy()
    out[..., 0] = -out[..., 0]
    return out if confidence is None else (out, confidence[..., FLIP])
