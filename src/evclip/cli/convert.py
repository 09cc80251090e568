"""``evclip convert IN OUT``: any readable event file to .npz or .h5, chunk by chunk."""

from __future__ import annotations

import argparse
import itertools
import json

from tqdm import tqdm

from evclip.io import iter_events, open_writer


def convert(
    source: str,
    target: str,
    *,
    format: str | None = None,
    chunk_size: int = 1_000_000,
    progress: bool = True,
) -> int:
    """Stream ``source`` into ``target`` (atomic: nothing appears under ``target`` on failure).

    Returns:
        The number of events written.
    """
    chunks = iter_events(source, format, chunk_size=chunk_size)
    first = next(chunks)
    written = 0
    with (
        open_writer(target, first.sensor_size) as writer,
        tqdm(unit="ev", unit_scale=True, disable=not progress, desc="convert") as bar,
    ):
        for chunk in itertools.chain([first], chunks):
            writer.write(chunk.events)
            if len(chunk.frames):
                writer.write_frames(chunk.frames)
            written += len(chunk)
            bar.update(len(chunk))
    return written


def run(args: argparse.Namespace) -> int:
    n = convert(args.input, args.output, format=args.format, progress=not args.quiet)
    print(json.dumps({"input": args.input, "output": args.output, "events": n}))
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("convert", help="convert an event file to .npz or .h5")
    parser.add_argument("input", help="an event file in any readable format")
    parser.add_argument("output", help="target file, .npz or .h5")
    parser.add_argument("--format", default=None, help="force the input format")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(func=run)
