"""Kinect v2 adapter, through pykinect2 (Windows, Kinect for Windows SDK 2.0).

pykinect2 0.1.0 as published on PyPI does not run on 64-bit Python 3 (it calls time.clock and
numpy.object, both removed, and asserts the 32-bit size of tagSTATSTG at import). `load_pykinect2`
loads it with those three fixed, without touching the installed files. Its runtime's
``has_new_body_frame()`` also stays true after a read, so new frames are told apart here by the
body frame's own RelativeTime instead.

Frames: the canonical 25 joints (Kinect v2 camera space: metres, y up, z away from the sensor,
same order as the SDK's JointType), one body per tracked person with its TrackingId as track,
TrackingState as confidence (Tracked 1.0, Inferred 0.5, NotTracked 0 with the joint zeroed),
``t`` = RelativeTime in seconds (the SDK's 100 ns ticks).
"""

from __future__ import annotations

import importlib
import importlib.util
import re
import sys
import time
import types
from pathlib import Path
from typing import Iterator

import numpy as np

from engine.skeleton import KINECT_V2
from engine.wire import Frame

CONFIDENCE = {0: 0.0, 1: 0.5, 2: 1.0}  # TrackingState_NotTracked, _Inferred, _Tracked
TICKS = 1e-7  # seconds per TIMESPAN tick
_STATSTG = re.compile(r"assert\s+sizeof\(tagSTATSTG\)\s*==\s*72\s*,\s*sizeof\(tagSTATSTG\)")


def load_pykinect2(platform: str = sys.platform):
    """``(PyKinectV2, PyKinectRuntime)`` modules of pykinect2, made to run on Python 3 64-bit."""
    if platform != "win32":
        raise OSError(f"the Kinect v2 adapter needs Windows with the Kinect for Windows SDK 2.0 "
                           f"(Kinect20.dll) and `pip install pykinect2 comtypes`; this is {platform}. "
                           "Record on the Windows machine (skelstream sensor kinect + skelstream record) "
                           "and replay here, or publish from there (--endpoint, --curve-secret).")
    spec = importlib.util.find_spec("pykinect2")
    if spec is None or not spec.submodule_search_locations:
        raise OSError("pykinect2 is not installed: pip install pykinect2 comtypes")
    if not hasattr(time, "clock"):
        time.clock = time.perf_counter
    if "object" not in np.__dict__:
        np.object = object  # the runtime makes arrays of dtype=numpy.object
    package = importlib.import_module("pykinect2")
    if "pykinect2.PyKinectV2" not in sys.modules:
        path = Path(spec.submodule_search_locations[0]) / "PyKinectV2.py"
        source = _STATSTG.sub("assert sizeof(tagSTATSTG) in (72, 80), sizeof(tagSTATSTG)", path.read_text())
        module = types.ModuleType("pykinect2.PyKinectV2")
        module.__file__ = str(path)
        sys.modules[module.__name__] = module
        exec(compile(source, str(path), "exec"), module.__dict__)
        package.PyKinectV2 = module
    return sys.modules["pykinect2.PyKinectV2"], importlib.import_module("pykinect2.PyKinectRuntime")


def body_frame(data, sensor: str, fps: float = 30.0) -> Frame:
    """A frame from pykinect2's body frame data (``relative_time``, ``bodies`` with
    ``is_tracked``, ``tracking_id``, ``joints[j].Position`` and ``.TrackingState``)."""
    bodies = [b for b in data.bodies if b is not None and b.is_tracked]
    joints = np.zeros((len(bodies), len(KINECT_V2), 3), np.float32)
    conf = np.zeros((len(bodies), len(KINECT_V2)), np.float32)
    for i, body in enumerate(bodies):
        for j in range(len(KINECT_V2)):
            joint = body.joints[j]
            conf[i, j] = CONFIDENCE.get(int(joint.TrackingState), 0.0)
            if conf[i, j] > 0:
                joints[i, j] = (joint.Position.x, joint.Position.y, joint.Position.z)
    tracks = np.array([int(b.tracking_id) & 0x7FFF_FFFF_FFFF_FFFF for b in bodies], np.int64)
    return Frame(sensor, 0, float(data.relative_time) * TICKS, KINECT_V2, tracks, joints, conf, fps)


def kinect_frames(sensor: str = "kinect", runtime=None, poll: float = 0.002) -> Iterator[Frame]:
    """Frames of a live Kinect v2 (``runtime``: an opened PyKinectRuntime, for tests)."""
    if runtime is None:
        v2, rt = load_pykinect2()
        runtime = rt.PyKinectRuntime(v2.FrameSourceTypes_Body)
    last = None
    try:
        while True:
            data = runtime.get_last_body_frame()
            if data is None or data.bodies is None or data.relative_time == last:
                time.sleep(poll)
                continue
            last = data.relative_time
            yield body_frame(data, sensor)
    finally:
        runtime.close()
