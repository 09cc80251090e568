"""Chunked reading of ``.npz`` event archives with bounded memory.

An ``.npz`` is a zip archive of ``.npy`` members. ``numpy.load`` can only hand out a member
whole, but :mod:`zipfile` decompresses a member as a stream, so reading ``chunk_size`` items at a
time from each member keeps memory bounded for stored and deflated archives alike. Both layouts
of :mod:`evclip.io.numpy_formats` are supported: plain x, y, t, p members and N-ImageNet's
``event_data`` (or its older x_pos, y_pos, timestamp, polarity members). Values are checked and
converted by the same functions as a whole-file read, so both give the same events and errors.
"""

from __future__ import annotations

import os
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import numpy as np

from evclip.io.errors import EventFormatError, reraise_as_format_errors
from evclip.io.events import EventStream, Frames
from evclip.io.numpy_formats import (
    NIMAGENET_SENSOR,
    _frames,
    _infer_size,
    _stored_size,
    columns_to_events,
)
from evclip.io.time_units import NO_TIMES, merge_stats, scale_promised_microseconds, time_stats

FIELDS = ("x", "y", "t", "p")
_OLD_NAMES = {"x": "x_pos", "y": "y_pos", "t": "timestamp", "p": "polarity"}
_SMALL_MEMBERS = ("sensor_size", "frames", "frames_t")
_MAX_HEADER = 10_000
# a column is (member key, field of a structured member or None)
Column = tuple[str, str | None]


class NpyMemberReader:
    """One ``.npy`` member of an archive opened as a stream, read a block of items at a time.

    Attributes:
        key: the member's name without ``.npy``.
        dtype: item dtype from the member's header.
        length: number of items (the member must be 1-D, or a vector with unit dimensions).
    """

    def __init__(self, archive: zipfile.ZipFile, key: str, member: str, path: Path) -> None:
        self.key, self.path = key, path
        self.handle: IO[bytes] = archive.open(member)
        shape, fortran_order, self.dtype = _read_header(self.handle)
        del fortran_order  # a vector has the same bytes in C and Fortran order
        if self.dtype.hasobject or self.dtype.itemsize == 0:
            raise EventFormatError(path, f"member {key} has unsupported dtype {self.dtype}")
        if sum(d != 1 for d in shape) > 1:
            raise EventFormatError(path, f"column {key} has shape {shape}, expected [N]")
        self.length = int(np.prod(shape, dtype=np.int64))
        self.remaining = self.length

    def read(self, count: int) -> np.ndarray:
        """The next ``count`` items (fewer at the end); raises when the member is cut short."""
        count = min(count, self.remaining)
        want = count * self.dtype.itemsize
        data = self.handle.read(want)
        if len(data) != want:
            raise EventFormatError(
                self.path, f"member {self.key} is truncated: {len(data)} of {want} bytes"
            )
        self.remaining -= count
        return np.frombuffer(data, dtype=self.dtype)

    def close(self) -> None:
        self.handle.close()


def _read_header(handle: IO[bytes]) -> tuple[tuple[int, ...], bool, np.dtype]:
    version = np.lib.format.read_magic(handle)
    if version == (1, 0):
        return np.lib.format.read_array_header_1_0(handle, max_header_size=_MAX_HEADER)
    if version == (2, 0):
        return np.lib.format.read_array_header_2_0(handle, max_header_size=_MAX_HEADER)
    raise ValueError(f".npy format version {version} is not supported for chunked reading")


def _member_names(archive: zipfile.ZipFile) -> dict[str, str]:
    """Archive keys as ``numpy.load`` names them (without ``.npy``) -> member file names."""
    return {n[:-4] if n.endswith(".npy") else n: n for n in archive.namelist()}


def _layout(archive: zipfile.ZipFile, members: dict[str, str], path: Path) -> dict[str, Column]:
    """Where x, y, t, p live: plain members, ``event_data`` fields or old N-ImageNet keys."""
    if all(k in members for k in FIELDS):
        return {name: (name, None) for name in FIELDS}
    if "event_data" in members:
        reader = NpyMemberReader(archive, "event_data", members["event_data"], path)
        reader.close()
        names = reader.dtype.names
        if names is None:
            raise EventFormatError(path, "event_data is not a structured array with x, y, t, p")
        return {new: ("event_data", _pick(new, names, path)) for new in FIELDS}
    if "x_pos" in members:
        return {new: (_pick(new, tuple(members), path), None) for new in FIELDS}
    raise EventFormatError(
        path,
        "archive has neither x, y, t, p arrays nor N-ImageNet event_data; "
        f"found: {sorted(members)}",
    )


def _pick(new: str, names: tuple[str, ...], path: Path) -> str:
    for key in (new, _OLD_NAMES[new]):
        if key in names:
            return key
    raise EventFormatError(
        path, f"N-ImageNet layout lacks field {new!r} / {_OLD_NAMES[new]!r}; found: {sorted(names)}"
    )


def _open_readers(
    archive: zipfile.ZipFile, members: dict[str, str], keys: set[str], path: Path
) -> dict[str, NpyMemberReader]:
    readers = {key: NpyMemberReader(archive, key, members[key], path) for key in sorted(keys)}
    lengths = {key: reader.length for key, reader in readers.items()}
    if len(set(lengths.values())) > 1:
        raise EventFormatError(path, f"event columns differ in length: {lengths}")
    return readers


def _event_blocks(
    archive: zipfile.ZipFile,
    members: dict[str, str],
    layout: dict[str, Column],
    chunk_size: int,
    path: Path,
    fields: tuple[str, ...] = FIELDS,
) -> Iterator[dict[str, np.ndarray]]:
    """Blocks of ``chunk_size`` values of the given fields (at least one block, maybe empty)."""
    readers = _open_readers(archive, members, {layout[f][0] for f in fields}, path)
    try:
        length = next(iter(readers.values())).length
        for _ in range(0, max(length, 1), chunk_size):
            blocks = {key: reader.read(chunk_size) for key, reader in readers.items()}
            yield {f: _column(blocks, layout[f]) for f in fields}
    finally:
        for reader in readers.values():
            reader.close()


def _column(blocks: dict[str, np.ndarray], column: Column) -> np.ndarray:
    key, field = column
    return blocks[key] if field is None else blocks[key][field]


def _sensor_size(
    archive: zipfile.ZipFile,
    members: dict[str, str],
    layout: dict[str, Column],
    small: dict[str, np.ndarray],
    chunk_size: int,
    path: Path,
) -> tuple[int, int]:
    """The stored sensor size, else one pass over x and y as a whole read would infer it."""
    stored = _stored_size(small, path)
    if stored is not None:
        return stored
    size = NIMAGENET_SENSOR if layout["x"] != ("x", None) else (1, 1)
    for block in _event_blocks(archive, members, layout, chunk_size, path):
        size = _infer_size(columns_to_events(block, path=path), size)
    return size


def _t_scale(
    archive: zipfile.ZipFile,
    members: dict[str, str],
    layout: dict[str, Column],
    chunk_size: int,
    path: Path,
) -> float:
    """Microseconds per unit of t, by the rule of a whole read (one pass when t is float)."""
    key, field = layout["t"]
    reader = NpyMemberReader(archive, key, members[key], path)
    reader.close()
    dtype = reader.dtype if field is None else reader.dtype[field]
    if dtype.kind != "f":
        return 1.0
    stats = NO_TIMES
    for block in _event_blocks(archive, members, layout, chunk_size, path, fields=("t",)):
        stats = merge_stats(stats, time_stats(block["t"]))
    return scale_promised_microseconds(stats, dtype, path)


def _chunks(path: Path, chunk_size: int) -> Iterator[EventStream]:
    with zipfile.ZipFile(path) as archive:
        members = _member_names(archive)
        layout = _layout(archive, members, path)
        small = {k: _load_member(archive, members[k]) for k in _SMALL_MEMBERS if k in members}
        size = _sensor_size(archive, members, layout, small, chunk_size, path)
        t_scale = _t_scale(archive, members, layout, chunk_size, path)
        frames = _frames(small, path)
        for block in _event_blocks(archive, members, layout, chunk_size, path):
            events = columns_to_events(block, t_scale=t_scale, path=path)
            yield EventStream(events, size, frames, os.fspath(path))
            frames = Frames()


def _load_member(archive: zipfile.ZipFile, member: str) -> np.ndarray:
    with archive.open(member) as handle:
        return np.lib.format.read_array(handle, allow_pickle=False)


def event_count(path: str | os.PathLike[str]) -> int:
    """Number of events an ``.npz`` archive holds, from its member headers alone.

    Raises:
        EventFormatError: for an archive of neither layout.
    """
    path = Path(path)
    with zipfile.ZipFile(path) as archive:
        members = _member_names(archive)
        key = _layout(archive, members, path)["t"][0]
        reader = NpyMemberReader(archive, key, members[key], path)
        reader.close()
        return reader.length


def iter_npz_chunks(
    path: str | os.PathLike[str], chunk_size: int, load_errors: tuple[type[BaseException], ...]
) -> Iterator[EventStream]:
    """Read an ``.npz`` events archive in chunks of ``chunk_size`` events.

    Args:
        path: the archive.
        chunk_size: events per chunk.
        load_errors: exceptions that mean a damaged archive; they become EventFormatError.

    Yields:
        Chunks with the same sensor size; the first carries the archive's frames.

    Raises:
        EventFormatError: for a damaged archive, a missing key or bad values.
    """
    path = Path(path)
    chunks: Iterator[Any] = _chunks(path, chunk_size)
    yield from reraise_as_format_errors(path, chunks, load_errors, "corrupt .npz archive")
