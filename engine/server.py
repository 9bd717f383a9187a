"""The inference engine (``skelstream engine``): live identities from skeleton streams.

- Subscribes to sensors' frames and republishes them on its own PUB socket (the app needs one
  connection), keeps a `TrackWindows` history per (sensor, track).
- Each track gets a new gait window every ``hop`` seconds. On every frame, all tracks whose
  window just completed are encoded in ONE batch (`prepare_last_windows` + the model, float32;
  CUDA with pinned buffers when present, CPU otherwise). Tracks that appear together are given
  staggered phases, so a hop's windows spread over its frames rather than all landing on one
  (``stagger``; RESULTS.md has the latency either way). Each window's matching feature (whitened when the checkpoint has a
  whitening) is added to the track's running mean; the mean is matched against the gallery
  with the checkpoint's threshold for how long the track has walked. With ``shape`` (default), the
  track's body shape (`engine.shape`, the median over its newest 30 s) ranks people together with
  the gait score; the open-set test stays on the named person's gait score. A new decision replaces
  the shown one only after ``evidence`` consecutive hops agree (no flicker).
- Actions (unless ``action`` is off): at a track's first gait window ``action_hop`` seconds
  after its last action window, its newest ``input.seconds`` of history (the action
  checkpoint's, resampled to its ``input.frames``) is encoded by the action encoder, all such
  tracks of that frame in one batch, right after that frame's results went out (so actions do
  not delay identities); the label, the action whose nearest labelled prototype (`skelstream
  prototypes`) scores best on average over the track's last ``action_smooth`` windows, and that
  mean cosine score, goes out with the track's next result.
- Publishes per sensor a result message (decisions, top-k, action label and score, attention
  of the newest window) and, every second, a status message (rates, latency percentiles,
  drops, batch sizes).
- A REP control socket takes JSON commands: status, list, rename, remove, threshold, and
  enroll (a live track over N seconds; stored in one transaction when complete).
"""

from __future__ import annotations

import bisect
import gc
import json
import time
import traceback
from collections import defaultdict, deque
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import zmq

from engine.bus import DEFAULT_FRAMES, Subscriber, check_address, check_endpoint, stop_signals
from engine.checkpoint import DEFAULT_GAIT, action_fingerprint, check_device, load_prototypes, prototypes_for, read_meta
from engine.embed import ActionLabels, unit, window_features
from engine.gallery import Enrollment, Gallery, GalleryError
from engine.identity import UNKNOWN, cohort_of, identify, open_set_threshold
from engine.models.action import action_view
from engine.models.a3d import glimpse_joints
from engine.models.sge_la import prepare_last_windows, window_options
from engine.runtime import backend_name, is_onnx, load_encoder
from engine.sequence import SkeletonSequence
from engine.shape import ShapeGallery, Shapes, describe_rows, family, frame_lengths
from engine.skeleton import KINECT_V2
from engine.windows import Key, TrackWindows
from engine.wire import encode_result, encode_status

DEFAULT_RESULTS = "tcp://127.0.0.1:5556"
DEFAULT_CONTROL = "tcp://127.0.0.1:5557"


@dataclass
class EngineConfig:
    frames: list[str] = field(default_factory=lambda: [DEFAULT_FRAMES])
    results: str = DEFAULT_RESULTS
    control: str = DEFAULT_CONTROL
    gallery: str = ""
    checkpoint: str | None = None
    device: str = "auto"
    backend: str = "auto"  # auto | torch | onnx (ONNX Runtime; `engine.runtime.resolve_backend`)
    context: float = 4.0  # seconds of history levelled with each window (a track younger than that: 1 s, see infer)
    timeout: float = 2.0  # seconds before a silent track is retired
    evidence: int = 3  # consecutive hops that must agree before a shown decision changes
    top: int = 5
    threshold: float | None = None  # override the checkpoint's calibrated thresholds
    stagger: bool = True  # spread tracks' windows over the frames of a hop (see _track)
    threads: int = 1  # CPU threads of the `skelstream engine` process (more only pays for large batches)
    action: bool = True  # action labels per track (the action checkpoint and its prototypes)
    action_checkpoint: str | None = None  # default: the bundled one
    prototypes: str | None = None  # default: the action checkpoint's own (CHECKPOINT.prototypes.safetensors)
    action_hop: float = 0.5  # seconds between a track's action labels
    action_smooth: int = 3  # a track's label: the best action on average over its last N action windows (1: the newest)
    shape: bool = True  # rank people by gait and body shape together (engine/shape.py)


FIRST_CONTEXT = 1.0  # seconds levelled with a young track's windows (until it has `context` seconds)
SHAPE_FRAMES = 900  # a track's body shape is the median over its newest 30 s (at 30 Hz)
SHAPE_REFRESH = 15  # frames between two descriptors of a track (a body does not change faster)


@dataclass
class _Track:
    history: object = None  # the TrackWindows history this identity was built from
    total: np.ndarray | None = None
    windows: int = 0
    used_t: float = -np.inf
    shown: str = UNKNOWN
    candidate: str = UNKNOWN
    streak: int = 0
    action_t: float = -np.inf  # sensor time of the last action window
    action: str = ""
    action_score: float = 0.0
    action_scores: deque | None = None  # the last `action_smooth` windows' per-action scores
    shape_rows: deque = field(default_factory=lambda: deque(maxlen=SHAPE_FRAMES))  # `frame_lengths` rows
    shape_t: float = -np.inf  # sensor time of the newest frame in shape_rows
    shape: object = None  # the descriptor (`Shapes`) of shape_rows, refreshed every SHAPE_REFRESH rows
    shape_new: int = 0  # rows added since it was made


class Engine:
    """One engine; `run()` until stopped, or `step()` by hand (tests)."""

    def __init__(self, cfg: EngineConfig, context: zmq.Context | None = None):
        self.cfg = cfg
        dev = "cuda" if cfg.device == "auto" and torch.cuda.is_available() else ("cpu" if cfg.device == "auto" else cfg.device)
        self.device = check_device(dev)
        for endpoint in cfg.frames:  # before any file is opened
            check_address(endpoint)
        check_endpoint(cfg.results, False)
        check_endpoint(cfg.control, False)
        # what can be checked without the encoders first: a missing threshold or prototype file is
        # said before any ONNX export
        if cfg.threshold is None and "threshold" not in (read_meta(cfg.checkpoint or DEFAULT_GAIT).get("identity") or {}):
            raise ValueError(f"{cfg.checkpoint or DEFAULT_GAIT}: the gait checkpoint has no calibrated open-set threshold; run "
                             f"`skelstream eval calibrate CHECKPOINT --write`, or start the engine with --threshold")
        if cfg.action:
            if cfg.action_smooth < 1:
                raise ValueError(f"action_smooth must be at least 1 window, got {cfg.action_smooth}")
            self.action_names, protos, labels, proto_info = load_prototypes(
                cfg.prototypes or prototypes_for(cfg.action_checkpoint), action_fingerprint(cfg.action_checkpoint))
        self.model, self.meta = load_encoder("gait", cfg.checkpoint, cfg.backend, str(self.device), cfg.threads)
        self.input_device = self._input_device(self.model)
        self.backend = backend_name(self.model)
        # float32 throughout: the whitened features live in small differences from the mean
        # encoding, and bfloat16 (or TF32) rounding wipes them out (cosine 0.43 between a
        # window's fp32 and bf16 features on KGBD)
        torch.backends.cuda.matmul.allow_tf32 = False
        self.f = int(self.meta["input"]["window"])
        self.fps = float(self.meta["input"].get("fps", 30.0))
        self.options = window_options(self.meta["input"])
        self.n_first = max(1, round(min(FIRST_CONTEXT, cfg.context) * self.fps / self.f)) * self.f
        self.n_ctx = max(self.n_first, round(cfg.context * self.fps / self.f) * self.f)
        self.hop = self.f / self.fps
        self.action_model = None
        if cfg.action:
            self.action_model, self.action_meta = load_encoder("action", cfg.action_checkpoint, cfg.backend,
                                                               str(self.device), cfg.threads)
            self.action_device = self._input_device(self.action_model)
            basis = proto_info["basis"]
            width = len(basis) if basis is not None else protos.shape[1]
            dim = int(self.action_model.dim)
            if width != dim:
                raise ValueError(f"{cfg.prototypes or prototypes_for(cfg.action_checkpoint)}: prototypes of {width} values, "
                                 f"the action checkpoint gives {dim}; rebuild them with `skelstream prototypes "
                                 f"--checkpoint ...`")
            self.action_labels = ActionLabels(self.action_names, protos, labels, basis)
            self.action_frames = int(self.action_meta["input"]["frames"])
            self.action_fps = (self.action_frames - 1) / float(self.action_meta["input"]["seconds"])
        self.gallery = Gallery(cfg.gallery)
        self._reload_gallery()
        ctx = context or zmq.Context.instance()
        self.sub = Subscriber(cfg.frames, context=ctx)
        self.pub = ctx.socket(zmq.PUB)
        self.pub.setsockopt(zmq.SNDHWM, 1000)
        self.pub.setsockopt(zmq.LINGER, 0)
        self.rep = ctx.socket(zmq.REP)
        self.rep.setsockopt(zmq.LINGER, 0)
        for sock, endpoint in ((self.pub, cfg.results), (self.rep, cfg.control)):
            try:
                sock.bind(endpoint)
            except zmq.ZMQError as exc:
                self.close()
                raise OSError(f"cannot bind {endpoint}: {exc}") from None
        history = max(4.0, cfg.context + 1.0, float(self.action_meta["input"]["seconds"]) + 1.0 if cfg.action else 0.0)
        self.windows = TrackWindows(history=history, timeout=cfg.timeout)
        self.tracks: dict[Key, _Track] = {}
        self.enrolling: dict[Key, dict] = {}
        self.t_pub: dict[str, float] = {}
        self.latency: deque = deque(maxlen=2000)
        self.batches: deque = deque(maxlen=200)
        self.counts = defaultdict(int)
        self.next_status = time.monotonic()
        # the ~170,000 objects of torch, the models and the app code live for ever: out of the
        # collector's sight, a full collection takes microseconds instead of an 80 ms pause
        gc.collect()
        gc.freeze()

    def _reload_gallery(self) -> None:
        self.names, self.embeddings = self.gallery.embeddings(self.meta["fingerprint"])
        shapes = self.gallery.shapes(self.meta["fingerprint"])
        self.shapes = (ShapeGallery(shapes, self.names) if self.cfg.shape and np.isfinite(shapes.values).any()
                       else None)
        self.people = len(set(self.names))
        self.cohort = cohort_of(self.meta, self.names, self.embeddings)

    def close(self) -> None:
        self.sub.close()
        self.pub.close(linger=0)
        self.rep.close(linger=0)
        self.gallery.close()

    # --- the loop ----------------------------------------------------------------------
    def run(self, stop=None) -> None:
        """Serve until Ctrl-C, SIGTERM or ``stop`` (a threading.Event) is set."""
        with stop_signals(stop) as stopping:
            while not stopping.is_set():
                try:
                    self.step()
                except Exception:  # a bug must not end the service: said, counted (status "step_errors")
                    self.counts["step_errors"] += 1
                    print(f"engine: error in step {self.counts['step_errors']}:\n{traceback.format_exc()}", flush=True)
                    if self.counts["step_errors"] > 1000:
                        raise
        self.close()

    def step(self, wait: float = 0.05) -> None:
        """Take every frame that arrived (waiting up to ``wait`` s for the first), answer control
        requests, then encode the tracks whose next window is complete: a result follows the
        frame that completes a window at once."""
        got = self.sub.recv_parts(timeout=wait)
        while got is not None:
            parts, frame = got
            self.windows.add(frame, time.monotonic())
            self.t_pub[frame.sensor] = frame.t_pub
            self._send(parts)  # the app draws the frames the engine saw
            got = self.sub.recv_parts(timeout=0)
        drained = time.monotonic()  # every frame that arrived before this instant has been read
        while self.rep.poll(0, zmq.POLLIN):
            self._control()
        self.infer()
        # silence is judged at the drain, not after inference: a slow batch must not retire the
        # tracks whose frames are waiting in the queue (a loaded machine lost live tracks so)
        gone = self.windows.retire(drained)
        for key in gone:
            self.tracks.pop(key, None)
            self.enrolling.pop(key, None)
        if gone:  # forget sensors with no live track left (memory stays bounded whatever sensors come and go)
            live = {k[0] for k in self.windows.tracks}
            for sensor in {k[0] for k in gone} - live:
                self.t_pub.pop(sensor, None)
        now = time.monotonic()
        if now >= self.next_status:
            self.next_status = now + 1.0
            self._send(encode_status(self.status()))

    def _send(self, parts: list[bytes]) -> None:
        try:
            self.pub.send_multipart(parts, flags=zmq.NOBLOCK)
        except zmq.Again:
            self.counts["results_dropped"] += 1

    @torch.inference_mode()
    def infer(self) -> None:
        """Encode every track's new window in one batch; update identities; publish results."""
        due = [k for k, h in self.windows.tracks.items() if h.times[-1] >= self._track(k).used_t + self.hop - 1e-6]
        if not due:
            return
        # each window is levelled (made upright) over the track's last `context` seconds, like a
        # whole enrolled walk is; a track younger than that over its first second, so it gets
        # a decision after one second (two groups of the batch, one model call)
        full = (self.n_ctx - 1) / self.fps - 1e-6
        groups: dict[int, list[Key]] = {self.n_ctx: [], self.n_first: []}
        for k in due:
            groups[self.n_ctx if self.windows.span(k) >= full else self.n_first].append(k)
        keys, xs = [], []
        for n, group in groups.items():
            if group:
                got, joints, conf = self.windows.ready(self.fps, n, among=group)
                if got:
                    keys += got
                    xs.append(prepare_last_windows(joints, conf, self.f, **self.options))
        if not keys:
            return
        x = xs[0] if len(xs) == 1 else np.concatenate(xs)
        batch = torch.from_numpy(x)
        if self.input_device.type == "cuda":
            batch = batch.pin_memory().to(self.device, non_blocking=True)
        out = self.model.encode(batch)
        feats = window_features(self.model, out["sequence"].float().cpu().numpy())
        # SGE-LA: [K, 3, f, f] per-axis alignments; A3D: [K, 1, f, 20] the cells its glimpses covered
        att = out["attention"].float().cpu().numpy().transpose(1, 0, 2, 3)
        glimpses = out["glimpses"].cpu().numpy() if "glimpses" in out else None
        self.batches.append(len(keys))
        self.counts["windows"] += len(keys)
        by_sensor: dict[str, list] = defaultdict(list)
        for i, key in enumerate(keys):
            tr = self._track(key)
            # the next window is due a whole number of hops after the last one was: a stall (a
            # loaded machine) must not move every track's phase onto the frame that ended it, or
            # the tracks stay in lockstep, one batch per hop, ever after (the 60-minute soak
            # found p50 stuck at 40 ms after a stall at minute 10)
            late = self.windows.tracks[key].times[-1] - tr.used_t
            tr.used_t += max(1, int(late / self.hop + 1e-6)) * self.hop
            tr.total = feats[i] if tr.total is None else tr.total + feats[i]
            tr.windows += 1
            if self.cfg.shape:
                self._shape_frames(tr, self.windows.tracks[key])
            seconds = tr.windows * self.hop
            self._enrollment(key, feats[i])
            match = self._decide(tr, seconds)
            row = {"track": key[1], "decision": tr.shown, "score": round(match.score, 4), "cue": match.cue,
                   "seconds": round(seconds, 2),
                   "top": [[n, round(s, 4)] for n, s in match.top]}
            if tr.action:
                row |= {"action": tr.action, "action_score": round(tr.action_score, 4)}
            if glimpses is not None:  # A3D: where it looked, in frames of the window and joint names
                row["glimpses"] = [{"frames": [int(f.start), int(f.stop)], "joints": joints}
                                   for f, joints in (glimpse_joints(self.model.config, g) for g in glimpses[i])]
            by_sensor[key[0]].append((i, row))
        for sensor, rows in by_sensor.items():
            t = max(self.windows.tracks[(sensor, r["track"])].times[-1] for _, r in rows)
            self._send(encode_result(sensor, t, self.t_pub.get(sensor, 0.0), [r for _, r in rows],
                                     att[[i for i, _ in rows]]))
            lat = time.time() - self.t_pub.get(sensor, 0.0)
            if abs(lat) < 3600:  # a sensor without (or with a wrong) publish clock says nothing of latency
                self.latency.append(lat)
        if self.action_model is not None:  # after the results went out: off the identities' latency
            self._actions(keys)

    def _actions(self, keys: list[Key]) -> None:
        """Label the tracks among ``keys`` whose last action window is ``action_hop`` old, in one
        batch: the action whose nearest prototype scores best on average over each track's last
        ``action_smooth`` windows (`engine.embed.ActionLabels`)."""
        due = [k for k in keys if self.windows.tracks[k].times[-1] >= self.tracks[k].action_t + self.cfg.action_hop - 1e-6]
        got, joints, conf = self.windows.ready(self.action_fps, self.action_frames, among=due)
        if not got:
            return
        x = np.stack([action_view(j, c) for j, c in zip(joints, conf)])
        batch = torch.from_numpy(x).to(self.action_device)
        scores = self.action_labels.scores(unit(self.action_model(batch).float().cpu().numpy()))
        for i, key in enumerate(got):
            tr = self.tracks[key]
            tr.action_t = self.windows.tracks[key].times[-1]
            if tr.action_scores is None:
                tr.action_scores = deque(maxlen=self.cfg.action_smooth)
            tr.action_scores.append(scores[i])
            tr.action, tr.action_score = self.action_labels.label(tr.action_scores)
        self.counts["action_windows"] += len(got)

    def _input_device(self, model) -> torch.device:
        """Where an encoder's input goes: the host for ONNX Runtime (it takes host arrays), else
        the engine's device (a fallback of ``--backend auto`` may run either)."""
        return torch.device("cpu") if is_onnx(model) else self.device

    def _track(self, key: Key) -> _Track:
        history = self.windows.tracks[key]
        if key not in self.tracks or self.tracks[key].history is not history:
            # new, or its history was reset (a reused id). Tracks that appear together would all
            # complete their windows on the same frame; each gets a phase (0..f-1 frames, in
            # turn) so the hop's windows spread over its frames: smaller batches, lower latency
            phase = self.counts["tracks_seen"] % self.f if self.cfg.stagger else 0
            self.counts["tracks_seen"] += 1
            first = history.times[0] + (self.n_first - 1 + phase) / self.fps
            self.tracks[key] = _Track(history=history, used_t=first - self.hop)
        return self.tracks[key]

    def _decide(self, tr: _Track, seconds: float):
        threshold = (self.cfg.threshold if self.cfg.threshold is not None
                     else open_set_threshold(self.meta, seconds, self.people, self.cohort))
        shape = self._shape(tr) if self.shapes is not None else None
        match = identify(unit(tr.total), self.names, self.embeddings, threshold, self.cfg.top, shape, self.shapes)
        if match.decision == tr.candidate:
            tr.streak += 1
        else:
            tr.candidate, tr.streak = match.decision, 1
        if tr.streak >= self.cfg.evidence or (tr.shown == UNKNOWN and tr.windows <= 1):
            tr.shown = tr.candidate
        return match

    @staticmethod
    def _shape(tr: _Track) -> Shapes | None:
        """The track's body shape (its newest `SHAPE_FRAMES` frames), None before any."""
        if tr.shape_rows and (tr.shape is None or tr.shape_new >= SHAPE_REFRESH):
            tr.shape = Shapes.one(describe_rows(np.asarray(tr.shape_rows)), family(tr.history.layout))
            tr.shape_new = 0
        return tr.shape

    @staticmethod
    def _shape_frames(tr: _Track, history) -> None:
        """Add the body-shape rows of the history's frames newer than the track's last."""
        new = len(history.times) - bisect.bisect_right(history.times, tr.shape_t)
        if new:
            tr.shape_rows.extend(frame_lengths(history.joints[-new:], history.confidence[-new:]))
            tr.shape_t = history.times[-1]
            tr.shape_new += new

    # --- enrollment and control --------------------------------------------------------
    def _enrollment(self, key: Key, feat: np.ndarray) -> None:
        job = self.enrolling.get(key)
        if job is None:
            return
        job["feats"].append(feat)
        if len(job["feats"]) * self.hop < job["seconds"]:
            return
        del self.enrolling[key]
        tr = self.windows.tracks[key]
        skeleton = SkeletonSequence(tr.joints.copy(), tr.confidence.copy(), np.asarray(tr.times),  # the buffers move on
                                    KINECT_V2, self.fps, {"source": f"live:{key[0]}/{key[1]}"})
        try:
            shape = self._shape(self.tracks[key])
            self.gallery.enroll(job["name"], [Enrollment(unit(np.mean(job["feats"], 0)), f"live:{key[0]}/{key[1]}",
                                                         skeleton, shape)], self.meta["name"], self.meta["fingerprint"])
            self.counts["enrolled"] += 1
            self._reload_gallery()
        except GalleryError as exc:
            self.counts["enroll_failed"] += 1
            print(f"engine: enrollment of {job['name']!r} failed: {exc}", flush=True)

    def _control(self) -> None:
        try:
            req = json.loads(self.rep.recv())
            if not isinstance(req, dict):
                raise ValueError("a request is a JSON object")
            reply = self._handle(req)
        except (ValueError, KeyError, TypeError, GalleryError) as exc:
            self.counts["control_errors"] += 1
            reply = {"ok": False, "error": str(exc)}
        self.rep.send(json.dumps(reply).encode())

    def _handle(self, req: dict) -> dict:
        cmd = req.get("cmd")
        if cmd == "status":
            return {"ok": True, **self.status()}
        if cmd == "list":
            return {"ok": True, "people": [{"name": p.name, "enrollments": p.enrollments} for p in self.gallery.people()]}
        if cmd == "rename":
            self.gallery.rename(str(req["old"]), str(req["new"]))
        elif cmd == "remove":
            self.gallery.remove(str(req["name"]))
        elif cmd == "export":
            path = self.gallery.export(str(req["path"]))
            return {"ok": True, "path": str(path)}
        elif cmd == "threshold":
            self.cfg.threshold = None if req.get("value") is None else float(req["value"])
        elif cmd == "enroll":
            key = (str(req["sensor"]), int(req["track"]))
            if key not in self.windows.tracks:
                raise ValueError(f"no live track {key[1]} on sensor {key[0]!r}")
            name = str(req["name"]).strip()
            if not name:
                raise ValueError("enroll needs a name")
            self.enrolling[key] = {"name": name, "seconds": float(req.get("seconds", 5.0)), "feats": []}
        else:
            raise ValueError(f"unknown command {cmd!r}; known: status, list, rename, remove, export, threshold, enroll")
        self._reload_gallery()
        return {"ok": True}

    def status(self) -> dict:
        lat = np.asarray(self.latency) * 1e3 if self.latency else np.zeros(1)
        stats = self.sub.stats
        return {"device": str(self.device), "backend": self.backend, "checkpoint": self.meta["name"], "hop": self.hop,
                "action_checkpoint": self.action_meta["name"] if self.action_model is not None else None,
                "action_backend": backend_name(self.action_model) if self.action_model is not None else None,
                "action_windows": self.counts["action_windows"],
                "tracks": len(self.windows.tracks),
                "frames": stats.received, "missing": stats.gaps, "rejected": dict(stats.rejected),
                "resets": self.windows.counts["resets"], "retired": self.windows.counts["retired"],
                "windows": self.counts["windows"], "enrolling": len(self.enrolling),
                "people": self.people, "cohort": self.cohort.to_dict() if self.cohort else None,
                "shape": self.shapes is not None,
                "latency_ms_p50": float(np.percentile(lat, 50)),
                "latency_ms_p99": float(np.percentile(lat, 99)),
                "batch_mean": float(np.mean(self.batches)) if self.batches else 0.0,
                "results_dropped": self.counts["results_dropped"], "step_errors": self.counts["step_errors"]}


def serve(cfg: EngineConfig) -> None:
    if cfg.threads > 0:  # the engine's own process: one thread for small CPU batches (see RESULTS)
        torch.set_num_threads(cfg.threads)
    engine = Engine(cfg)
    actions = (f"; actions {engine.action_meta['name']} ({backend_name(engine.action_model)}; {len(engine.action_names)} actions, "
               f"{len(engine.action_labels.prototypes)} prototypes; "
               + (f"labels averaged over {cfg.action_smooth} windows)" if cfg.action_smooth > 1 else "labels per window)")
               if engine.action_model is not None else "; actions off")
    print(f"engine: {engine.meta['name']}{actions} on {engine.device}, {engine.backend}; frames from {', '.join(cfg.frames)}; results on "
          f"{cfg.results}; control on {cfg.control}; gallery {Path(cfg.gallery)} ({engine.people} people)",
          flush=True)
    engine.run()
