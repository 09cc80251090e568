"""The events type used everywhere in evclip.

Events are a numpy structured array with fields x (uint16), y (uint16), t (int64, microseconds)
and p (int8, 1 = ON, 0 = OFF), sorted by t: the same field names as tonic, so the two
interoperate. An :class:`EventStream` bundles the array with the sensor size (width, height) and
whatever intensity/RGB frames the file carries.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np

from evclip.io.errors import EventFormatError

EVENT_DTYPE = np.dtype([("x", "<u2"), ("y", "<u2"), ("t", "<i8"), ("p", "i1")])


def empty_events(n: int = 0) -> np.ndarray:
    """Return a zero-filled events array of length ``n``."""
    return np.zeros(n, dtype=EVENT_DTYPE)


@dataclass
class Frames:
    """Intensity or RGB frames stored beside the events.

    Attributes:
        t: int64 [N] timestamps in microseconds (frame start or exposure centre, per format).
        images: uint8 [N, H, W, 3] images.
    """

    t: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    images: np.ndarray = field(default_factory=lambda: np.zeros((0, 0, 0, 3), dtype=np.uint8))

    def __len__(self) -> int:
        return int(self.t.shape[0])


@dataclass
class EventStream:
    """Events plus the sensor they came from.

    Attributes:
        events: structured array of :data:`EVENT_DTYPE`, sorted by t.
        sensor_size: (width, height) in pixels.
        frames: frames carried by the file; empty when there are none.
        path: the file the stream was read from, if any.
    """

    events: np.ndarray
    sensor_size: tuple[int, int]
    frames: Frames = field(default_factory=Frames)
    path: str | None = None

    def __len__(self) -> int:
        return int(self.events.shape[0])

    @property
    def width(self) -> int:
        return int(self.sensor_size[0])

    @property
    def height(self) -> int:
        return int(self.sensor_size[1])

    @property
    def duration(self) -> int:
        """Microseconds between the first and the last event (0 when fewer than two)."""
        if len(self) < 2:
            return 0
        return int(self.events["t"][-1] - self.events["t"][0])


def make_events(
    x: np.ndarray,
    y: np.ndarray,
    t: np.ndarray,
    p: np.ndarray,
    *,
    path: str | os.PathLike[str] | None = None,
) -> np.ndarray:
    """Build an events array from four columns, checking that values fit the field types.

    Polarity may be given as 0/1, -1/+1 or booleans; anything positive becomes 1 (ON).

    Raises:
        EventFormatError: when the columns differ in length, a coordinate is negative or does not
            fit in uint16, or a value is not finite.
    """
    cols = {"x": np.asarray(x), "y": np.asarray(y), "t": np.asarray(t), "p": np.asarray(p)}
    lengths = {k: v.reshape(-1).shape[0] for k, v in cols.items()}
    if len(set(lengths.values())) != 1:
        raise EventFormatError(path, f"event columns differ in length: {lengths}")
    out = np.empty(lengths["x"], dtype=EVENT_DTYPE)
    for name in ("x", "y"):
        col = cols[name].reshape(-1)
        if col.size and col.dtype.kind == "f" and not np.isfinite(col).all():
            raise EventFormatError(path, f"field {name} holds non-finite values")
        if col.size and (col.min() < 0 or col.max() > np.iinfo(np.uint16).max):
            raise EventFormatError(
                path, f"field {name} out of range [{col.min()}, {col.max()}] for uint16"
            )
        out[name] = col
    t_col = cols["t"].reshape(-1)
    if t_col.size and t_col.dtype.kind == "f" and not np.isfinite(t_col).all():
        raise EventFormatError(path, "field t holds non-finite values")
    out["t"] = t_col
    out["p"] = cols["p"].reshape(-1) > 0
    return out


def check_events(
    events: np.ndarray,
    sensor_size: tuple[int, int] | None,
    *,
    path: str | os.PathLike[str] | None = None,
    previous_t: int | None = None,
) -> None:
    """Check that events are time-sorted and inside the sensor.

    Args:
        events: events array of :data:`EVENT_DTYPE`.
        sensor_size: (width, height); None skips the coordinate check.
        path: file named in the error message.
        previous_t: last timestamp of the preceding chunk, for chunked reading.

    Raises:
        EventFormatError: naming the first offending event.
    """
    if events.dtype != EVENT_DTYPE:
        raise EventFormatError(path, f"events have dtype {events.dtype}, expected {EVENT_DTYPE}")
    if len(events) == 0:
        return
    t = events["t"]
    if previous_t is not None and t[0] < previous_t:
        raise EventFormatError(
            path, f"timestamps are not sorted: {t[0]} follows {previous_t} across a chunk boundary"
        )
    bad = np.flatnonzero(t[1:] < t[:-1])
    if bad.size:
        i = int(bad[0]) + 1
        raise EventFormatError(
            path,
            f"timestamps are not sorted: event {i} has t={t[i]} after t={t[i - 1]} "
            "(pass sort=True to sort them)",
        )
    if sensor_size is not None:
        width, height = sensor_size
        for name, limit in (("x", width), ("y", height)):
            over = np.flatnonzero(events[name] >= limit)
            if over.size:
                i = int(over[0])
                raise EventFormatError(
                    path,
                    f"event {i} has {name}={events[name][i]} outside the sensor size "
                    f"{width}x{height} ({over.size} such events)",
                )


def infer_sensor_size(events: np.ndarray) -> tuple[int, int]:
    """Smallest (width, height) that holds every event (1x1 for an empty array)."""
    if len(events) == 0:
        return (1, 1)
    return (int(events["x"].max()) + 1, int(events["y"].max()) + 1)


def sort_events(events: np.ndarray) -> np.ndarray:
    """Return a copy sorted by timestamp (stable, so equal times keep their order)."""
    return events[np.argsort(events["t"], kind="stable")]
