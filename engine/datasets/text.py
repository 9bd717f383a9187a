"""Helpers shared by the line-based readers: errors that name the file and line."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from engine.sequence import SkeletonDataError


def read_lines(path: Path) -> list[str]:
    """The file's lines without trailing blank ones; an empty file is an error."""
    lines = path.read_text(errors="replace").splitlines()
    while lines and not lines[-1].strip():
        lines.pop()
    if not lines:
        raise SkeletonDataError(f"{path}: empty file")
    return lines


def split_rows(path: Path, lines: list[str], sep: str | None, fields: int, form: str,
               first_line: int = 1) -> list[list[str]]:
    """Split each line on ``sep``; every line must have ``fields`` fields (``form`` shows them)."""
    rows = [ln.split(sep) for ln in lines]
    for n, row in enumerate(rows):
        if len(row) != fields:
            raise SkeletonDataError(f"{path}:{n + first_line}: expected {form!r}, got {lines[n][:60]!r}")
    return rows


def parse_floats(path: Path, lines: list[str], sep: str | None, usecols: tuple[int, ...] | None = None,
                 first_line: int = 1) -> np.ndarray:
    """The numeric columns ``usecols`` of ``lines`` as float64 [N, F]; the first bad value's line is named."""
    try:
        return np.loadtxt(lines, delimiter=sep, usecols=usecols, dtype=np.float64, ndmin=2,
                          comments=None)
    except ValueError:
        for n, line in enumerate(lines):
            fields = line.split(sep)
            for k in usecols if usecols is not None else range(len(fields)):
                try:
                    float(fields[k])
                except (ValueError, IndexError):
                    raise SkeletonDataError(
                        f"{path}:{n + first_line}: not a number in {line[:60]!r}") from None
        raise
