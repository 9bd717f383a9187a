"""Shared fixtures. Tests marked ``realdata`` need ../shared/data: they skip with a reason when
it is absent, and fail instead when SKELSTREAM_REQUIRE_DATA=1 (as in CI)."""

from __future__ import annotations

import os
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
