"""Recording files: timestamped skeleton frames of one or more sensors, in MCAP.

Layout of a skelstream MCAP file (profile ``skelstream``):
- one channel per sensor, topic ``frame/<sensor>`` (the wire topic), message encoding
  ``skelstream.frame.v1``, channel metadata ``meta`` (JSON: subject, action, ... of the sensor);
- each message's data is a msgpack array of the frame's wire parts 1..3 (header, joints,
  confidence) byte for byte, its log time the frame's time in nanoseconds (sensor time for
  converted files, receive time for live recordings).

Chunks are small (64 KiB) and compressed with zstd; a file cut off mid-write is read up to
its last complete chunk, with a warning.
"""

from __future__ import annotations

import heapq
import json
import warnings
from collections import defaultdict
from pathlib import Path
from typing import Iterable, Iterator

import msgpack
import numpy as np
from mcap.exceptions import McapError
from mcap.reader import SeekingReader
from mcap.records import Channel, Message
from mcap.stream_reader import StreamReader
from mcap.writer import CompressionType, Writer

from engine.sequence import SkeletonDataError, SkeletonSequence
from engine.wire import FRAME_TOPIC, Frame, WireError, decode_frame, encode_frame

ENCODING = "skelstream.frame.v1"
PROFILE = "skelstream"
CHUNK_SIZE = 64 * 1024


class TruncatedRecordingWarning(UserWarning):
    """The recording has no valid summary (cut off mid-write); read up to its last whole chunk."""


def _ns(seconds: float, where: str) -> int:
    if not seconds >= 0:
        raise SkeletonDataError(f"{where}: recordings need times >= 0 s, got {seconds!r}")
    return round(seconds * 1e9)


class RecordingWriter:
    """Write frames to an MCAP recording; use as a context manager so the file is closed."""

    def __init__(self, path: str | Path, chunk_size: int = CHUNK_SIZE):
        self.path = Path(path)
        self._file = open(self.path, "wb")
        self._writer = Writer(self._file, chunk_size=chunk_size, compression=CompressionType.ZSTD)
        self._writer.start(profile=PROFILE, library="skelstream")
        self._channels: dict[str, int] = {}

    def add_sensor(self, sensor: str, meta: dict[str, str] | None = None,
                   tracks: dict[int, dict[str, str]] | None = None) -> None:
        """Declare a sensor with its metadata (subject, action, ...) and per-track metadata;
        optional before writing."""
        if sensor in self._channels:
            raise ValueError(f"{self.path}: sensor {sensor!r} added twice")
        self._channels[sensor] = self._writer.register_channel(
            topic=(FRAME_TOPIC + sensor.encode()).decode(), message_encoding=ENCODING,
            schema_id=0, metadata={"meta": json.dumps(meta or {}, sort_keys=True),
                                   "tracks": json.dumps(tracks or {}, sort_keys=True)})

    def write(self, parts: list[bytes], log_time: float | None = None) -> Frame:
        """Store one wire message (4 parts) as published; ``log_time`` defaults to the frame's t.

        The message is validated first (WireError); returns the decoded frame.
        """
        frame = decode_frame(parts)
        if frame.sensor not in self._channels:
            self.add_sensor(frame.sensor)
        t = frame.t if log_time is None else log_time
        self._writer.add_message(self._channels[frame.sensor], log_time=_ns(t, str(self.path)),
                                 data=msgpack.packb(list(parts[1:])),
                                 publish_time=_ns(max(frame.t_pub, 0.0), str(self.path)),
                                 sequence=frame.seq & 0xFFFFFFFF)
        return frame

    def write_frame(self, frame: Frame, log_time: float | None = None) -> None:
        """Encode and store ``frame``."""
        self.write(encode_frame(frame), log_time)

    def close(self) -> None:
        """Write the summary and close the file."""
        if not self._file.closed:
            self._writer.finish()
            self._file.close()

    def __enter__(self) -> "RecordingWriter":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def write_sequences(path: str | Path, groups: dict[str, list[SkeletonSequence]]) -> None:
    """Write sequences as a recording: one sensor per key, each sequence one body (track).

    Bodies of one sensor seen at the same timestamp share a frame; sensors are interleaved in
    time order. Tracks are numbered 0.. in list order. Metadata all sequences of a sensor share
    is the sensor's; the rest is stored per track.
    """
    with RecordingWriter(path) as writer:
        streams = []
        for sensor, seqs in groups.items():
            if len({s.layout.joints for s in seqs}) != 1:
                raise SkeletonDataError(f"{path}: sensor {sensor!r} mixes joint layouts")
            common = {k: v for k, v in seqs[0].meta.items()
                      if all(s.meta.get(k) == v for s in seqs)}
            writer.add_sensor(sensor, common, {i: {k: v for k, v in s.meta.items() if k not in common}
                                               for i, s in enumerate(seqs)})
            streams.append(sequence_frames(sensor, seqs))
        for frame in heapq.merge(*streams, key=lambda f: f.t):
            writer.write_frame(frame)


def sequence_frames(sensor: str, seqs: list[SkeletonSequence]) -> Iterator[Frame]:
    """Frames of one sensor from its bodies' sequences (track i = seqs[i]), in time order."""
    times = np.unique(np.concatenate([s.timestamps for s in seqs]))
    positions = [np.searchsorted(s.timestamps, times) for s in seqs]
    for k, t in enumerate(times):
        present = [(i, s, p[k]) for i, (s, p) in enumerate(zip(seqs, positions))
                   if p[k] < len(s) and s.timestamps[p[k]] == t]
        yield Frame(sensor, k, float(t), seqs[0].layout,
                    np.array([i for i, _, _ in present], np.int64),
                    np.stack([s.joints[j] for _, s, j in present]),
                    np.stack([s.confidence[j] for _, s, j in present]),
                    seqs[0].fps)


def decode_recorded(path: Path, log_time: float, parts: list[bytes]) -> Frame:
    """Decode a stored message; a damaged one raises SkeletonDataError naming file and time."""
    try:
        return decode_frame(parts)
    except WireError as exc:
        raise SkeletonDataError(f"{path}: frame at {log_time:.6f} s: {exc}") from None


class Recording:
    """Read a recording: its sensors, frames (with seek by time) and per-track sequences."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        if not self.path.is_file():
            raise FileNotFoundError(f"{self.path}: no such recording")
        self._file = open(self.path, "rb")
        self._salvaged: list[tuple[Channel, Message]] | None = None
        self._channels: dict[int, Channel] = {}
        try:
            self._reader = SeekingReader(self._file)
            summary = self._reader.get_summary()
            if summary is None or summary.statistics is None:
                raise McapError("no summary statistics")
            self._channels = dict(summary.channels)
            self._stats = summary.statistics
        except (McapError, ValueError, EOFError, KeyError) as exc:
            try:
                self._salvage(exc)
            except SkeletonDataError:
                self._file.close()
                raise
        ours = [c for c in self._channels.values() if c.message_encoding == ENCODING]
        self.sensors: dict[str, dict[str, str]] = {
            c.topic[len(FRAME_TOPIC):]: json.loads(c.metadata.get("meta", "{}")) for c in ours}
        self._track_meta: dict[tuple[str, int], dict[str, str]] = {
            (c.topic[len(FRAME_TOPIC):], int(k)): v
            for c in ours for k, v in json.loads(c.metadata.get("tracks", "{}")).items()}
        if not self.sensors and self.frame_count() == 0:
            raise SkeletonDataError(f"{self.path}: recording holds no skeleton frames")

    def _salvage(self, cause: Exception) -> None:
        """Read records one by one up to the first damaged one (a cut-off file)."""
        self._file.seek(0)
        kept: list[tuple[Channel, Message]] = []
        try:
            for record in StreamReader(self._file).records:
                if isinstance(record, Channel):
                    self._channels[record.id] = record
                elif isinstance(record, Message) and record.channel_id in self._channels:
                    kept.append((self._channels[record.channel_id], record))
        except Exception as exc:  # any damage ends the readable part
            if not kept and not self._channels:
                raise SkeletonDataError(f"{self.path}: not a readable MCAP recording ("
                                        f"{exc or ('empty file' if self.path.stat().st_size == 0 else type(exc).__name__)})") from None
        self._salvaged = sorted(kept, key=lambda cm: cm[1].log_time)
        warnings.warn(f"{self.path}: recording is incomplete ({cause}); read {len(kept)} frames "
                      f"up to its last complete chunk", TruncatedRecordingWarning, stacklevel=3)

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> "Recording":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def truncated(self) -> bool:
        """True when the file was cut off and only its complete chunks were read."""
        return self._salvaged is not None

    def _time_range_ns(self) -> tuple[int, int]:
        if self._salvaged is None:
            return self._stats.message_start_time, self._stats.message_end_time
        if not self._salvaged:
            return 0, 0
        return self._salvaged[0][1].log_time, self._salvaged[-1][1].log_time

    @property
    def start(self) -> float:
        """Log time of the first frame, seconds."""
        return self._time_range_ns()[0] / 1e9

    @property
    def duration(self) -> float:
        """Seconds from the first to the last frame's log time."""
        a, b = self._time_range_ns()
        return (b - a) / 1e9

    def frame_count(self, sensor: str | None = None) -> int:
        """Number of frames, of one sensor or of all."""
        ids = [i for i, c in self._channels.items()
               if sensor is None or c.topic == (FRAME_TOPIC + sensor.encode()).decode()]
        if self._salvaged is not None:
            return sum(1 for c, _ in self._salvaged if c.id in ids)
        return sum(self._stats.channel_message_counts.get(i, 0) for i in ids)

    def messages(self, start: float | None = None, end: float | None = None,
                 sensors: Iterable[str] | None = None) -> Iterator[tuple[float, list[bytes]]]:
        """Raw wire messages ``(log time s, [topic, header, joints, conf])`` in log-time order.

        ``start``/``end`` are seconds from the start of the recording (seek by time; end
        exclusive); ``sensors`` restricts to some sensors.
        """
        base = self._time_range_ns()[0]
        lo = None if start is None else base + round(start * 1e9)
        hi = None if end is None else base + round(end * 1e9)
        topics = None if sensors is None else [(FRAME_TOPIC + s.encode()).decode() for s in sensors]
        if self._salvaged is None:
            items = ((c, m) for _, c, m in self._reader.iter_messages(
                topics=topics, starting_at=lo, ending_before=hi))
        else:
            items = ((c, m) for c, m in self._salvaged
                     if (topics is None or c.topic in topics)
                     and (lo is None or m.log_time >= lo) and (hi is None or m.log_time < hi))
        for channel, message in items:
            if channel.message_encoding != ENCODING:
                continue
            parts = msgpack.unpackb(message.data, raw=False)
            yield message.log_time / 1e9, [channel.topic.encode(), *parts]

    def frames(self, start: float | None = None, end: float | None = None,
               sensors: Iterable[str] | None = None) -> Iterator[Frame]:
        """Decoded frames; arguments as for `messages`. A damaged message raises SkeletonDataError."""
        for log_time, parts in self.messages(start, end, sensors):
            yield decode_recorded(self.path, log_time, parts)

    def sequences(self) -> list[SkeletonSequence]:
        """One SkeletonSequence per (sensor, track), in sensor then track order.

        Metadata is the sensor's and the track's, plus ``sensor`` and ``track``. When a
        sensor's clock went backwards (its publisher restarted during a live recording), each
        run of increasing times is a sequence of its own, numbered in ``part``.
        """
        bodies: dict[tuple[str, int], list] = defaultdict(list)
        layouts, rates = {}, {}
        for f in self.frames():
            layouts.setdefault(f.sensor, f.layout)
            rates.setdefault(f.sensor, f.fps)
            for b, track in enumerate(f.tracks):
                bodies[f.sensor, int(track)].append((f.t, f.joints[b], f.confidence[b]))
        out = []
        for (sensor, track), rows in sorted(bodies.items()):
            meta = self.sensors.get(sensor, {}) | self._track_meta.get((sensor, track), {})
            meta |= {"sensor": sensor, "track": str(track)}
            meta.setdefault("source", str(self.path))
            times = np.array([r[0] for r in rows])
            cuts = [0, *(np.flatnonzero(np.diff(times) <= 0) + 1), len(rows)]
            for part, (a, b) in enumerate(zip(cuts[:-1], cuts[1:])):
                out.append(SkeletonSequence(
                    np.stack([r[1] for r in rows[a:b]]), np.stack([r[2] for r in rows[a:b]]), times[a:b],
                    layouts[sensor], rates[sensor], meta | ({"part": str(part)} if len(cuts) > 2 else {})))
        return out
