"""``evclip info FILE``: a JSON summary of an event file, computed chunk by chunk."""

from __future__ import annotations

import argparse
import json

from evclip.cli._common import add_input_options, read_chunks
from evclip.cli._signals import raise_if_interrupted


def summarize(
    path: str, format: str | None = None, chunk_size: int = 1_000_000, *, sort: bool = False
) -> dict:
    """Count events, ON fraction, time range and frames of a file without holding it whole
    (with ``sort``, the file is read whole and sorted by time first)."""
    n_events = n_on = n_frames = 0
    t_first: int | None = None
    t_last: int | None = None
    sensor_size: tuple[int, int] | None = None
    for chunk in read_chunks(path, format, sort=sort, chunk_size=chunk_size):
        raise_if_interrupted()
        sensor_size = chunk.sensor_size
        n_frames += len(chunk.frames)
        if not len(chunk):
            continue
        t = chunk.events["t"]
        t_first = int(t[0]) if t_first is None else t_first
        t_last = int(t[-1])
        n_events += len(chunk)
        n_on += int(chunk.events["p"].sum())
    duration = (t_last - t_first) if t_first is not None and t_last is not None else 0
    return {
        "path": str(path),
        "events": n_events,
        "sensor_size": list(sensor_size) if sensor_size else None,
        "t_first_us": t_first,
        "t_last_us": t_last,
        "duration_us": duration,
        "on_fraction": n_on / n_events if n_events else None,
        "event_rate_hz": n_events / (duration * 1e-6) if duration > 0 else None,
        "frames": n_frames,
    }


def run(args: argparse.Namespace) -> int:
    print(json.dumps(summarize(args.file, args.format, sort=args.sort), indent=2))
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("info", help="print a JSON summary of an event file")
    parser.add_argument("file", help="an event file in any readable format")
    add_input_options(parser)
    parser.set_defaults(func=run)
