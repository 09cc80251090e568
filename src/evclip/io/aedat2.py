"""jAER AEDAT 2.0 reader (DVS128 and DAVIS recordings).

A file is an ASCII header of lines starting with ``#`` (the first is ``#!AER-DAT2.0``) followed by
big-endian 8-byte records: uint32 address, uint32 timestamp in microseconds.

Address layouts, taken from jAER's own extractors (``DavisBaseCamera.DavisEventExtractor``,
``DVS128.Extractor``):

- DAVIS: bit 31 set marks an APS (frame) or IMU sample, skipped; bit 10 set on a DVS word marks an
  external-input (trigger) event, skipped. Otherwise y = bits 22-30, x = bits 12-21, polarity =
  bit 11 (1 = ON).
- DVS128: bit 15 marks a special (sync) event, skipped; x = bits 1-7, y = bits 8-14, polarity =
  bit 0 with raw 0 = ON (jAER flips the type on extraction: "The ON events have raw polarity 0").

Orientation: jAER stores the DVS column mirrored (its extractor computes ``x = sizeX - 1 - raw_x``)
and counts rows from the bottom (OpenGL). evclip uses the image convention (origin top-left, y
down, as tonic's ``read_davis_346`` and every other reader here), so by default x = W-1-raw_x and
y = H-1-raw_y. This needs the sensor size: when the chip is unknown the raw addresses are
returned unchanged; ``raw_coordinates=True`` always returns them unchanged.

Timestamps are uint32 microseconds that wrap every 2**32 us (71.6 minutes); a backwards jump of
more than 2**31 us is taken as a wrap and unwrapped. Smaller backwards jumps are left for the
caller's order check to reject.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from evclip.io.errors import EventFormatError
from evclip.io.events import EVENT_DTYPE, EventStream, empty_events

RECORD_DTYPE = np.dtype([("address", ">u4"), ("t", ">u4")])
CHIP_SIZES: dict[str, tuple[int, int]] = {
    "dvs128": (128, 128),
    "davis240": (240, 180),
    "davis346": (346, 260),
    "davis640": (640, 480),
}
CAMERAS = ("davis", "dvs128")
_MAX_HEADER_LINE = 1 << 16
_WRAP = 1 << 32


@dataclass(frozen=True)
class Aedat2Header:
    """What the ASCII header says.

    Attributes:
        data_offset: byte offset of the first record.
        chip: the ``# AEChip:`` class name, or "" when absent.
        camera: "davis" or "dvs128" when the header names the chip, else None.
        sensor_size: (width, height) of the chip when known, else None.
    """

    data_offset: int
    chip: str
    camera: str | None
    sensor_size: tuple[int, int] | None


def _is_header_line(line: bytes) -> bool:
    """A header line starts with '#' and is printable text (binary records rarely are)."""
    if not line.startswith(b"#") or not line.endswith(b"\n"):
        return False
    body = line.rstrip(b"\r\n")
    return all(b >= 0x20 or b == 0x09 for b in body)


def camera_from_chip(chip: str) -> tuple[str | None, tuple[int, int] | None]:
    """Address layout and sensor size from a jAER chip class name (or any header text)."""
    name = chip.lower()
    if "dvs128" in name:
        return "dvs128", CHIP_SIZES["dvs128"]
    match = re.search(r"davis(\d+)", name)
    if match:
        return "davis", CHIP_SIZES.get(f"davis{match.group(1)}")
    if "davis" in name:
        return "davis", None
    return None, None


def read_header(path: str | os.PathLike[str]) -> Aedat2Header:
    """Parse the ASCII header of an AEDAT 2.0 file.

    Raises:
        EventFormatError: when the file does not start with ``#!AER-DAT2``.
    """
    chip_line = ""
    offset = 0
    with open(path, "rb") as f:
        first = f.readline(_MAX_HEADER_LINE)
        if not first.startswith(b"#!AER-DAT2"):
            raise EventFormatError(path, "not an AEDAT 2.0 file (no '#!AER-DAT2' line)", offset=0)
        offset = len(first)
        while True:
            line = f.readline(_MAX_HEADER_LINE)
            if not _is_header_line(line):
                break
            offset += len(line)
            text = line.decode("latin-1").strip()
            if "AEChip:" in text:
                chip_line = text.split("AEChip:", 1)[1].strip()
            if "end of ascii header" in text.lower():
                break
    camera, size = camera_from_chip(chip_line)
    return Aedat2Header(offset, chip_line, camera, size)


def _check_camera(camera: str | None, path: str | os.PathLike[str]) -> None:
    if camera is not None and camera not in CAMERAS:
        raise ValueError(f"{path}: camera must be one of {CAMERAS} or None, got {camera!r}")


def unwrap_timestamps(
    t: np.ndarray, previous: tuple[int, int]
) -> tuple[np.ndarray, tuple[int, int]]:
    """Turn wrapping uint32 microseconds into int64, carrying (last raw t, offset) across chunks.

    Args:
        t: uint32 [N] raw timestamps.
        previous: (last raw timestamp, accumulated offset) from the preceding chunk, (-1, 0) first.

    Returns:
        int64 [N] unwrapped timestamps and the state for the next chunk.
    """
    last_raw, offset = previous
    raw = t.astype(np.int64)
    if raw.size == 0:
        return raw, previous
    before = np.concatenate(([last_raw if last_raw >= 0 else raw[0]], raw[:-1]))
    wraps = np.cumsum((raw - before) < -(_WRAP // 2))
    out = raw + offset + wraps * _WRAP
    return out, (int(raw[-1]), int(offset + wraps[-1] * _WRAP))


def decode_davis(
    records: np.ndarray, sensor_size: tuple[int, int] | None, raw_coordinates: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Decode DAVIS addresses.

    Args:
        records: [N] of :data:`RECORD_DTYPE`.
        sensor_size: chip size used to turn jAER's orientation into image orientation; stored
            addresses at or beyond it are clipped to 0 (the reader checks them first).
        raw_coordinates: return stored addresses without mirroring.

    Returns:
        (events [M] of EVENT_DTYPE with t left 0, index [M] of the kept records).
    """
    address = records["address"].astype(np.uint32)
    keep = np.flatnonzero((address & np.uint32(0x80000400)) == 0)
    address = address[keep]
    x = ((address >> 12) & 0x3FF).astype(np.int64)
    y = ((address >> 22) & 0x1FF).astype(np.int64)
    if sensor_size is not None and not raw_coordinates:
        x = np.maximum(sensor_size[0] - 1 - x, 0)
        y = np.maximum(sensor_size[1] - 1 - y, 0)
    events = empty_events(keep.size)
    events["x"] = x
    events["y"] = y
    events["p"] = (address >> 11) & 1
    return events, keep


def decode_dvs128(
    records: np.ndarray, raw_coordinates: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Decode DVS128 addresses; see :func:`decode_davis` for the return value."""
    address = records["address"].astype(np.uint32)
    keep = np.flatnonzero((address & np.uint32(0xFFFF8000)) == 0)
    address = address[keep]
    x = (address >> 1) & 0x7F
    y = (address >> 8) & 0x7F
    events = empty_events(keep.size)
    if not raw_coordinates:
        x = 127 - x
        y = 127 - y
    events["x"] = x
    events["y"] = y
    events["p"] = 1 - (address & 1)
    return events, keep


def _record_blocks(
    path: Path, header: Aedat2Header, records_per_block: int
) -> Iterator[tuple[int, np.ndarray]]:
    """Yield (byte offset, records) blocks; a trailing partial record raises."""
    with open(path, "rb") as f:
        f.seek(header.data_offset)
        offset = header.data_offset
        while True:
            data = f.read(records_per_block * RECORD_DTYPE.itemsize)
            if not data:
                return
            whole = len(data) // RECORD_DTYPE.itemsize * RECORD_DTYPE.itemsize
            if whole != len(data):
                raise EventFormatError(
                    path,
                    f"truncated record: {len(data) - whole} trailing bytes, records are 8 bytes",
                    offset=offset + whole,
                )
            yield offset, np.frombuffer(data, dtype=RECORD_DTYPE)
            offset += len(data)


def _detect_camera(path: Path, header: Aedat2Header) -> str | None:
    """DVS128 addresses fit in 16 bits; any wider word means a DAVIS layout (None: no records)."""
    seen = False
    for _, records in _record_blocks(path, header, 1 << 20):
        seen = seen or records.size > 0
        if np.any((records["address"] & np.uint32(0xFFFF0000)) != 0):
            return "davis"
    return "dvs128" if seen else None


def _check_addresses(
    path: Path, offset: int, records: np.ndarray, camera: str, sensor_size: tuple[int, int] | None
) -> None:
    """Reject words that cannot be a pixel of the chip, naming the first one's byte offset."""
    address = records["address"]
    if camera == "dvs128":
        bad = (address & np.uint32(0xFFFF0000)) != 0
        why = "does not fit the DVS128 layout (pass camera='davis' for a DAVIS recording)"
    elif sensor_size is not None:
        dvs = (address & np.uint32(0x80000400)) == 0
        x = (address >> 12) & 0x3FF
        y = (address >> 22) & 0x1FF
        bad = dvs & ((x >= sensor_size[0]) | (y >= sensor_size[1]))
        why = f"lies outside the {sensor_size[0]}x{sensor_size[1]} chip"
    else:
        return
    if np.any(bad):
        i = int(np.flatnonzero(bad)[0])
        raise EventFormatError(
            path,
            f"address 0x{int(address[i]):08x} {why}",
            offset=offset + i * RECORD_DTYPE.itemsize,
        )


def _iter_events(
    path: Path, chunk_size: int, camera: str | None, raw_coordinates: bool
) -> tuple[Iterator[np.ndarray], tuple[int, int] | None]:
    header = read_header(path)
    _check_camera(camera, path)
    sensor_size = header.sensor_size
    if camera is None:
        camera = header.camera or _detect_camera(path, header) or "davis"
    if camera != header.camera:
        sensor_size = None
    if camera == "dvs128":
        sensor_size = CHIP_SIZES["dvs128"]

    def generate() -> Iterator[np.ndarray]:
        state = (-1, 0)
        for offset, records in _record_blocks(path, header, chunk_size):
            _check_addresses(path, offset, records, camera, sensor_size)
            if camera == "dvs128":
                events, keep = decode_dvs128(records, raw_coordinates)
            else:
                events, keep = decode_davis(records, sensor_size, raw_coordinates)
            events["t"], state = unwrap_timestamps(records["t"][keep], state)
            yield events

    return generate(), sensor_size


def read(
    path: str | os.PathLike[str], *, camera: str | None = None, raw_coordinates: bool = False
) -> EventStream:
    """Read a whole AEDAT 2.0 file.

    Args:
        path: the file.
        camera: "davis" or "dvs128" to override the layout the header names; when neither names
            it, a file whose addresses all fit in 16 bits is taken as DVS128.
        raw_coordinates: return the stored addresses without turning them to image orientation.

    Returns:
        Polarity events (APS, IMU, special and trigger words skipped); the sensor size of the
        chip, or inferred from the events when the chip is unknown.

    Raises:
        EventFormatError: for a missing header, a trailing partial record, or an address that
            does not fit the chip.
    """
    path = Path(path)
    events_iter, sensor_size = _iter_events(path, 1 << 20, camera, raw_coordinates)
    parts = list(events_iter)
    events = np.concatenate(parts) if parts else empty_events()
    return EventStream(events, sensor_size or _infer(events), path=os.fspath(path))


def _infer(events: np.ndarray) -> tuple[int, int]:
    if len(events) == 0:
        return (1, 1)
    return (int(events["x"].max()) + 1, int(events["y"].max()) + 1)


def iter_chunks(
    path: str | os.PathLike[str],
    chunk_size: int,
    *,
    camera: str | None = None,
    raw_coordinates: bool = False,
) -> Iterator[EventStream]:
    """Read an AEDAT 2.0 file in chunks of at most ``chunk_size`` records, with bounded memory.

    When the chip is unknown, a first pass over the file finds the sensor size so that every
    chunk carries the same one.
    """
    path = Path(path)
    events_iter, sensor_size = _iter_events(path, chunk_size, camera, raw_coordinates)
    if sensor_size is None:
        width, height = 1, 1
        for events in events_iter:
            if len(events):
                width = max(width, int(events["x"].max()) + 1)
                height = max(height, int(events["y"].max()) + 1)
        sensor_size = (width, height)
        events_iter, _ = _iter_events(path, chunk_size, camera, raw_coordinates)
    yielded = False
    for events in events_iter:
        if len(events):
            yielded = True
            yield EventStream(events, sensor_size, path=os.fspath(path))
    if not yielded:
        yield EventStream(np.zeros(0, dtype=EVENT_DTYPE), sensor_size, path=os.fspath(path))
