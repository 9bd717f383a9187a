"""Synthetic walkers: distinct people walking paths in a room in front of a Kinect.

Each walker has its own body proportions, cadence, stride, arm swing and posture, and path
(back and forth on a line at any heading: across, towards and away from the sensor,
diagonally; or round a circle), drawn from a seed. Poses come from forward kinematics of a
simple gait model (sinusoidal hip and shoulder swing, knee flexion in swing, feet kept on the
floor), in Kinect camera space (metres, y up, z away from the sensor), with Kinect-like noise
and joint dropouts. `walk`/`walkers` give whole sequences; `synthetic_frames` streams live
frames for the ``skelstream sensor synthetic`` adapter.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Iterator

import numpy as np

from engine.sequence import SkeletonSequence, frame_times
from engine.skeleton import CANONICAL, INDEX, KINECT_V2
from engine.wire import Frame

UP = np.array([0.0, 1.0, 0.0])


@dataclass(frozen=True)
class Walker:
    """One synthetic person: proportions (metres), gait (Hz, radians) and path."""

    height: float
    shoulder_width: float
    hip_width: float
    leg_ratio: float
    cadence: float  # gait cycles per second (two steps a cycle)
    hip_swing: float
    knee_bend: float
    arm_swing: float
    lean: float
    depth: float  # distance of the path's centre from the sensor
    lane: float  # half the length of the walking line, or the circle's radius
    heading: float = 0.0  # direction of the walking line (radians from +x, about y)
    circle: bool = False  # walk round a circle instead of back and forth

    @classmethod
    def random(cls, rng: np.random.Generator) -> "Walker":
        """A plausible adult, different for every draw."""
        height = rng.uniform(1.50, 1.95)
        depth, lane, heading = rng.uniform(2.4, 3.8), rng.uniform(1.0, 2.0), rng.uniform(0, np.pi)
        circle = bool(rng.random() < 0.25)
        # stay in front of the sensor: the path never comes nearer than 1.2 m
        reach = 1.0 if circle else abs(np.sin(heading))
        lane = min(lane, (depth - 1.2) / max(reach, 1e-6))
        return cls(
            height=height, shoulder_width=height * rng.uniform(0.21, 0.25),
            hip_width=height * rng.uniform(0.10, 0.13), leg_ratio=rng.uniform(0.45, 0.50),
            cadence=rng.uniform(0.80, 1.05), hip_swing=rng.uniform(0.30, 0.45),
            knee_bend=rng.uniform(0.8, 1.2), arm_swing=rng.uniform(0.15, 0.55),
            lean=rng.uniform(-0.02, 0.12), depth=depth, lane=lane, heading=heading, circle=circle)

    @property
    def speed(self) -> float:
        """Walking speed (m/s): two steps of the hip-swing chord per gait cycle."""
        leg = self.height * self.leg_ratio
        return 2 * 2 * leg * np.sin(self.hip_swing) * self.cadence

    def place(self, t: float) -> tuple[np.ndarray, np.ndarray]:
        """Pelvis position on the floor [3] and walking direction [3] at time ``t``."""
        centre = np.array([0.0, 0.0, self.depth])
        if self.circle:
            a = self.speed * t / self.lane + self.heading
            radial = np.array([np.cos(a), 0.0, np.sin(a)])
            return centre + self.lane * radial, np.array([-np.sin(a), 0.0, np.cos(a)])
        line = np.array([np.cos(self.heading), 0.0, np.sin(self.heading)])
        span = 2 * self.lane  # back and forth; turn at the ends
        s = (self.speed * t) % (2 * span)
        if s < span:
            return centre + (self.lane - s) * line, -line
        return centre + (s - span - self.lane) * line, line

    def pose(self, t: float) -> np.ndarray:
        """Canonical joints [25, 3] at time ``t`` seconds."""
        h, leg = self.height, self.height * self.leg_ratio
        thigh, shin, foot = 0.53 * leg, 0.47 * leg * 0.9, 0.14 * h
        ankle_h = 0.1 * leg
        torso, neck, head = 0.30 * h, 0.06 * h, 0.07 * h
        upper, fore, hand = 0.19 * h, 0.15 * h, 0.05 * h
        pelvis, fwd = self.place(t)
        left = np.cross(UP, fwd)
        phase = 2 * np.pi * self.cadence * t
        j = np.zeros((len(CANONICAL), 3))
        for side, sign, ph in (("Left", 1, phase), ("Right", -1, phase + np.pi)):
            hip = pelvis + sign * left * self.hip_width / 2
            a = self.hip_swing * np.sin(ph)
            k = self.knee_bend * max(0.0, np.sin(ph + np.pi / 2)) ** 2
            knee = hip + thigh * (fwd * np.sin(a) - UP * np.cos(a))
            ankle = knee + shin * (fwd * np.sin(a - k) - UP * np.cos(a - k))
            j[INDEX[f"Hip{side}"]], j[INDEX[f"Knee{side}"]] = hip, knee
            j[INDEX[f"Ankle{side}"]], j[INDEX[f"Foot{side}"]] = ankle, ankle + foot * fwd - UP * 0.04
        j[INDEX["SpineBase"]] = pelvis
        spine_dir = UP * np.cos(self.lean) + fwd * np.sin(self.lean)
        j[INDEX["SpineMid"]] = pelvis + spine_dir * torso * 0.5
        ss = j[INDEX["SpineShoulder"]] = pelvis + spine_dir * torso
        j[INDEX["Neck"]] = ss + UP * neck
        j[INDEX["Head"]] = ss + UP * (neck + head)
        for side, sign, ph in (("Left", 1, phase + np.pi), ("Right", -1, phase)):
            shoulder = ss + sign * left * self.shoulder_width / 2
            b = self.arm_swing * np.sin(ph)
            bend = 0.25 + 0.3 * max(0.0, np.sin(ph))
            elbow = shoulder + upper * (fwd * np.sin(b) - UP * np.cos(b))
            d = fwd * np.sin(b + bend) - UP * np.cos(b + bend)
            wrist = elbow + fore * d
            j[INDEX[f"Shoulder{side}"]], j[INDEX[f"Elbow{side}"]] = shoulder, elbow
            j[INDEX[f"Wrist{side}"]], j[INDEX[f"Hand{side}"]] = wrist, wrist + hand * d
            j[INDEX[f"HandTip{side}"]] = wrist + 2 * hand * d
            j[INDEX[f"Thumb{side}"]] = wrist + hand * (d + fwd) / 2 - sign * left * 0.02
        # Keep the lower foot on the floor (y = -1.0 m relative to the sensor).
        j[:, 1] += -1.0 + ankle_h - min(j[INDEX["AnkleLeft"], 1], j[INDEX["AnkleRight"], 1])
        return j


def walk(walker: Walker, seconds: float, fps: float = 30.0, seed: int = 0,
         noise: float = 0.005, dropout: float = 0.01) -> SkeletonSequence:
    """Frames of ``walker`` for ``seconds`` at ``fps``, with Gaussian noise (metres, per
    coordinate) and joints dropped (confidence 0) with probability ``dropout`` per frame."""
    rng = np.random.default_rng(seed)
    times = frame_times(int(round(seconds * fps)), fps)
    joints = np.stack([walker.pose(t) for t in times])
    joints += rng.normal(0.0, noise, joints.shape)
    conf = (rng.random(joints.shape[:2]) >= dropout).astype(np.float32)
    joints = np.where(conf[..., None] > 0, joints, 0.0)
    return SkeletonSequence(joints, conf, times, KINECT_V2, fps, {"subject": f"synthetic-{seed}"})


def walkers(n: int, seconds: float, fps: float = 30.0, seed: int = 0) -> list[SkeletonSequence]:
    """``n`` distinct walkers, deterministic from ``seed``."""
    rng = np.random.default_rng(seed)
    people = [Walker.random(rng) for _ in range(n)]
    return [walk(w, seconds, fps, seed=seed * 1000 + i) for i, w in enumerate(people)]


def synthetic_frames(n: int, seed: int = 0, fps: float = 30.0, seconds: float | None = None,
                     sensor: str = "synthetic", noise: float = 0.005, dropout: float = 0.01) -> Iterator[Frame]:
    """Live frames of ``n`` distinct walkers (tracks 0..n-1), for ``seconds`` or for ever;
    deterministic from ``seed``. Noise and dropouts as in `walk`."""
    rng = np.random.default_rng(seed)
    people = [Walker.random(rng) for _ in range(n)]
    for k in itertools.count():
        t = k / fps
        if seconds is not None and t >= seconds:
            return
        joints = np.stack([w.pose(t) for w in people]) + rng.normal(0.0, noise, (n, len(CANONICAL), 3))
        conf = (rng.random((n, len(CANONICAL))) >= dropout).astype(np.float32)
        joints = np.where(conf[..., None] > 0, joints, 0.0).astype(np.float32)
        yield Frame(sensor, k, t, KINECT_V2, np.arange(n), joints, conf, fps)
