"""Argument types of the command line that refuse what makes no sense, with the reason
(argparse then says ``argument --top: must be at least 1, got -1``)."""

from __future__ import annotations

import argparse
import math


def at_least(low: float, kind=float):
    """A number of ``kind`` not under ``low``."""
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a{'n integer' if kind is int else ' number'}, got {text!r}") from None
        if not (math.isfinite(value) and value >= low):
            raise argparse.ArgumentTypeError(f"must be at least {low:g}, got {text}")
        return value
    parse.__name__ = kind.__name__  # argparse names the type in its messages
    return parse


def cosine(text: str) -> float:
    """A cosine similarity threshold: a finite number in [-1, 1]."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not -1.0 <= value <= 1.0:  # NaN fails too
        raise argparse.ArgumentTypeError(f"a cosine threshold lies in [-1, 1], got {text}")
    return value
