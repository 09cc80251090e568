"""N-MNIST / N-Caltech101 ``.bin`` reader (the ATIS 40-bit event format of Orchard et al.).

Every event is 5 bytes: byte 0 = x, byte 1 = y, bit 7 of byte 2 = polarity (1 = ON) and a
23-bit timestamp in microseconds = ``(byte2 & 0x7F) << 16 | byte3 << 8 | byte4``. A record with
y == 240 is a timestamp-overflow marker: it is dropped and 2**13 us is added to the timestamps of
every later event. This follows tonic's ``read_mnist_file`` (and the original
``eventvision.py``), so both libraries give the same events for the same file.

The format declares no sensor size: it is inferred as (max x + 1, max y + 1). N-MNIST is 34x34;
N-Caltech101 varies per file (up to 240x180), so datasets pass their own size when they need one.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from evclip.io.errors import EventFormatError
from evclip.io.events import EVENT_DTYPE, EventStream, empty_events

RECORD_SIZE = 5
OVERFLOW_Y = 240
OVERFLOW_INCREMENT = 1 << 13
_DECODE_BLOCK = 1 << 18


def decode_records(raw: np.ndarray, overflows_before: int = 0) -> tuple[np.ndarray, int]:
    """Decode whole 5-byte records into events.

    Args:
        raw: uint8 [5 * N] bytes of N complete records.
        overflows_before: overflow markers seen in earlier parts of the file.

    Returns:
        The events (overflow markers removed) and the overflow count after this block.

    Raises:
        ValueError: when ``raw`` does not hold whole records.
    """
    if raw.size % RECORD_SIZE:
        raise ValueError(f"{raw.size} bytes is not a whole number of {RECORD_SIZE}-byte records")
    records = raw.reshape(-1, RECORD_SIZE)  # (N, 5)
    is_overflow = records[:, 1] == OVERFLOW_Y  # (N,)
    # markers up to and including each record; a kept record is never a marker, so this counts
    # the markers strictly before it
    overflows = overflows_before + np.cumsum(is_overflow, dtype=np.int64)  # (N,)
    keep = ~is_overflow
    kept = records[keep]  # (M, 5) uint8
    events = np.empty(kept.shape[0], dtype=EVENT_DTYPE)
    events["x"] = kept[:, 0]
    events["y"] = kept[:, 1]
    events["p"] = kept[:, 2] >> 7
    t = (kept[:, 2] & 0x7F).astype(np.int64) << 16  # (M,)
    t |= kept[:, 3].astype(np.int64) << 8
    t |= kept[:, 4]
    t += overflows[keep] * OVERFLOW_INCREMENT
    events["t"] = t
    total = int(overflows[-1]) if overflows.size else overflows_before
    return events, total


def _check_length(path: Path, size: int) -> None:
    partial = size % RECORD_SIZE
    if partial:
        raise EventFormatError(
            path,
            f"file is {size} bytes, not a multiple of {RECORD_SIZE}: the last record is "
            f"truncated to {partial} bytes",
            offset=size - partial,
        )


def _infer_size(events: np.ndarray) -> tuple[int, int]:
    if len(events) == 0:
        return (1, 1)
    return (int(events["x"].max()) + 1, int(events["y"].max()) + 1)


def read(path: str | os.PathLike[str]) -> EventStream:
    """Read a whole ``.bin`` file.

    Returns:
        Events in file order with the sensor size inferred from them (1x1 when empty).

    Raises:
        EventFormatError: when the file length is not a multiple of 5 bytes, naming the byte
            offset of the truncated last record.
    """
    path = Path(path)
    raw = np.fromfile(path, dtype=np.uint8)
    _check_length(path, raw.size)
    parts, overflows = [], 0
    step = _DECODE_BLOCK * RECORD_SIZE  # blocks that fit in cache decode ~2x faster
    for start in range(0, raw.size, step):
        events, overflows = decode_records(raw[start : start + step], overflows)
        parts.append(events)
    events = np.concatenate(parts) if parts else empty_events()
    return EventStream(events, _infer_size(events), path=os.fspath(path))


def _blocks(path: Path, chunk_size: int) -> Iterator[np.ndarray]:
    """Raw uint8 blocks of ``chunk_size`` whole records."""
    with open(path, "rb") as f:
        while True:
            block = f.read(chunk_size * RECORD_SIZE)
            if not block:
                return
            yield np.frombuffer(block, dtype=np.uint8)


def _scan_size(path: Path, chunk_size: int) -> tuple[int, int]:
    """Sensor size over the whole file, block by block (markers excluded)."""
    width, height = 1, 1
    for raw in _blocks(path, chunk_size):
        records = raw.reshape(-1, RECORD_SIZE)
        records = records[records[:, 1] != OVERFLOW_Y]
        if len(records):
            width = max(width, int(records[:, 0].max()) + 1)
            height = max(height, int(records[:, 1].max()) + 1)
    return (width, height)


def iter_chunks(path: str | os.PathLike[str], chunk_size: int) -> Iterator[EventStream]:
    """Read a ``.bin`` file in blocks of ``chunk_size`` records, carrying the overflow count.

    A first pass finds the sensor size so every chunk carries the same one. Chunks may hold
    fewer than ``chunk_size`` events because overflow markers are dropped.
    """
    path = Path(path)
    _check_length(path, path.stat().st_size)
    size = _scan_size(path, chunk_size)
    overflows = 0
    yielded = False
    for raw in _blocks(path, chunk_size):
        events, overflows = decode_records(raw, overflows)
        yielded = True
        yield EventStream(events, size, path=os.fspath(path))
    if not yielded:
        yield EventStream(empty_events(), size, path=os.fspath(path))
