"""Prophesee readers: ``.dat`` CD files, EVT 2.0 and EVT 3.0 ``.raw`` files.

All three start with text header lines beginning with ``%`` (ended early by a ``% end`` line).
The sensor size comes from ``% Width`` / ``% Height``, ``% geometry WxH`` or
``% format EVT3;width=..;height=..`` lines, else it is inferred from the events.

- ``.dat``: one byte event type and one byte event size (8), then little-endian records: uint32 t
  (us) and uint32 data with x = bits 0-13, y = bits 14-27, p = bits 28-31 (0 or 1 for CD events).
  uint32 timestamps that wrap (a backwards jump of more than 2**31 us) are unwrapped.
- EVT 2.0: uint32 little-endian words, type in bits 28-31: 0x0 CD_OFF and 0x1 CD_ON (t low 6 bits
  in 22-27, x in 11-21, y in 0-10), 0x8 TIME_HIGH (bits 0-27 = t >> 6); 0xA, 0xE and 0xF are
  skipped; any other type is an error. Events before the first TIME_HIGH have no time base and
  are dropped, as Prophesee's decoders do; a TIME_HIGH that falls by more than half its range is
  a wrap of the 34-bit clock and is unwrapped.
- EVT 3.0: decoded by the ``evt3`` package (exact, Rust), whose errors become
  :class:`EventFormatError`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from evclip.io._rust import call_decoder, iterate_decoder
from evclip.io.aedat2 import unwrap_timestamps
from evclip.io.errors import EventFormatError
from evclip.io.events import EventStream, check_sensor_size, empty_events

KINDS = ("dat", "evt2", "evt3")
DAT_RECORD_DTYPE = np.dtype([("t", "<u4"), ("data", "<u4")])
_MAX_HEADER_LINE = 1 << 16
_EVT2_SKIPPED = (0xA, 0xE, 0xF)
_EVT2_TIME_HIGH = 0x8
_EVT2_WRAP = 1 << 28
_INT64_MAX = np.iinfo(np.int64).max


@dataclass(frozen=True)
class PropheseeHeader:
    """What the ``%`` header says.

    Attributes:
        data_offset: byte offset just after the header.
        fields: ``% key value`` pairs, keys lower-cased.
        sensor_size: (width, height) when the header gives it, else None.
    """

    data_offset: int
    fields: dict[str, str] = field(default_factory=dict)
    sensor_size: tuple[int, int] | None = None


def _size_from_fields(fields: dict[str, str]) -> tuple[int, int] | None:
    if fields.get("width", "").isdigit() and fields.get("height", "").isdigit():
        return (int(fields["width"]), int(fields["height"]))
    geometry = re.fullmatch(r"\s*(\d+)\s*x\s*(\d+)\s*", fields.get("geometry", ""))
    if geometry:
        return (int(geometry.group(1)), int(geometry.group(2)))
    format_line = fields.get("format", "")
    width = re.search(r"width=(\d+)", format_line)
    height = re.search(r"height=(\d+)", format_line)
    if width and height:
        return (int(width.group(1)), int(height.group(1)))
    return None


def read_header(path: str | os.PathLike[str]) -> PropheseeHeader:
    """Parse the ``%`` header lines at the start of a Prophesee file.

    Raises:
        EventFormatError: for a header line longer than 64 KiB or one the file ends inside.
    """
    fields: dict[str, str] = {}
    offset = 0
    with open(path, "rb") as f:
        while True:
            line = f.readline(_MAX_HEADER_LINE)
            if line.startswith(b"%") and not line.endswith(b"\n"):
                _unended_header_line(path, line, offset)
            if not line.startswith(b"%"):
                break
            offset += len(line)
            text = line[1:].decode("latin-1").strip()
            if text.lower() == "end":
                break
            key, _, value = text.partition(" ")
            fields.setdefault(key.lower(), value.strip())
    size = _size_from_fields(fields)
    if size is not None and min(size) <= 0:
        size = None
    if size is not None:
        size = check_sensor_size(size, path=path, what="sensor size declared in the header")
    return PropheseeHeader(offset, fields, size)


def _unended_header_line(path: str | os.PathLike[str], line: bytes, offset: int) -> None:
    """Raise for a '%' header line without its newline: too long, or cut by the file's end."""
    if len(line) >= _MAX_HEADER_LINE:
        problem = (
            f"header line longer than {_MAX_HEADER_LINE // 1024} KiB: a damaged header, "
            "or not a Prophesee file"
        )
    else:
        problem = "the file ends inside its '%' header (a header line has no newline)"
    raise EventFormatError(path, problem, offset=offset)


def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")


def _word_blocks(
    path: Path, start: int, item_size: int, items_per_block: int, what: str
) -> Iterator[tuple[int, bytes]]:
    """Yield (byte offset, bytes) blocks of whole items; a trailing partial item raises."""
    with open(path, "rb") as f:
        f.seek(start)
        offset = start
        while True:
            data = f.read(items_per_block * item_size)
            if not data:
                return
            whole = len(data) // item_size * item_size
            if whole != len(data):
                raise EventFormatError(
                    path,
                    f"truncated {what}: {len(data) - whole} trailing bytes, {what}s are "
                    f"{item_size} bytes",
                    offset=offset + whole,
                )
            yield offset, data
            offset += len(data)


def decode_dat(records: np.ndarray) -> np.ndarray:
    """Decode .dat CD records ([N] of :data:`DAT_RECORD_DTYPE`) into events with t left 0."""
    data = records["data"]
    events = empty_events(records.size)
    events["x"] = data & 0x3FFF
    events["y"] = (data >> 14) & 0x3FFF
    events["p"] = data >> 28
    return events


def _dat_events(path: Path, header: PropheseeHeader, chunk_size: int) -> Iterator[np.ndarray]:
    with open(path, "rb") as f:
        f.seek(header.data_offset)
        type_and_size = f.read(2)
    if len(type_and_size) < 2:
        raise EventFormatError(
            path, "missing the event type and size bytes after the header", header.data_offset
        )
    if type_and_size[1] != DAT_RECORD_DTYPE.itemsize:
        raise EventFormatError(
            path, f"event size {type_and_size[1]}, expected 8", offset=header.data_offset + 1
        )
    state = (-1, 0)
    blocks = _word_blocks(path, header.data_offset + 2, 8, chunk_size, "record")
    for offset, data in blocks:
        records = np.frombuffer(data, dtype=DAT_RECORD_DTYPE)
        bad = np.flatnonzero((records["data"] >> 28) > 1)
        if bad.size:
            raise EventFormatError(
                path,
                f"polarity {int(records['data'][bad[0]] >> 28)} is not 0 or 1",
                offset=offset + int(bad[0]) * 8,
            )
        events = decode_dat(records)
        events["t"], state = unwrap_timestamps(records["t"], state)
        yield events


def _unwrap_time_high(
    values: np.ndarray, state: tuple[int, int]
) -> tuple[np.ndarray, tuple[int, int]]:
    """Unwrap 28-bit TIME_HIGH values; state is (last raw value or -1, accumulated offset)."""
    last, offset = state
    raw = values.astype(np.int64)
    if raw.size == 0:
        return raw, state
    before = np.concatenate(([last if last >= 0 else raw[0]], raw[:-1]))
    wraps = np.cumsum((raw - before) < -(_EVT2_WRAP // 2))
    out = raw + offset + wraps * _EVT2_WRAP
    return out, (int(raw[-1]), int(offset + wraps[-1] * _EVT2_WRAP))


def decode_evt2(
    words: np.ndarray, state: tuple[int, int], path: Path | None = None, offset: int = 0
) -> tuple[np.ndarray, tuple[int, int]]:
    """Decode EVT 2.0 words, vectorised.

    Args:
        words: uint32 [N].
        state: (last raw TIME_HIGH or -1 when none seen yet, wrap offset) from earlier words.
        path: file named in errors.
        offset: byte offset of ``words[0]`` in the file, for errors.

    Returns:
        events of EVENT_DTYPE and the state after these words.

    Raises:
        EventFormatError: for a word of an unknown type, naming its byte offset.
    """
    kinds = words >> 28
    known = (kinds <= 1) | (kinds == _EVT2_TIME_HIGH) | np.isin(kinds, _EVT2_SKIPPED)
    if not known.all():
        i = int(np.flatnonzero(~known)[0])
        raise EventFormatError(
            path, f"unknown EVT 2.0 word type 0x{int(kinds[i]):x}", offset=offset + 4 * i
        )
    is_time_high = kinds == _EVT2_TIME_HIGH
    time_high, new_state = _unwrap_time_high(words[is_time_high] & 0x0FFFFFFF, state)
    # (N,) index of the latest TIME_HIGH word at or before each word, -1 when none
    positions = np.where(is_time_high, np.arange(words.size), -1)
    latest = np.maximum.accumulate(positions) if words.size else positions
    base = np.zeros(words.size, dtype=np.int64)
    base[is_time_high] = time_high
    base = base[np.maximum(latest, 0)]
    if state[0] >= 0:
        base[latest < 0] = state[0] + state[1]
    is_event = (kinds <= 1) & ((latest >= 0) | (state[0] >= 0))
    cd = words[is_event]
    events = empty_events(cd.size)
    events["x"] = (cd >> 11) & 0x7FF
    events["y"] = cd & 0x7FF
    events["p"] = cd >> 28
    events["t"] = (base[is_event] << 6) | ((cd >> 22) & 0x3F).astype(np.int64)
    return events, new_state


def _evt2_events(path: Path, header: PropheseeHeader, chunk_size: int) -> Iterator[np.ndarray]:
    declared = header.fields.get("evt", "") + header.fields.get("format", "").replace(" ", "")
    if "2.1" in declared or "evt21" in declared.lower():
        raise EventFormatError(path, "EVT 2.1 (64-bit vectorised words) is not supported", 0)
    state = (-1, 0)
    for offset, data in _word_blocks(path, header.data_offset, 4, chunk_size, "word"):
        events, state = decode_evt2(np.frombuffer(data, dtype="<u4"), state, path, offset)
        yield events


def _convert_evt3(path: Path, decoded: Any) -> np.ndarray:
    t = np.asarray(decoded.timestamp)
    if t.size and int(t.max()) > _INT64_MAX:
        raise EventFormatError(path, "EVT 3.0 timestamp does not fit in int64")
    events = empty_events(t.size)
    events["x"] = decoded.x
    events["y"] = decoded.y
    events["t"] = t
    events["p"] = np.asarray(decoded.polarity) > 0
    return events


def _evt3_events(path: Path, header: PropheseeHeader, chunk_size: int) -> Iterator[np.ndarray]:
    """Decode with ``evt3.decode_file_batches`` (bounded memory), re-cut to chunk_size events."""
    import evt3

    # an EVT 3.0 word (2 bytes) yields at most 12 events, so this bounds a batch's event count
    batch_bytes = max(2 * chunk_size // 12, 1024)
    batches = call_decoder(
        path, "EVT 3.0", evt3.decode_file_batches, os.fspath(path), batch_bytes=batch_bytes
    )
    for decoded in iterate_decoder(path, "EVT 3.0", batches):
        events = _convert_evt3(path, decoded)
        for start in range(0, len(events), chunk_size):
            yield events[start : start + chunk_size]


_DECODERS = {"dat": _dat_events, "evt2": _evt2_events, "evt3": _evt3_events}


def read(path: str | os.PathLike[str], kind: str = "dat") -> EventStream:
    """Read a whole Prophesee file.

    Args:
        path: the file.
        kind: "dat", "evt2" or "evt3".

    Returns:
        Events in file order and the sensor size the header gives (else inferred).

    Raises:
        EventFormatError: for a truncated record, an unknown EVT 2.0 word type, a .dat polarity
            other than 0/1, or any failure of the EVT 3.0 decoder.
    """
    _check_kind(kind)
    path = Path(path)
    header = read_header(path)
    parts = list(_DECODERS[kind](path, header, 1 << 22))
    events = np.concatenate(parts) if parts else empty_events()
    return EventStream(events, header.sensor_size or _infer(events), path=os.fspath(path))


def _infer(events: np.ndarray) -> tuple[int, int]:
    if len(events) == 0:
        return (1, 1)
    return (int(events["x"].max()) + 1, int(events["y"].max()) + 1)


def iter_chunks(
    path: str | os.PathLike[str], chunk_size: int, kind: str = "dat"
) -> Iterator[EventStream]:
    """Read a Prophesee file in chunks of at most ``chunk_size`` events, with bounded memory.

    A file whose header gives no sensor size is decoded twice, the first time to find it.
    """
    _check_kind(kind)
    path = Path(path)
    header = read_header(path)
    size = header.sensor_size
    if size is None:
        width, height = 1, 1
        for events in _DECODERS[kind](path, header, chunk_size):
            if len(events):
                width = max(width, int(events["x"].max()) + 1)
                height = max(height, int(events["y"].max()) + 1)
        size = (width, height)
    yielded = False
    for events in _DECODERS[kind](path, header, chunk_size):
        if len(events):
            yielded = True
            yield EventStream(events, size, path=os.fspath(path))
    if not yielded:
        yield EventStream(empty_events(), size, path=os.fspath(path))
