"""Kinect v2 adapter on Linux: a fake runtime that mimics pykinect2's objects, and the
compatibility loader on a fake pykinect2 package with the published package's three faults."""

import itertools
import sys
from types import SimpleNamespace

import numpy as np
import pytest

from engine.sensors.kinect import body_frame, kinect_frames, load_pykinect2
from engine.skeleton import CANONICAL
from engine.wire import decode_frame, encode_frame


def fake_body(tracking_id, offset, states):
    joints = [SimpleNamespace(JointType=j, TrackingState=states[j],
                              Position=SimpleNamespace(x=offset + 0.01 * j, y=0.5 - 0.02 * j, z=2.5))
              for j in range(25)]
    return SimpleNamespace(is_tracked=True, tracking_id=tracking_id, joints=joints)


class FakeRuntime:
    """get_last_body_frame() keeps returning the latest frame until a new one arrives."""

    def __init__(self, frames):
        self.frames, self.calls, self.closed = frames, 0, False

    def get_last_body_frame(self):
        self.calls += 1
        return self.frames[min(self.calls // 3, len(self.frames) - 1)]  # each frame seen 3 times

    def close(self):
        self.closed = True


def frame_data(ticks, bodies):
    untracked = SimpleNamespace(is_tracked=False, tracking_id=0, joints=None)
    return SimpleNamespace(relative_time=ticks, floor_clip_plane=None,
                           bodies=np.array(bodies + [untracked] * (6 - len(bodies)), dtype=object))


def test_body_frames_become_canonical_frames_with_ids_states_and_relative_time():
    states = [2] * 25
    states[7], states[21] = 1, 0  # HandLeft inferred, HandTipLeft not tracked
    frames = [frame_data(1_000_000 + 333_333 * k, [fake_body(72057594037929800, 0.0, states),
                                                   fake_body(72057594037929811, 1.0, [2] * 25)])
              for k in range(4)]
    runtime = FakeRuntime(frames)
    gen = kinect_frames("kinect", runtime=runtime, poll=0)
    got = list(itertools.islice(gen, 4))
    gen.close()
    assert runtime.closed
    assert [f.t for f in got] == pytest.approx([0.1 + 0.0333333 * k for k in range(4)])  # no frame twice
    f = got[0]
    assert f.layout.joints == CANONICAL and list(f.tracks) == [72057594037929800, 72057594037929811]
    assert f.joints.shape == (2, 25, 3) and f.confidence[0, 7] == 0.5 and f.confidence[0, 21] == 0
    assert (f.joints[0, 21] == 0).all() and f.joints[1, 3, 0] == pytest.approx(1.03)
    assert decode_frame(encode_frame(f)).tracks.tolist() == f.tracks.tolist()  # 64-bit ids survive the wire


def test_no_tracked_body_gives_an_empty_frame():
    f = body_frame(frame_data(5, []), "kinect")
    assert f.joints.shape == (0, 25, 3) and len(f.tracks) == 0


def test_other_platforms_get_a_clear_message():
    with pytest.raises(OSError, match="needs Windows with the Kinect for Windows SDK 2.0"):
        load_pykinect2("linux")


FAKE_V2 = '''
from ctypes import Structure, c_void_p, c_uint32 as c_ulong, c_ulonglong, sizeof  # Windows: ulong is 32-bit
class tagSTATSTG(Structure):
    _fields_ = [("pwcsName", c_void_p), ("type", c_ulong), ("cbSize", c_ulonglong),
                ("mtime", c_ulonglong), ("ctime", c_ulonglong), ("atime", c_ulonglong),
                ("grfMode", c_ulong), ("grfLocksSupported", c_ulong), ("clsid", c_ulonglong * 2),
                ("grfStateBits", c_ulong), ("reserved", c_ulong)]
assert sizeof(tagSTATSTG) == 72, sizeof(tagSTATSTG)
FrameSourceTypes_Body = 32
'''
FAKE_RUNTIME = '''
from pykinect2 import PyKinectV2
import numpy, time
class PyKinectRuntime:
    def __init__(self, kinds):
        self.started = time.clock()
        self.bodies = numpy.ndarray((6,), dtype=numpy.object)
'''


def test_compat_loader_fixes_the_published_package(tmp_path, monkeypatch):
    pkg = tmp_path / "pykinect2"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "PyKinectV2.py").write_text(FAKE_V2)
    (pkg / "PyKinectRuntime.py").write_text(FAKE_RUNTIME)
    monkeypatch.syspath_prepend(str(tmp_path))
    for name in ("pykinect2", "pykinect2.PyKinectV2", "pykinect2.PyKinectRuntime"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    with pytest.raises(AssertionError):  # as published, on 64-bit Python
        exec(compile(FAKE_V2, "PyKinectV2.py", "exec"), {})
    v2, rt = load_pykinect2("win32")
    runtime = rt.PyKinectRuntime(v2.FrameSourceTypes_Body)
    assert runtime.bodies.shape == (6,) and runtime.started > 0
    for name in ("pykinect2", "pykinect2.PyKinectV2", "pykinect2.PyKinectRuntime"):
        sys.modules.pop(name, None)
