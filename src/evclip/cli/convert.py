"""``evclip convert IN OUT``: any readable event file to .npz or .h5, chunk by chunk.

The progress bar counts events. Its total is exact for archives that state their length (.npz,
.npy, HDF5) and an upper bound from the file size for fixed-size records (.bin, .dat, AEDAT 2,
where some records are not polarity events); other formats show a running count.

The target is checked before anything is read (extension, folder, permission, the h5py extra for
``.h5``), and SIGINT/SIGTERM stop the conversion between chunks even when a library callback
swallowed the interrupt.
"""

from __future__ import annotations

import argparse
import itertools
import json
from pathlib import Path

from evclip.cli._common import add_input_options, add_quiet_option, read_chunks
from evclip.cli._signals import raise_if_interrupted


def _record_bound(path: Path, fmt: str) -> int | None:
    """Upper bound on the events of a fixed-record format: bytes after the header / record size."""
    size = path.stat().st_size
    if fmt == "nmnist_bin":
        return size // 5
    if fmt == "dat":
        from evclip.io.prophesee import read_header

        return max(size - read_header(path).data_offset - 2, 0) // 8
    if fmt == "aedat2":
        from evclip.io.aedat2 import read_header as read_aedat2_header

        return max(size - read_aedat2_header(path).data_offset, 0) // 8
    return None


def _stated_length(path: Path, fmt: str) -> int | None:
    """Number of events an archive states in its metadata, without reading them."""
    if fmt == "npy":
        import numpy as np

        return int(np.load(path, mmap_mode="r", allow_pickle=False).shape[0])
    if fmt == "hdf5":
        from evclip.io.hdf5 import import_h5py

        with import_h5py().File(path, "r") as handle:
            return int(handle["events/t"].shape[0])
    if fmt == "npz":
        from evclip.io.npz_chunks import event_count

        return event_count(path)
    return None


def expected_events(path: str, format: str | None = None) -> int | None:
    """Exact or upper-bound event count of a file for the progress bar; None when unknown."""
    from evclip.io import detect_format

    path_ = Path(path)
    try:
        fmt = format or detect_format(path_)
        return _stated_length(path_, fmt) or _record_bound(path_, fmt)
    except Exception:  # only a hint: the conversion itself reports a damaged file
        return None


def convert(
    source: str,
    target: str,
    *,
    format: str | None = None,
    chunk_size: int = 1_000_000,
    progress: bool = True,
    sort: bool = False,
) -> int:
    """Stream ``source`` into ``target`` (atomic: nothing appears under ``target`` on failure).

    Args:
        source: any readable event file.
        target: ``.npz``, ``.h5`` or ``.hdf5`` file to write.
        format: force the input format instead of detecting it.
        chunk_size: events read and written at a time (bounds memory).
        progress: show a progress bar on stderr.
        sort: sort the events by time (reading the whole file) instead of refusing an unsorted
            file.

    Returns:
        The number of events written.

    Raises:
        ValueError: for an unsupported target extension (before anything is read).
        OSError: when the target is a folder or its folder is missing or not writable (before
            anything is read).
        ImportError: for an ``.h5`` target without h5py (before anything is read).
        EventFormatError: for an unreadable source.
    """
    from tqdm import tqdm

    from evclip.io import EventFormatError, open_writer
    from evclip.io.atomic import check_output
    from evclip.io.writers import SUPPORTED_EXTENSIONS

    check_output(target, SUPPORTED_EXTENSIONS)
    if Path(target).suffix.lower() != ".npz":
        from evclip.io.hdf5 import import_h5py

        import_h5py()
    chunks = read_chunks(source, format, sort=sort, chunk_size=chunk_size)
    first = next(chunks, None)
    if first is None:  # pragma: no cover - every reader yields at least one chunk
        raise EventFormatError(source, "the reader produced no data")
    total = expected_events(source, format) if progress else None
    written = 0
    with (
        open_writer(target, first.sensor_size) as writer,
        tqdm(total=total, unit="ev", unit_scale=True, disable=not progress, desc="convert") as bar,
    ):
        for chunk in itertools.chain([first], chunks):
            raise_if_interrupted()
            writer.write(chunk.events)
            if len(chunk.frames):
                writer.write_frames(chunk.frames)
            written += len(chunk)
            bar.update(len(chunk))
        raise_if_interrupted()
        bar.total = written  # an upper bound from the file size ends at 100% too
        bar.refresh()
    return written


def run(args: argparse.Namespace) -> int:
    n = convert(
        args.input, args.output, format=args.format, progress=not args.quiet, sort=args.sort
    )
    print(json.dumps({"input": args.input, "output": args.output, "events": n}))
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("convert", help="convert an event file to .npz or .h5")
    parser.add_argument("input", help="an event file in any readable format")
    parser.add_argument("output", help="target file, .npz or .h5")
    add_input_options(parser)
    add_quiet_option(parser)
    parser.set_defaults(func=run)
