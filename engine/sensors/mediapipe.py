"""MediaPipe adapter: 3D pose of several people from a video file or a camera.

Per image, MediaPipe's Pose Landmarker (Tasks API, VIDEO mode, ``num_poses`` people) gives
33 world landmarks per person in metres around the hip centre (x right, y down, z away from
the camera) and 33 image landmarks. We publish frames in the ``mediapipe`` layout
(`engine.skeleton.MEDIAPIPE`; receivers map it onto the canonical joints):

- axes turned to the skeleton convention (x to the camera's left, y up, z away: a half turn
  about z), landmark visibility as confidence;
- each person placed in camera space: the world landmarks carry no position, so the root is
  found by weak perspective, least squares between the world landmarks and the image ones,
  with a focal length from ``fov`` (horizontal field of view, default 60 degrees);
- stable track ids from a small tracker (`Tracker`): detections are assigned to tracks by
  image distance of their hip centres (Hungarian assignment, gated), a person who appears
  gets a new id, an id unseen for ``timeout`` seconds is retired; near duplicates (MediaPipe
  sometimes returns one person twice) are dropped.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import numpy as np

from engine.sensors.pose_model import DEFAULT_TASK, make_pose_task
from engine.skeleton import MEDIAPIPE
from engine.wire import Frame

HIPS = (MEDIAPIPE.index("left_hip"), MEDIAPIPE.index("right_hip"))
TO_SKELETON = np.array([-1.0, -1.0, 1.0], np.float32)  # half a turn about z: y up, x to the camera's left


@dataclass
class Tracker:
    """Stable ids for people across frames, by the image position (normalised) of their hips."""

    gate: float = 0.12  # most a hip centre moves between frames (image widths)
    timeout: float = 1.0  # seconds unseen before an id is retired
    duplicate: float = 0.03  # detections closer than this are one person
    tracks: dict[int, tuple[np.ndarray, float]] = field(default_factory=dict)  # id -> (position, last seen)
    next_id: int = 0

    def update(self, positions: np.ndarray, scores: np.ndarray, t: float) -> tuple[np.ndarray, np.ndarray]:
        """``(kept detection indices, their track ids)`` for detections at image ``positions``
        [N, 2] with quality ``scores`` [N] at time ``t``."""
        from scipy.optimize import linear_sum_assignment

        self.tracks = {i: v for i, v in self.tracks.items() if t - v[1] <= self.timeout}
        keep: list[int] = []
        for k in np.argsort(-scores):  # best first; drop near duplicates of a kept one
            if all(np.linalg.norm(positions[k] - positions[j]) >= self.duplicate for j in keep):
                keep.append(int(k))
        keep_arr = np.array(sorted(keep), int)
        ids = np.full(len(keep_arr), -1)
        known = list(self.tracks)
        if known and len(keep_arr):
            cost = np.linalg.norm(positions[keep_arr][:, None] - np.stack([self.tracks[i][0] for i in known])[None],
                                  axis=-1)
            rows, cols = linear_sum_assignment(cost)
            for r, c in zip(rows, cols):
                if cost[r, c] <= self.gate:
                    ids[r] = known[c]
        for r in np.flatnonzero(ids < 0):
            ids[r] = self.next_id
            self.next_id += 1
        for r, i in zip(keep_arr, ids):
            self.tracks[int(i)] = (positions[r], t)
        return keep_arr, ids


def place(world: np.ndarray, image: np.ndarray, visibility: np.ndarray, size: tuple[int, int],
          fov: float) -> np.ndarray:
    """Camera-space position [3] (x right, y down, z away; metres) of the hip centre.

    Weak perspective: image point ~ c + s * (root + world point) for visible landmarks, solved
    for the scale s = f / depth and the root's image offset; depth = f / s.
    """
    w, h = size
    f = (w / 2) / np.tan(np.radians(fov) / 2)
    ok = visibility > 0.5
    if ok.sum() < 4:
        ok = np.ones_like(ok)
    px = image[ok, :2] * [w, h] - [w / 2, h / 2]
    a = np.zeros((2 * ok.sum(), 3))
    a[0::2, 0], a[0::2, 1] = world[ok, 0], 1
    a[1::2, 0], a[1::2, 2] = world[ok, 1], 1
    s, u, v = np.linalg.lstsq(a, px.reshape(-1), rcond=None)[0]
    s = max(s, 1e-6)
    return np.array([u / s, v / s, f / s])


def open_source(source: str):
    """An OpenCV capture of a camera index ("0") or a video file, with its frame rate."""
    import cv2

    cap = cv2.VideoCapture(int(source) if source.isdigit() else source)
    if not cap.isOpened():
        raise FileNotFoundError(f"{source}: cannot open this video file or camera")
    fps = cap.get(cv2.CAP_PROP_FPS)
    return cap, fps if fps and fps > 0 else 30.0


def landmarker(model: str | Path | None, num_poses: int):
    """A Tasks-API PoseLandmarker in VIDEO mode (the bundled-network model is built on first use)."""
    from mediapipe.tasks.python.core.base_options import BaseOptions
    from mediapipe.tasks.python.vision import PoseLandmarker, PoseLandmarkerOptions, RunningMode

    path = Path(model) if model else DEFAULT_TASK
    if not path.is_file():
        if model:
            raise FileNotFoundError(f"{path}: no such pose_landmarker .task file")
        print(f"making {path} from the mediapipe package (once)", flush=True)
        make_pose_task(path)
    return PoseLandmarker.create_from_options(PoseLandmarkerOptions(
        base_options=BaseOptions(model_asset_path=str(path)), running_mode=RunningMode.VIDEO,
        num_poses=num_poses))


def mediapipe_frames(source: str, model: str | Path | None = None, num_poses: int = 4, sensor: str = "mediapipe",
                     fov: float = 60.0, stats_every: float = 0.0, tracker: Tracker | None = None) -> Iterator[Frame]:
    """Frames of the people MediaPipe finds in ``source`` (a video path or a camera index).

    Video files: ``t`` is the frame's time in the file (frame index / fps). Cameras: ``t`` is
    the capture time (monotonic seconds). Every ``stats_every`` seconds (0: never) a line
    reports the processing rate and the capture-to-frame latency.
    """
    import cv2
    import mediapipe as mp

    cap, fps = open_source(source)
    camera = source.isdigit()
    tracker = tracker or Tracker()
    latencies: list[float] = []
    count, began, reported = 0, time.monotonic(), time.monotonic()
    with landmarker(model, num_poses) as lm:
        try:
            index = 0
            while True:
                ok, bgr = cap.read()
                captured = time.monotonic()
                if not ok:
                    return
                t = captured if camera else index / fps
                index += 1
                image = mp.Image(image_format=mp.ImageFormat.SRGB, data=cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
                result = lm.detect_for_video(image, int(round(t * 1000)))
                frame = _frame(result, sensor, t, fps, (bgr.shape[1], bgr.shape[0]), fov, tracker)
                latencies.append(time.monotonic() - captured)
                count += 1
                if stats_every and time.monotonic() - reported >= stats_every:
                    reported = time.monotonic()
                    lat = np.asarray(latencies) * 1e3
                    print(f"mediapipe: {count / (reported - began):.1f} frames/s, latency p50 "
                          f"{np.percentile(lat, 50):.0f} ms p99 {np.percentile(lat, 99):.0f} ms, "
                          f"{len(frame.tracks)} people", flush=True)
                    latencies.clear()
                yield frame
        finally:
            cap.release()


def _frame(result, sensor: str, t: float, fps: float, size: tuple[int, int], fov: float,
           tracker: Tracker) -> Frame:
    n = len(result.pose_world_landmarks)
    joints = np.zeros((n, len(MEDIAPIPE), 3), np.float32)
    conf = np.zeros((n, len(MEDIAPIPE)), np.float32)
    hips = np.zeros((n, 2))
    for b in range(n):
        world = np.array([[p.x, p.y, p.z] for p in result.pose_world_landmarks[b]])
        image = np.array([[p.x, p.y] for p in result.pose_landmarks[b]])
        vis = np.array([p.visibility or 0.0 for p in result.pose_landmarks[b]])
        root = place(world, image, vis, size, fov)
        joints[b] = (world + root) * TO_SKELETON
        conf[b] = np.clip(vis, 0, 1)
        hips[b] = image[list(HIPS)].mean(0)
    keep, ids = tracker.update(hips, conf.mean(1) if n else np.zeros(0), t)
    order = np.argsort(ids, kind="stable")
    return Frame(sensor, 0, t, MEDIAPIPE, ids[order].astype(np.int64), joints[keep][order], conf[keep][order], fps)
