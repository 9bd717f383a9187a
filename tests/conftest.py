"""Shared fixtures. Tests marked ``realdata`` need ../shared/data: they skip with a reason when
it is absent, and fail instead when SKELSTREAM_REQUIRE_DATA=1 (as in CI)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from engine.datasets.cache import archive_path, extract

REPO = Path(__file__).resolve().parents[1]


def _dataset(name: str) -> Path:
    try:
        archive_path(name)
    except FileNotFoundError as exc:
        if os.environ.get("SKELSTREAM_REQUIRE_DATA") == "1":
            pytest.fail(f"real data required (SKELSTREAM_REQUIRE_DATA=1) but missing: {exc}")
        pytest.skip(f"realdata test: ../shared/data archive absent: {exc}")
    return extract(name, progress=False)


@pytest.fixture(scope="session")
def kgbd_root() -> Path:
    return _dataset("kgbd")


@pytest.fixture(scope="session")
def nwucla_root() -> Path:
    return _dataset("nwucla")


@pytest.fixture(scope="session")
def msr_root() -> Path:
    return _dataset("msr_action3d")
