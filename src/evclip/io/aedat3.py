"""AEDAT 3.1 reader (cAER / libcaer recordings, e.g. DVS128 Gesture).

A file is a text header from ``#!AER-DAT3.1`` to ``#!END-HEADER\\r\\n``, then packets. Every packet
starts with a 28-byte little-endian header (libcaer's ``caer_event_packet_header``: int16 type,
int16 source, int32 event size, int32 timestamp offset, int32 timestamp overflow, int32 capacity,
int32 number, int32 valid) followed by ``capacity * size`` bytes of events: libcaer's packet size
is header + capacity x size, and cAER's file writer copies packets down to their events first, so
capacity equals number in files it wrote (tonic's reader also skips by capacity).

Type 1 packets hold polarity events of 8 bytes: uint32 data (bit 0 valid, bit 1 polarity, y =
bits 2-16, x = bits 17-31) and int32 timestamp, to which ``overflow << 31`` is added. Invalid
events are dropped, and only the first ``number`` events of a packet are used. libcaer already
gives coordinates with the origin at the top-left, so none are flipped. Packets of other types
are skipped; compressed packets (type bit 15 set) are rejected.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from evclip.io.errors import EventFormatError
from evclip.io.events import EventStream, check_sensor_size, empty_events

PACKET_HEADER_DTYPE = np.dtype(
    [
        ("type", "<i2"),
        ("source", "<i2"),
        ("size", "<i4"),
        ("ts_offset", "<i4"),
        ("ts_overflow", "<i4"),
        ("capacity", "<i4"),
        ("number", "<i4"),
        ("valid", "<i4"),
    ]
)
POLARITY_DTYPE = np.dtype([("data", "<u4"), ("t", "<i4")])
POLARITY_EVENT = 1
_END_HEADER = b"#!END-HEADER"
_MAX_HEADER_LINE = 1 << 20
_MAX_EVENT_SIZE = 1 << 24
_CHIP_SIZES = {"dvs128": (128, 128), "davis240": (240, 180), "davis346": (346, 260)}


@dataclass(frozen=True)
class Aedat3Header:
    """What the text header says.

    Attributes:
        data_offset: byte offset of the first packet.
        text: the header text.
        sensor_size: (width, height) when the header gives it, else None.
    """

    data_offset: int
    text: str
    sensor_size: tuple[int, int] | None


def sensor_size_from_text(text: str) -> tuple[int, int] | None:
    """(width, height) from ``sizeX``/``sizeY`` entries or a known chip name in header text."""
    size_x = re.search(r"sizeX\D{0,40}?(\d+)", text, flags=re.IGNORECASE)
    size_y = re.search(r"sizeY\D{0,40}?(\d+)", text, flags=re.IGNORECASE)
    if size_x and size_y:
        return (int(size_x.group(1)), int(size_y.group(1)))
    lower = text.lower()
    for chip, size in _CHIP_SIZES.items():
        if chip in lower:
            return size
    return None


def read_header(path: str | os.PathLike[str]) -> Aedat3Header:
    """Parse the text header of an AEDAT 3.x file.

    Raises:
        EventFormatError: when the magic line or the end-of-header line is missing.
    """
    lines: list[bytes] = []
    offset = 0
    with open(path, "rb") as f:
        first = f.readline(_MAX_HEADER_LINE)
        if not first.startswith(b"#!AER-DAT3"):
            raise EventFormatError(path, "not an AEDAT 3.x file (no '#!AER-DAT3' line)", offset=0)
        offset = len(first)
        while True:
            line = f.readline(_MAX_HEADER_LINE)
            if not line.startswith(b"#") or not line.endswith(b"\n"):
                raise EventFormatError(path, "header has no '#!END-HEADER' line", offset=offset)
            offset += len(line)
            if line.startswith(_END_HEADER):
                break
            lines.append(line)
    text = b"".join(lines).decode("latin-1")
    size = sensor_size_from_text(text)
    if size is not None:
        size = check_sensor_size(size, path=path, what="sensor size declared in the header")
    return Aedat3Header(offset, text, size)


def decode_polarity(body: np.ndarray, number: int, overflow: int) -> np.ndarray:
    """Decode the valid events among the first ``number`` records of a polarity packet.

    Args:
        body: [capacity] of :data:`POLARITY_DTYPE`.
        number: how many records are in use.
        overflow: the packet's timestamp overflow counter.

    Returns:
        events of EVENT_DTYPE.
    """
    records = body[:number]
    records = records[(records["data"] & 1) == 1]
    data = records["data"]
    events = empty_events(records.size)
    events["x"] = data >> 17
    events["y"] = (data >> 2) & 0x7FFF
    events["p"] = (data >> 1) & 1
    events["t"] = records["t"].astype(np.int64) + (np.int64(overflow) << 31)
    return events


def _check_packet(path: Path, offset: int, head: np.void, file_size: int) -> int:
    """Validate one packet header and return its body length in bytes."""
    size, capacity = int(head["size"]), int(head["capacity"])
    number, valid = int(head["number"]), int(head["valid"])
    problem = None
    if int(head["type"]) < 0:
        problem = "compressed packets (type bit 15 set) are not supported"
    elif not 0 < size <= _MAX_EVENT_SIZE:
        problem = f"event size {size} is not positive or is implausibly large"
    elif capacity < 0 or not 0 <= number <= capacity or not 0 <= valid <= number:
        problem = f"inconsistent counts: capacity {capacity}, number {number}, valid {valid}"
    elif int(head["ts_overflow"]) < 0:
        problem = f"negative timestamp overflow {int(head['ts_overflow'])}"
    elif int(head["type"]) == POLARITY_EVENT and (size != 8 or int(head["ts_offset"]) != 4):
        problem = f"polarity packet with event size {size}, timestamp offset {head['ts_offset']}"
    elif offset + PACKET_HEADER_DTYPE.itemsize + capacity * size > file_size:
        problem = (
            f"packet of {capacity} x {size} bytes runs past the end of the file ({file_size} bytes)"
        )
    if problem:
        raise EventFormatError(path, f"corrupt packet header: {problem}", offset=offset)
    return capacity * size


def _packets(path: Path, header: Aedat3Header) -> Iterator[np.ndarray]:
    """Yield the decoded polarity events of every polarity packet, in file order."""
    file_size = path.stat().st_size
    with open(path, "rb") as f:
        f.seek(header.data_offset)
        offset = header.data_offset
        while True:
            raw = f.read(PACKET_HEADER_DTYPE.itemsize)
            if not raw:
                return
            if len(raw) < PACKET_HEADER_DTYPE.itemsize:
                raise EventFormatError(
                    path, f"truncated packet header ({len(raw)} of 28 bytes)", offset=offset
                )
            head = np.frombuffer(raw, dtype=PACKET_HEADER_DTYPE)[0]
            length = _check_packet(path, offset, head, file_size)
            if int(head["type"]) == POLARITY_EVENT:
                body = np.frombuffer(f.read(length), dtype=POLARITY_DTYPE)
                events = decode_polarity(body, int(head["number"]), int(head["ts_overflow"]))
                if np.any(events["t"] < 0):
                    raise EventFormatError(
                        path, "polarity packet holds negative timestamps", offset=offset
                    )
                yield events
            else:
                f.seek(length, os.SEEK_CUR)
            offset += PACKET_HEADER_DTYPE.itemsize + length


def read(path: str | os.PathLike[str]) -> EventStream:
    """Read the polarity events of a whole AEDAT 3.1 file.

    Returns:
        Events in file order; the sensor size from the header (``sizeX``/``sizeY`` or a known
        chip name such as DVS128), else inferred from the events.

    Raises:
        EventFormatError: for a bad header or a corrupt, truncated or compressed packet, naming
            the packet's byte offset.
    """
    path = Path(path)
    header = read_header(path)
    parts = list(_packets(path, header))
    events = np.concatenate(parts) if parts else empty_events()
    size = header.sensor_size or _infer(events)
    return EventStream(events, size, path=os.fspath(path))


def _infer(events: np.ndarray) -> tuple[int, int]:
    if len(events) == 0:
        return (1, 1)
    return (int(events["x"].max()) + 1, int(events["y"].max()) + 1)


def iter_chunks(path: str | os.PathLike[str], chunk_size: int) -> Iterator[EventStream]:
    """Read an AEDAT 3.1 file in chunks of at most ``chunk_size`` events, packet by packet.

    When the header gives no sensor size, a first pass finds it so every chunk carries the same.
    """
    path = Path(path)
    header = read_header(path)
    size = header.sensor_size
    if size is None:
        width, height = 1, 1
        for events in _packets(path, header):
            if len(events):
                width = max(width, int(events["x"].max()) + 1)
                height = max(height, int(events["y"].max()) + 1)
        size = (width, height)
    pending: list[np.ndarray] = []
    count = 0
    yielded = False
    for events in _packets(path, header):
        pending.append(events)
        count += len(events)
        if count < chunk_size:
            continue
        joined = np.concatenate(pending)
        full = len(joined) // chunk_size * chunk_size
        for start in range(0, full, chunk_size):
            yield EventStream(joined[start : start + chunk_size], size, path=os.fspath(path))
        yielded = True
        pending, count = [joined[full:]], len(joined) - full
    if count or not yielded:
        rest = np.concatenate(pending) if pending else empty_events()
        yield EventStream(rest, size, path=os.fspath(path))
