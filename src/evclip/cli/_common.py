"""Options and helpers shared by the command modules (kept light: no torch, no numba)."""

from __future__ import annotations

import argparse
import math
import os
from collections.abc import Iterator

MAX_DEFAULT_WORKERS = 8


def positive_number(text: str) -> float:
    """argparse type: a finite number above zero (frame rates)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text}")
    return value


def at_least_one(text: str) -> int:
    """argparse type: a whole number of at least 1 (counts of frames, workers...)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {text}")
    return value


def default_workers() -> int:
    """Worker processes when ``--workers`` is not given: one per usable core, at most 8."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not on Linux
        cores = os.cpu_count() or 1
    return max(1, min(cores, MAX_DEFAULT_WORKERS))


def add_workers_option(parser: argparse.ArgumentParser, what: str) -> None:
    """``--workers N`` (at least 1), defaulting to :func:`default_workers`."""
    parser.add_argument(
        "--workers", type=at_least_one, default=default_workers(),
        help=f"{what} (default: one per core, at most {MAX_DEFAULT_WORKERS}; 1 runs in-process)",
    )  # fmt: skip


def add_quiet_option(parser: argparse.ArgumentParser, what: str = "no progress bar") -> None:
    """``--quiet`` (alias ``--no-progress``): the same switch in every command."""
    parser.add_argument("--quiet", "--no-progress", dest="quiet", action="store_true", help=what)


def add_input_options(parser: argparse.ArgumentParser) -> None:
    """``--format`` and ``--sort`` of the commands that read an event file."""
    from evclip.io.formats import FORMATS

    parser.add_argument(
        "--format", default=None, metavar="FORMAT",
        help=f"force the input format instead of detecting it: {', '.join(sorted(FORMATS))}",
    )  # fmt: skip
    parser.add_argument(
        "--sort", action="store_true",
        help="sort the events by time (reads the whole file) instead of refusing unsorted files",
    )  # fmt: skip


def read_chunks(path: str, format: str | None, *, sort: bool, chunk_size: int = 1_000_000):
    """Chunks of an event file as :class:`~evclip.io.EventStream` objects; with ``sort`` the
    file is read whole, sorted by time and then cut into chunks."""
    from evclip.io import iter_events, read_events

    if not sort:
        return iter_events(path, format, chunk_size=chunk_size)
    return _slices(read_events(path, format, sort=True), chunk_size)


def _slices(stream, chunk_size: int) -> Iterator:
    from evclip.io import EventStream, Frames

    for start in range(0, max(len(stream), 1), chunk_size):
        frames = stream.frames if start == 0 else Frames()
        yield EventStream(stream.events[start : start + chunk_size], stream.sensor_size, frames)
