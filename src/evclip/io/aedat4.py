"""AEDAT 4.0 reader (DV recordings: events and APS frames), through the ``aedat`` decoder.

``aedat.Decoder(path)`` iterates packets, dicts with a ``stream_id`` and one of ``events`` (a
structured array t, x, y, on), ``frame``, ``imus`` or ``triggers``; ``id_to_stream()`` gives each
stream's type and, for events and frames, its width and height. The events of the stream with the
smallest id are read (as tonic does), and the frames of the frame stream with the smallest id.

Frames become uint8 RGB images the size of the frame stream: grey frames are repeated into three
channels, 16-bit pixels keep their high byte, alpha is dropped, and a region-of-interest frame is
placed at its offset on a black canvas. A frame's time is the centre of its exposure when the file
gives one, else its timestamp.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from evclip.io._rust import call_decoder, iterate_decoder
from evclip.io.errors import EventFormatError
from evclip.io.events import EventStream, Frames, check_sensor_size, empty_events

_INT64_MAX = np.iinfo(np.int64).max


def _open(path: Path) -> tuple[Any, dict[int, dict[str, Any]]]:
    """Open the ``aedat`` decoder, turning its exceptions into :class:`EventFormatError`."""
    try:
        import aedat
    except ImportError as error:  # pragma: no cover - aedat is a dependency
        raise EventFormatError(path, "reading AEDAT 4 needs the 'aedat' package") from error
    decoder = call_decoder(path, "AEDAT 4", aedat.Decoder, os.fspath(path))
    return decoder, call_decoder(path, "AEDAT 4", decoder.id_to_stream)


def _packets(path: Path, decoder: Any) -> Iterator[dict[str, Any]]:
    return iterate_decoder(path, "AEDAT 4", decoder)


def _first_stream(streams: dict[int, dict[str, Any]], kind: str) -> int | None:
    ids = [i for i, info in streams.items() if info.get("type") == kind]
    return min(ids) if ids else None


def convert_events(packet_events: np.ndarray, path: Path | None = None) -> np.ndarray:
    """Turn an ``aedat`` events array (t uint64, x, y, on) into EVENT_DTYPE."""
    events = empty_events(len(packet_events))
    if len(packet_events) and int(packet_events["t"].max()) > _INT64_MAX:
        raise EventFormatError(path, "event timestamp does not fit in int64")
    events["x"] = packet_events["x"]
    events["y"] = packet_events["y"]
    events["t"] = packet_events["t"]
    events["p"] = packet_events["on"]
    return events


def frame_to_rgb(
    frame: dict[str, Any], canvas_size: tuple[int, int] | None
) -> tuple[int, np.ndarray]:
    """Convert an ``aedat`` frame dict into (time in us, uint8 [H, W, 3] image).

    Args:
        frame: the packet's ``frame`` dict (pixels, format, offsets, timestamps).
        canvas_size: (width, height) of the frame stream; the frame's own size when None.
    """
    pixels = np.asarray(frame["pixels"])
    if pixels.dtype == np.uint16:
        pixels = (pixels >> 8).astype(np.uint8)
    pixels = pixels.astype(np.uint8, copy=False)
    if pixels.ndim == 2:
        pixels = np.repeat(pixels[:, :, None], 3, axis=2)
    rgb = pixels[:, :, :3]
    height, width = rgb.shape[:2]
    canvas_w, canvas_h = canvas_size or (width, height)
    image = np.zeros((canvas_h, canvas_w, 3), dtype=np.uint8)
    x0, y0 = max(int(frame.get("offset_x", 0)), 0), max(int(frame.get("offset_y", 0)), 0)
    w, h = max(min(width, canvas_w - x0), 0), max(min(height, canvas_h - y0), 0)
    image[y0 : y0 + h, x0 : x0 + w] = rgb[:h, :w]
    begin, end = int(frame.get("exposure_begin_t", 0)), int(frame.get("exposure_end_t", 0))
    t = (begin + end) // 2 if end > begin else int(frame["t"])
    return t, image


def _frames(times: list[int], images: list[np.ndarray]) -> Frames:
    if not images:
        return Frames()
    return Frames(np.asarray(times, dtype=np.int64), np.stack(images))


class _Reader:
    """Walks the packets of one file, collecting events of one stream and frames of another."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.decoder, streams = _open(path)
        self.events_id = _first_stream(streams, "events")
        self.frames_id = _first_stream(streams, "frame")
        events_info = streams.get(self.events_id, {}) if self.events_id is not None else {}
        frames_info = streams.get(self.frames_id, {}) if self.frames_id is not None else {}
        self.sensor_size = _size(events_info, path) or _size(frames_info, path)
        self.canvas_size = _size(frames_info, path) or self.sensor_size

    def items(self) -> Iterator[tuple[str, Any]]:
        """Yield ('events', array) and ('frame', (t, image)) in file order."""
        for packet in _packets(self.path, self.decoder):
            stream_id = packet.get("stream_id")
            if "events" in packet and stream_id == self.events_id:
                yield "events", convert_events(packet["events"], self.path)
            elif "frame" in packet and stream_id == self.frames_id:
                yield "frame", frame_to_rgb(packet["frame"], self.canvas_size)


def _size(info: dict[str, Any], path: Path | None = None) -> tuple[int, int] | None:
    """The (width, height) a stream declares, checked before any frame canvas is allocated."""
    width, height = info.get("width"), info.get("height")
    if width and height and int(width) > 0 and int(height) > 0:
        what = f"size declared by its {info.get('type', 'first')} stream"
        return check_sensor_size((int(width), int(height)), path=path, what=what)
    return None


def read(path: str | os.PathLike[str]) -> EventStream:
    """Read the events and frames of a whole AEDAT 4.0 file.

    Returns:
        Events of the first event stream, frames of the first frame stream (uint8 RGB), and the
        sensor size the file declares (inferred from the events when it declares none).

    Raises:
        EventFormatError: wrapping any failure of the ``aedat`` decoder.
    """
    path = Path(path)
    reader = _Reader(path)
    parts: list[np.ndarray] = []
    times: list[int] = []
    images: list[np.ndarray] = []
    for kind, item in reader.items():
        if kind == "events":
            parts.append(item)
        else:
            times.append(item[0])
            images.append(item[1])
    events = np.concatenate(parts) if parts else empty_events()
    size = reader.sensor_size or _infer(events)
    return EventStream(events, size, _frames(times, images), path=os.fspath(path))


def _infer(events: np.ndarray) -> tuple[int, int]:
    if len(events) == 0:
        return (1, 1)
    return (int(events["x"].max()) + 1, int(events["y"].max()) + 1)


def iter_chunks(path: str | os.PathLike[str], chunk_size: int) -> Iterator[EventStream]:
    """Read an AEDAT 4.0 file packet by packet in chunks of at most ``chunk_size`` events.

    Each chunk carries the frames met since the previous chunk. A file that declares no sensor
    size is read twice, the first time to find it.
    """
    path = Path(path)
    reader = _Reader(path)
    size = reader.sensor_size
    if size is None:
        width, height = 1, 1
        for kind, item in reader.items():
            if kind == "events" and len(item):
                width = max(width, int(item["x"].max()) + 1)
                height = max(height, int(item["y"].max()) + 1)
        size = (width, height)
        reader = _Reader(path)
    pending: list[np.ndarray] = []
    count = 0
    times: list[int] = []
    images: list[np.ndarray] = []
    yielded = False
    for kind, item in reader.items():
        if kind == "frame":
            times.append(item[0])
            images.append(item[1])
            continue
        pending.append(item)
        count += len(item)
        if count < chunk_size:
            continue
        joined = np.concatenate(pending)
        full = len(joined) // chunk_size * chunk_size
        for start in range(0, full, chunk_size):
            frames = _frames(times, images)
            times, images = [], []
            yield EventStream(joined[start : start + chunk_size], size, frames, os.fspath(path))
        yielded = True
        pending, count = [joined[full:]], len(joined) - full
    if count or images or not yielded:
        rest = np.concatenate(pending) if pending else empty_events()
        yield EventStream(rest, size, _frames(times, images), os.fspath(path))
