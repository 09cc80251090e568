"""Reading and writing event files in every common format.

>>> from evclip.io import read_events
>>> stream = read_events("recording.aedat4")          # doctest: +SKIP
>>> stream.events["t"], stream.sensor_size, len(stream.frames)  # doctest: +SKIP
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from evclip.io.errors import EventFormatError, TimestampUnitWarning
from evclip.io.events import (
    EVENT_DTYPE,
    MAX_SENSOR_PIXELS,
    MAX_SENSOR_SIDE,
    EventStream,
    Frames,
    check_events,
    check_sensor_size,
    empty_events,
    infer_sensor_size,
    make_events,
    sort_events,
)
from evclip.io.formats import FORMATS, FormatSpec, check_content, detect_format, get_format

__all__ = [
    "EVENT_DTYPE",
    "FORMATS",
    "EventFormatError",
    "EventStream",
    "FormatSpec",
    "Frames",
    "TimestampUnitWarning",
    "MAX_SENSOR_PIXELS",
    "MAX_SENSOR_SIDE",
    "check_events",
    "check_sensor_size",
    "detect_format",
    "empty_events",
    "infer_sensor_size",
    "iter_events",
    "make_events",
    "open_writer",
    "read_events",
    "sort_events",
    "write_events",
]

DEFAULT_CHUNK_SIZE = 1_000_000


def _finish(
    stream: EventStream,
    path: Path,
    sensor_size: tuple[int, int] | None,
    sort: bool,
    previous_t: int | None = None,
    first_index: int = 0,
) -> EventStream:
    if sensor_size is not None:
        stream.sensor_size = sensor_size
    if sort:
        stream.events = sort_events(stream.events)
    check_events(
        stream.events, stream.sensor_size, path=path, previous_t=previous_t, first_index=first_index
    )
    stream.path = os.fspath(path)
    return stream


def read_events(
    path: str | os.PathLike[str],
    format: str | None = None,
    *,
    sensor_size: tuple[int, int] | None = None,
    sort: bool = False,
    **reader_options: Any,
) -> EventStream:
    """Read a whole event file.

    Args:
        path: the file.
        format: force a format (see ``evclip.io.FORMATS``); detected from magic bytes or the
            extension when None.
        sensor_size: (width, height) overriding what the file declares; events outside it raise.
        sort: sort events by time instead of rejecting unsorted files.
        **reader_options: passed to the format's decoder (e.g. ``camera="dvs128"`` for AEDAT 2).

    Returns:
        An :class:`EventStream` with time-sorted events, the sensor size and any frames.

    Raises:
        EventFormatError: for a missing, truncated, corrupt or inconsistent file.
    """
    path = Path(path)
    sensor_size = _requested_size(sensor_size, path)
    spec = _resolve(path, format)
    stream = spec.load().read(path, **_options(spec, reader_options))
    return _finish(stream, path, sensor_size, sort)


def _resolve(path: Path, format: str | None) -> FormatSpec:
    """The format to read ``path`` with: detected, or the forced one checked against the content."""
    if not format:
        return get_format(detect_format(path), path)
    spec = get_format(format, path)
    check_content(path, spec)
    return spec


def _requested_size(sensor_size: tuple[int, int] | None, path: Path) -> tuple[int, int] | None:
    """The caller's sensor_size, checked before any decoding work."""
    if sensor_size is None:
        return None
    return check_sensor_size(sensor_size, path=path, what="sensor_size argument")


# modules that decode more than one format take the format name as ``kind``
_MULTI = {"numpy_formats", "prophesee"}


def _options(spec: FormatSpec, reader_options: dict[str, Any]) -> dict[str, Any]:
    return {"kind": spec.name, **reader_options} if spec.module in _MULTI else reader_options


def iter_events(
    path: str | os.PathLike[str],
    format: str | None = None,
    *,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    sensor_size: tuple[int, int] | None = None,
    sort: bool = False,
    **reader_options: Any,
) -> Iterator[EventStream]:
    """Read a file as a sequence of chunks of about ``chunk_size`` events, with bounded memory.

    Every chunk is an :class:`EventStream` with the same sensor size; order is checked across
    chunk boundaries. Formats without a streaming decoder are read whole and then sliced.

    Args:
        path: the file.
        format: as for :func:`read_events`.
        chunk_size: events per chunk.
        sensor_size: as for :func:`read_events`.
        sort: must be False: chunks come in file order and cannot be sorted globally; read an
            unsorted file whole with ``read_events(path, sort=True)``.
        **reader_options: as for :func:`read_events`.

    Raises:
        EventFormatError: at once for a missing file or an unknown format, and as
            :func:`read_events` when the bad part is reached.
        ValueError: at once for a chunk_size below 1 or ``sort=True``.
    """
    if chunk_size <= 0:
        raise ValueError(f"chunk_size must be positive, got {chunk_size}")
    if sort:
        raise ValueError(
            "iter_events reads a file chunk by chunk in file order and cannot sort it; "
            "read it whole with read_events(path, sort=True)"
        )
    path = Path(path)
    sensor_size = _requested_size(sensor_size, path)
    spec = _resolve(path, format)
    return _checked_chunks(path, spec, chunk_size, sensor_size, reader_options)


def _checked_chunks(
    path: Path,
    spec: FormatSpec,
    chunk_size: int,
    sensor_size: tuple[int, int] | None,
    reader_options: dict[str, Any],
) -> Iterator[EventStream]:
    module = spec.load()
    kwargs = _options(spec, reader_options)
    previous_t: int | None = None
    if hasattr(module, "iter_chunks"):
        chunks = module.iter_chunks(path, chunk_size, **kwargs)
    else:
        chunks = _slice_stream(module.read(path, **kwargs), chunk_size)
    first_index = 0
    for chunk in chunks:
        chunk = _finish(chunk, path, sensor_size, False, previous_t, first_index)
        if len(chunk):
            previous_t = int(chunk.events["t"][-1])
        first_index += len(chunk)
        yield chunk


def _slice_stream(stream: EventStream, chunk_size: int) -> Iterator[EventStream]:
    n = len(stream)
    for start in range(0, max(n, 1), chunk_size):
        frames = stream.frames if start == 0 else Frames()
        yield EventStream(stream.events[start : start + chunk_size], stream.sensor_size, frames)


def open_writer(path: str | os.PathLike[str], sensor_size: tuple[int, int], **options: Any):
    """Open an appending, atomic writer for ``.npz`` or ``.h5``; see :mod:`evclip.io.writers`.

    ``options`` go to the writer, e.g. ``compress=True`` for a deflated ``.npz``.
    """
    from evclip.io.writers import open_writer as _open

    return _open(path, sensor_size, **options)


def write_events(path: str | os.PathLike[str], stream: EventStream) -> None:
    """Write a stream to ``.npz`` or ``.h5`` (chosen by extension), atomically.

    The file is written to a temporary name beside ``path`` and renamed when complete, so an
    interrupted write never leaves a half-written file under the final name.
    """
    with open_writer(path, stream.sensor_size) as writer:
        writer.write(stream.events)
        if len(stream.frames):
            writer.write_frames(stream.frames)
