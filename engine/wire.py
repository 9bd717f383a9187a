"""The skeleton frame message, as published over ZeroMQ and stored in recordings.

A frame is a multipart message of four parts:

    topic     b"frame/" + sensor id (UTF-8), so subscribers can filter by sensor
    header    msgpack map: v (schema version), sensor, seq (uint, per sensor), t (sensor
              timestamp, float64 seconds), t_pub (publisher wall clock, float64 seconds),
              fps, layout (a registered layout name or the list of joint names),
              tracks (list of distinct int64 track ids, one per body; at most MAX_BODIES)
    joints    float32 little-endian, [B, J, 3] (metres, y up)
    conf      float32 little-endian, [B, J] (0 = missing)

Recordings store parts 1..3 exactly as published (see engine.recording).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import msgpack
import numpy as np

from engine.skeleton import LAYOUTS, Layout, layout_for

WIRE_VERSION = 1
FRAME_TOPIC = b"frame/"
MAX_BODIES = 64  # more bodies than any sensor tracks: a frame claiming them is refused, not allocated
_F32 = np.dtype("<f4")


class WireError(ValueError):
    """A message that does not follow the schema; ``reason`` is a short stable label for counting."""

    def __init__(self, reason: str, detail: str):
        super().__init__(f"{reason}: {detail}")
        self.reason = reason


@dataclass(slots=True)
class Frame:
    """Every body one sensor saw at one instant: joints [B, J, 3], confidence [B, J], tracks [B]."""

    sensor: str
    seq: int
    t: float
    layout: Layout
    tracks: np.ndarray
    joints: np.ndarray
    confidence: np.ndarray
    fps: float
    t_pub: float = 0.0


def _layout_field(layout: Layout):
    return layout.name if LAYOUTS.get(layout.name) is layout or LAYOUTS.get(layout.name) == layout else list(layout.joints)


def encode_frame(frame: Frame) -> list[bytes]:
    """The four message parts of ``frame``."""
    tracks = frame.tracks.tolist() if isinstance(frame.tracks, np.ndarray) else [int(i) for i in frame.tracks]
    header = {
        "v": WIRE_VERSION, "sensor": frame.sensor, "seq": int(frame.seq), "t": float(frame.t),
        "t_pub": float(frame.t_pub), "fps": float(frame.fps),
        "layout": _layout_field(frame.layout), "tracks": tracks,
    }
    return [FRAME_TOPIC + frame.sensor.encode(), msgpack.packb(header),
            np.ascontiguousarray(frame.joints, _F32).tobytes(),
            np.ascontiguousarray(frame.confidence, _F32).tobytes()]


def _require(header: dict, key: str, types, reason: str = "bad-header"):
    value = header.get(key)
    if not isinstance(value, types) or isinstance(value, bool):
        raise WireError(reason, f"header field {key!r} is {value!r}, expected {types}")
    return value


_NUMBER = (int, float)
_SUM = np.add.reduce


def decode_frame(parts: list[bytes]) -> Frame:
    """Validate and decode a frame message (topic included); WireError says what is wrong.

    This runs for every message every subscriber receives (the engine, the recorder, the app),
    so the checks are written for speed: one type test per field, and one float64 sum for
    "every coordinate and confidence is finite" (exact for float32 input: a float64 sum of
    float32 values cannot overflow, so it is finite exactly when every term is)."""
    if len(parts) != 4:
        raise WireError("bad-parts", f"a frame has 4 parts, got {len(parts)}")
    topic, raw_header, raw_joints, raw_conf = parts
    if not topic.startswith(FRAME_TOPIC):
        raise WireError("bad-topic", f"topic {topic[:40]!r} does not start with {FRAME_TOPIC!r}")
    try:
        header = msgpack.unpackb(raw_header, raw=False, strict_map_key=True)
    except Exception as exc:  # msgpack raises many types on garbage
        raise WireError("bad-header", f"header is not msgpack ({exc})") from None
    if type(header) is not dict:
        raise WireError("bad-header", "header is not a map")
    get = header.get
    if get("v") != WIRE_VERSION or type(get("v")) is not int:
        raise WireError("bad-version", f"schema version {get('v')!r}, expected {WIRE_VERSION}")
    sensor, seq, t, t_pub, fps, tracks = get("sensor"), get("seq"), get("t"), get("t_pub"), get("fps"), get("tracks")
    if type(sensor) is not str:
        _require(header, "sensor", str)
    if topic[len(FRAME_TOPIC):] != sensor.encode():
        raise WireError("bad-topic", f"topic {topic!r} does not match sensor {sensor!r}")
    if type(seq) is not int:
        _require(header, "seq", int)
    if type(t) is not float and type(t) is not int:
        _require(header, "t", _NUMBER)
    if type(t_pub) is not float and type(t_pub) is not int:
        _require(header, "t_pub", _NUMBER)
    if type(fps) is not float and type(fps) is not int:
        _require(header, "fps", _NUMBER)
    t, t_pub, fps = float(t), float(t_pub), float(fps)
    if not (math.isfinite(t) and math.isfinite(t_pub) and math.isfinite(fps) and fps > 0 and seq >= 0):
        raise WireError("bad-header", f"seq {seq}, t {t}, t_pub {t_pub}, fps {fps} out of range")
    if type(tracks) is not list:
        _require(header, "tracks", list)
    if len(tracks) > MAX_BODIES:
        raise WireError("bad-shape", f"{len(tracks)} bodies in one frame, at most {MAX_BODIES}")
    for i in tracks:
        if type(i) is not int or not -2**63 <= i < 2**63:
            raise WireError("bad-header", "tracks must be 64-bit integers")
    if len(set(tracks)) != len(tracks):
        raise WireError("bad-header", f"track ids repeat within one frame: {tracks}")
    layout = LAYOUTS.get(get("layout")) if type(get("layout")) is str else None
    if layout is None:
        try:
            layout = layout_for(_require(header, "layout", (str, list)))
        except (KeyError, ValueError, TypeError) as exc:
            raise WireError("bad-layout", str(exc)) from None
    b, j = len(tracks), len(layout)
    if j == 0:
        raise WireError("bad-layout", "the layout names no joints")
    if len(raw_joints) != b * j * 12 or len(raw_conf) != b * j * 4:
        raise WireError("bad-payload", f"{len(raw_joints)} joint bytes and {len(raw_conf)} "
                        f"confidence bytes do not fit {b} bodies x {j} joints")
    values = np.frombuffer(raw_joints + raw_conf, _F32)  # one copy of ~2 KB, then one check for both
    if not math.isfinite(_SUM(values, dtype=np.float64)):
        raise WireError("non-finite", "joints or confidence hold NaN or inf")
    joints = values[:b * j * 3].reshape(b, j, 3)
    conf = values[b * j * 3:].reshape(b, j)
    return Frame(sensor, seq, t, layout, np.array(tracks, np.int64), joints, conf, fps, t_pub)


RESULT_TOPIC = b"result/"
STATUS_TOPIC = b"status"


def encode_result(sensor: str, t: float, t_pub: float, tracks: list[dict], attention: np.ndarray) -> list[bytes]:
    """The engine's result message for one sensor: topic ``result/<sensor>``, a msgpack header
    (v, sensor, t: the newest frame time used, t_pub: that frame's publish time, t_done: when
    the result was made, tracks: [{track, decision, score, seconds, top: [[name, score], ...],
    and once the track has an action label: action, action_score}])
    and the attention of each track's newest gait window, float32 [K, A, R, C]: SGE-LA's
    alignment matrices per axis [K, 3, f, f], or the cells A3D's glimpses covered [K, 1, f, 20]
    (rows frames, columns the model joints; its rows also carry ``glimpses``: [{frames: [first,
    end], joints: [names]}])."""
    att = np.ascontiguousarray(attention, _F32)
    header = {"v": WIRE_VERSION, "sensor": sensor, "t": float(t), "t_pub": float(t_pub), "t_done": time.time(),
              "tracks": tracks, "attention": list(att.shape)}
    return [RESULT_TOPIC + sensor.encode(), msgpack.packb(header), att.tobytes()]


def decode_result(parts: list[bytes]) -> tuple[dict, np.ndarray]:
    """(header, attention [K, A, R, C]) of a result message; WireError when malformed."""
    if len(parts) != 3 or not parts[0].startswith(RESULT_TOPIC):
        raise WireError("bad-parts", "a result has 3 parts and a result/ topic")
    try:
        header = msgpack.unpackb(parts[1], raw=False, strict_map_key=True)
    except Exception as exc:
        raise WireError("bad-header", f"result header is not msgpack ({exc})") from None
    if not isinstance(header, dict) or header.get("v") != WIRE_VERSION:
        raise WireError("bad-version", "result header is not a version-1 map")
    tracks, shape = header.get("tracks"), header.get("attention")
    if not isinstance(tracks, list) or not all(isinstance(t, dict) and {"track", "decision", "score"} <= set(t)
                                               for t in tracks):
        raise WireError("bad-header", "result tracks must be maps with track, decision, score")
    if not (isinstance(shape, list) and len(shape) == 4 and shape[0] == len(tracks)
            and all(isinstance(n, int) and n >= 0 for n in shape)
            and len(parts[2]) == 4 * int(np.prod(shape))):
        raise WireError("bad-payload", f"attention shape {shape!r} does not fit {len(parts[2])} bytes")
    return header, np.frombuffer(parts[2], _F32).reshape(shape)


def encode_status(status: dict) -> list[bytes]:
    """The engine's status message: topic ``status``, a msgpack map."""
    return [STATUS_TOPIC, msgpack.packb(status | {"v": WIRE_VERSION})]


def decode_status(parts: list[bytes]) -> dict:
    if len(parts) != 2 or parts[0] != STATUS_TOPIC:
        raise WireError("bad-parts", "a status message has 2 parts and the status topic")
    try:
        status = msgpack.unpackb(parts[1], raw=False, strict_map_key=True)
    except Exception as exc:
        raise WireError("bad-header", f"status is not msgpack ({exc})") from None
    if not isinstance(status, dict):
        raise WireError("bad-header", "status is not a map")
    return status
