"""Missing joints: how a model sees a joint the sensor did not give.

A joint with confidence 0 has no coordinates worth anything: a reader stores 0 there (the
sensor's origin, metres away once the skeleton is centred), a live sensor may send anything.
Models never read those values. Before a model sees a window, `fill_missing` replaces every
missing joint by an explicit stand-in computed from joints the sensor did give, and says which
ones it filled:

1. in time: a joint lost in some frames and seen in others is interpolated linearly between the
   frames that have it (held at the ends);
2. in the body: a joint the sensor never gives takes the place of its nearest given neighbour
   on the kinematic chain (`STAND_INS`: a hand its wrist, a wrist its hand, an ankle its foot, a
   spine joint the mean of hips and shoulders, ...), the way a sensor with fewer joints sees the
   body;
3. anything still without coordinates (a frame with no joints at all, a limb with no joint
   given) sits at the root of the frame (zero displacement), never at the origin.

Guarantee (tested): the stored coordinates of a missing joint cannot change the result. The
default gait model goes further and reads only `SHARED_JOINTS` (input option ``shared_joints``):
the others are always stand-ins, so every sensor gives it the same window (docs/RESULTS.md,
"Missing joints").
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from engine.skeleton import CANONICAL, INDEX, PARENT

# For each canonical joint, the joints whose mean stands in for it when the sensor never gives it,
# in order of preference (the first option whose joints are all given is used).
STAND_INS: dict[str, tuple[tuple[str, ...], ...]] = {
    "SpineBase": (("HipLeft", "HipRight"), ("SpineMid",)),
    "SpineShoulder": (("ShoulderLeft", "ShoulderRight"), ("Neck",)),
    "SpineMid": (("SpineBase", "SpineShoulder"), ("HipLeft", "HipRight", "ShoulderLeft", "ShoulderRight")),
    "Neck": (("SpineShoulder",), ("ShoulderLeft", "ShoulderRight"), ("Head",)),
    "Head": (("Neck",), ("SpineShoulder",)),
    **{f"{j}{s}": o for s in ("Left", "Right") for j, o in {
        "Shoulder": (("SpineShoulder",), ("Neck",)),
        "Elbow": ((f"Shoulder{s}", f"Wrist{s}"), (f"Shoulder{s}", f"Hand{s}"), (f"Shoulder{s}",)),
        "Wrist": ((f"Hand{s}",), (f"Elbow{s}",)),
        "Hand": ((f"Wrist{s}",), (f"HandTip{s}",), (f"Elbow{s}",)),
        "HandTip": ((f"Hand{s}",), (f"Wrist{s}",)),
        "Thumb": ((f"Hand{s}",), (f"Wrist{s}",)),
        "Hip": (("SpineBase",),),
        "Knee": ((f"Hip{s}", f"Ankle{s}"), (f"Hip{s}", f"Foot{s}"), (f"Hip{s}",)),
        "Ankle": ((f"Foot{s}",), (f"Knee{s}",)),
        "Foot": ((f"Ankle{s}",), (f"Knee{s}",)),
    }.items()},
}


@lru_cache(maxsize=256)
def _resolve(names: tuple[str, ...], given: frozenset[str]) -> dict[str, tuple[str, ...]]:
    """For each joint of ``names`` not in ``given``, the given joints standing in for it (filling
    in order, so a filled joint can stand in for the next); () when none can."""
    have = set(given)
    plan: dict[str, tuple[str, ...]] = {}
    pending = [n for n in names if n not in given]
    for _ in range(len(pending) + 1):  # chains (Head <- Neck <- SpineShoulder) resolve in a few passes
        for n in list(pending):
            for option in STAND_INS.get(n, ()):
                if all(o in have for o in option):
                    plan[n] = option
                    have.add(n)
                    pending.remove(n)
                    break
    for n in pending:  # nothing to stand in: the nearest given ancestor, else the root
        p = INDEX[n]
        while CANONICAL[p] not in have and PARENT[p] != p:
            p = int(PARENT[p])
        plan[n] = (CANONICAL[p],) if CANONICAL[p] in have and CANONICAL[p] != n else ()
    return plan


def fill_missing(joints: np.ndarray, confidence: np.ndarray, names: tuple[str, ...] = CANONICAL,
                 last: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Missing joints of ``joints [..., T, J, 3]`` (``confidence [..., T, J]`` 0) replaced by
    stand-ins from given joints (see the module doc); leading dimensions are independent
    sequences. ``names`` are the J joints' canonical names. Returns ``(joints, filled
    [..., T, J] bool)``; given joints are returned unchanged, bit for bit. Sequences missing the
    same joints (a sensor's joint set) are filled together, in one array operation per joint.
    ``last``: only the last frames are returned (``[..., last, J, 3]``), equal to those of the
    whole result; the earlier frames are read only to interpolate in time (the live engine's
    window of a longer context)."""
    joints = np.asarray(joints)
    ok = np.asarray(confidence) > 0
    t_all = joints.shape[-3]
    first = 0 if last is None else t_all - min(last, t_all)
    filled = ~ok[..., first:, :]
    if ok.all():
        return (joints if not first else joints[..., first:, :, :]), filled
    out = joints[..., first:, :, :].astype(np.float32, copy=True)
    flat, okf = out.reshape(-1, *out.shape[-3:]), ok.reshape(-1, *ok.shape[-2:])
    whole = joints.reshape(-1, *joints.shape[-3:])
    seen = okf.any(1)  # [S, J]: given in some frame
    t = np.arange(t_all)
    for s, j in zip(*np.nonzero(seen & ~okf.all(1))):  # lost for a few frames: in time (held at the ends)
        given = okf[s, :, j]
        if first and given[first:].all():
            continue  # lost only before the frames returned
        flat[s, :, j] = np.stack([np.interp(t[first:], t[given], whole[s, given, j, c]) for c in range(3)], -1)
    for pattern in (seen if len(seen) == 1 else np.unique(seen, axis=0)):
        if pattern.all():
            continue
        rows = slice(None) if len(seen) == 1 else np.flatnonzero((seen == pattern).all(1))
        given = frozenset(names[j] for j in np.flatnonzero(pattern))
        missing, keep, weights = _fill_matrix(names, given)
        sub = flat[rows]
        sub[:, :, missing] = np.einsum("mg,stgc->stmc", weights, sub[:, :, keep]) if len(keep) else 0.0
        flat[rows] = sub
    return flat.reshape(out.shape), filled


@lru_cache(maxsize=256)
def _fill_matrix(names: tuple[str, ...], given: frozenset[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The stand-ins of `_resolve` as one linear map: ``(missing [M], given [G], weights [M, G])``,
    each missing joint a weighted mean of given joints (a stand-in filled from another filled
    joint composes through it). One matrix product fills a sequence."""
    col = {n: i for i, n in enumerate(names)}
    keep = np.array([col[n] for n in names if n in given], np.int64)
    # nothing on the body to take: the root (or the mean of what the sequence has)
    anchor = [col[m] for m in ("SpineBase", "HipLeft", "HipRight") if m in given] or list(keep)
    rows = np.eye(len(names))
    plan = _resolve(names, given)
    for n, option in plan.items():
        src = [col[m] for m in option if m in col] or anchor
        rows[col[n]] = rows[src].mean(0) if src else 0.0
    missing = np.array([col[n] for n in plan], np.int64)
    return missing, keep, np.ascontiguousarray(rows[np.ix_(missing, keep)], np.float32)


# Joint sets of sensors other than Kinect v2, as canonical names each gives (for training with
# their joints removed and for `skelstream eval transfer`'s reduced probes).
SENSOR_JOINTS: dict[str, tuple[str, ...]] = {
    "kinect_v2": CANONICAL,
    "kinect_v1": tuple(n for n in CANONICAL if n not in ("Neck", "HandTipLeft", "ThumbLeft", "HandTipRight", "ThumbRight")),
    # a Kinect v2 export of 18 joints: no hands, hand tips, thumbs, no SpineShoulder
    "export18": tuple(n for n in CANONICAL if not n.startswith(("Hand", "Thumb")) and n != "SpineShoulder"),
    # OpenNI / NiTE (KARD; its neck is the shoulders' midpoint): head, neck, shoulders, elbows, hands (at the wrists), torso, hips,
    # knees, feet (at the ankles)
    "openni15": ("Head", "SpineShoulder", "ShoulderLeft", "ElbowLeft", "WristLeft", "ShoulderRight", "ElbowRight",
                 "WristRight", "SpineMid", "HipLeft", "KneeLeft", "AnkleLeft", "HipRight", "KneeRight",
                 "AnkleRight"),
}


def reduce_joints(confidence: np.ndarray, keep: tuple[str, ...], names: tuple[str, ...] = CANONICAL) -> np.ndarray:
    """``confidence [..., J]`` with every joint not in ``keep`` set to 0 (missing)."""
    out = np.array(confidence, np.float32, copy=True)
    out[..., [j for j, n in enumerate(names) if n not in keep]] = 0.0
    return out


# The joints every sensor above gives: a model that reads only these (and stand-ins for the rest,
# e.g. hands at the wrists) sees the same skeleton from all of them (input option
# ``shared_joints``). Spine joints come from hips and shoulders (``common_joints``).
SHARED_JOINTS: tuple[str, ...] = tuple(n for n in CANONICAL if all(n in keep for keep in SENSOR_JOINTS.values()))
