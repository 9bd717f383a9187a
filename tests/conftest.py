"""Shared fixtures. Tests marked ``realdata`` need ../shared/data: they skip with a reason when
it is absent, and fail instead when SKELSTREAM_REQUIRE_DATA=1 (as in CI)."""

from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path

import pytest

from engine.datasets.cache import archive_path, extract, shared_data_dir

REPO = Path(__file__).resolve().parents[1]


def _missing(exc: Exception) -> None:
    if os.environ.get("SKELSTREAM_REQUIRE_DATA") == "1":
        pytest.fail(f"real data required (SKELSTREAM_REQUIRE_DATA=1) but missing: {exc}")
    pytest.skip(f"realdata test: ../shared/data file absent: {exc}")


def _dataset(name: str) -> Path:
    try:
        archive_path(name)
    except FileNotFoundError as exc:
        _missing(exc)
    return extract(name, progress=False)


@pytest.fixture(scope="session")
def walk_video() -> Path:
    """The shared video of people walking (sports2d_walk_demo.mp4)."""
    path = shared_data_dir() / "sports2d_walk_demo.mp4"
    if not path.is_file():
        _missing(FileNotFoundError(f"{path}: video not found"))
    return path


@pytest.fixture(scope="session")
def kgbd_root() -> Path:
    return _dataset("kgbd")


@pytest.fixture(scope="session")
def nwucla_root() -> Path:
    return _dataset("nwucla")


@pytest.fixture(scope="session")
def msr_root() -> Path:
    return _dataset("msr_action3d")


@pytest.fixture(scope="session")
def onnx_cache(tmp_path_factory) -> Path:
    """The bundled gait and action checkpoints exported to ONNX once per session, in a folder the
    engine's ``--backend onnx`` reads ($SKELSTREAM_ONNX_CACHE for the session)."""
    from engine.checkpoint import DEFAULT_ACTION, DEFAULT_GAIT
    from engine.runtime import cached_onnx, export_onnx, load_model
    folder = tmp_path_factory.mktemp("onnx")
    old = os.environ.get("SKELSTREAM_ONNX_CACHE")
    prints = {base: load_model(base)[2]["fingerprint"] for base in (DEFAULT_GAIT, DEFAULT_ACTION)}
    user = {base: cached_onnx(base, fp) for base, fp in prints.items()}
    os.environ["SKELSTREAM_ONNX_CACHE"] = str(folder)
    for base, made in user.items():  # where `engine.runtime.onnx_file` looks for them
        path = cached_onnx(base, prints[base])
        if made.is_file():  # `make setup` exported them (same weights, same export form): a copy
            shutil.copy(made, path)
        else:
            export_onnx(base, path, check=False)
    yield folder
    if old is None:
        os.environ.pop("SKELSTREAM_ONNX_CACHE", None)
    else:
        os.environ["SKELSTREAM_ONNX_CACHE"] = old


@contextlib.contextmanager
def live_engine(tmp_path: Path, paths: list, speed: float, topics: tuple[bytes, ...] = (b"result/",),
                action: bool = True, checkpoint: str | None = None, threshold: float | None = None,
                backend: str = "torch", action_smooth: int = 3):
    """A real `Engine` in a thread on ipc sockets (gallery in ``tmp_path``; action labels when
    ``action``, averaged over ``action_smooth`` windows; the gait ``checkpoint``, default the bundled one, and a fixed ``threshold``), a subscriber to its ``topics``, and a replay of ``paths`` as one sensor with a
    track each (track i = paths[i]) being published at ``speed``. Yields (subscriber, sender
    thread); stops it all at exit."""
    import threading
    import time

    import zmq

    from engine.bus import Publisher, publish
    from engine.sensors.replay import replay_timeline
    from engine.server import Engine, EngineConfig

    ep = {k: f"ipc://{tmp_path}/{k}.ipc" for k in ("frames", "results", "control")}
    engine = Engine(EngineConfig(frames=[ep["frames"]], results=ep["results"], control=ep["control"],
                                 gallery=str(tmp_path / "g.db"), action=action, checkpoint=checkpoint,
                                 threshold=threshold, backend=backend, action_smooth=action_smooth))
    stop = threading.Event()
    runner = threading.Thread(target=engine.run, args=(stop,))
    runner.start()
    sub = zmq.Context.instance().socket(zmq.SUB)
    for topic in topics:
        sub.setsockopt(zmq.SUBSCRIBE, topic)
    sub.connect(ep["results"])
    pub = Publisher(ep["frames"])
    sender = threading.Thread(target=publish, args=(replay_timeline(paths, bodies=True), pub, speed, False))
    try:
        assert pub.wait_for_subscribers(1, timeout=10)
        time.sleep(0.3)
        sender.start()
        yield sub, sender
    finally:
        if sender.is_alive():
            sender.join()
        stop.set()
        runner.join(10)
        sub.close(0)
