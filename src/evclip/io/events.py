"""The events type used everywhere in evclip.

Events are a numpy structured array with fields x (uint16), y (uint16), t (int64, microseconds)
and p (int8, 1 = ON, 0 = OFF), sorted by t: the same field names as tonic, so the two
interoperate. An :class:`EventStream` bundles the array with the sensor size (width, height) and
whatever intensity/RGB frames the file carries.
"""

from __future__ import annotations

import operator
import os
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from evclip.io.errors import EventFormatError

EVENT_DTYPE = np.dtype([("x", "<u2"), ("y", "<u2"), ("t", "<i8"), ("p", "i1")])
_INT64_LIMIT = 2**63
# No event sensor comes near these (the largest in use are 1280x720 and 1280x960); they leave room
# for simulated events of 8K UHD video (7680x4320) while refusing a corrupt or mistyped size before
# a representation allocates a frame from it (a 65536x65536 float32 frame is 16 GiB).
MAX_SENSOR_SIDE = 8192
MAX_SENSOR_PIXELS = 1 << 25
#: what an unsorted-file error advises; true for every format (chunked reading cannot sort)
SORT_ADVICE = (
    "read_events(path, sort=True), or --sort on the command line, reads the file sorted by time"
)


def _whole_number(value: object) -> int:
    """``value`` as an int when it is an integer or an integral float, else TypeError."""
    if isinstance(value, bool | np.bool_):
        raise TypeError("a boolean is not a size")
    if isinstance(value, float | np.floating):
        if not float(value).is_integer():
            raise TypeError(f"{value} is not a whole number")
        return int(value)
    return operator.index(value)  # type: ignore[arg-type]


def check_sensor_size(
    sensor_size: Sequence[object] | np.ndarray,
    *,
    path: str | os.PathLike[str] | None = None,
    what: str = "sensor size",
) -> tuple[int, int]:
    """A sensor size as ``(width, height)`` ints, checked to be one a real sensor could have.

    Every :class:`EventStream` passes its size through this, so code that allocates frames from
    ``stream.sensor_size`` may rely on it.

    Args:
        sensor_size: (width, height); integral floats are accepted.
        path: file named in the error.
        what: how the message names the size, e.g. "declared sensor size".

    Returns:
        (width, height) as Python ints, each >= 1, at most :data:`MAX_SENSOR_SIDE`, with
        width * height at most :data:`MAX_SENSOR_PIXELS`.

    Raises:
        EventFormatError: for anything else, naming the file and the size.
    """
    try:
        width, height = (_whole_number(v) for v in sensor_size)
    except (TypeError, ValueError):
        raise EventFormatError(
            path, f"{what} must be two whole numbers (width, height), got {sensor_size!r}"
        ) from None
    if width <= 0 or height <= 0:
        raise EventFormatError(path, f"{what} {width}x{height} is not positive")
    if max(width, height) > MAX_SENSOR_SIDE or width * height > MAX_SENSOR_PIXELS:
        raise EventFormatError(
            path,
            f"implausible {what} {width}x{height}: no sensor is that large (the limit is "
            f"{MAX_SENSOR_SIDE} pixels a side and {MAX_SENSOR_PIXELS} pixels in all)",
        )
    return (width, height)


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
        sensor_size: (width, height) in pixels, checked by :func:`check_sensor_size` whenever
            it is set, so a frame allocated from it always has a plausible size.
        frames: frames carried by the file; empty when there are none.
        path: the file the stream was read from, if any.

    Raises:
        EventFormatError: when the sensor size is not plausible (see :func:`check_sensor_size`).
    """

    events: np.ndarray
    sensor_size: tuple[int, int]
    frames: Frames = field(default_factory=Frames)
    path: str | None = None

    def __post_init__(self) -> None:
        self.sensor_size = check_sensor_size(self.sensor_size, path=self.path)

    def __setattr__(self, name: str, value: object) -> None:
        # while __init__ runs, path is not set yet; __post_init__ then checks with the path
        if name == "sensor_size" and "path" in self.__dict__:
            value = check_sensor_size(value, path=self.path)  # type: ignore[arg-type]
        super().__setattr__(name, value)

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

    Polarity may be given as 0/1, -1/+1 or booleans; anything positive becomes 1 (ON). Float
    timestamps are rounded to the nearest microsecond; float coordinates must be whole numbers.

    Raises:
        EventFormatError: when the columns differ in length, a value is not numeric or not
            finite, a coordinate is fractional, negative or does not fit in uint16, or a
            timestamp does not fit in int64.
    """
    cols = {"x": np.asarray(x), "y": np.asarray(y), "t": np.asarray(t), "p": np.asarray(p)}
    lengths = {k: v.reshape(-1).shape[0] for k, v in cols.items()}
    if len(set(lengths.values())) != 1:
        raise EventFormatError(path, f"event columns differ in length: {lengths}")
    out = np.empty(lengths["x"], dtype=EVENT_DTYPE)
    for name in ("x", "y"):
        out[name] = _coordinates(cols[name].reshape(-1), name, path)
    out["t"] = _timestamps(cols["t"].reshape(-1), path)
    polarity = cols["p"].reshape(-1)
    _check_finite(polarity, "p", path)
    out["p"] = polarity > 0
    return out


def _check_finite(column: np.ndarray, name: str, path: str | os.PathLike[str] | None) -> None:
    """Reject non-numeric columns and non-finite floats."""
    if column.dtype.kind not in "biuf":
        raise EventFormatError(path, f"field {name} has non-numeric dtype {column.dtype}")
    if column.size and column.dtype.kind == "f" and not np.isfinite(column).all():
        raise EventFormatError(path, f"field {name} holds non-finite values")


def _coordinates(column: np.ndarray, name: str, path: str | os.PathLike[str] | None) -> np.ndarray:
    """A coordinate column checked to hold whole numbers in uint16's range."""
    _check_finite(column, name, path)
    if column.size and column.dtype.kind == "f" and not np.array_equal(column, np.rint(column)):
        i = int(np.flatnonzero(column != np.rint(column))[0])
        raise EventFormatError(path, f"field {name} holds a fractional value {column[i]}")
    if column.size and (column.min() < 0 or column.max() > np.iinfo(np.uint16).max):
        raise EventFormatError(
            path, f"field {name} out of range [{column.min()}, {column.max()}] for uint16"
        )
    return column


def _timestamps(column: np.ndarray, path: str | os.PathLike[str] | None) -> np.ndarray:
    """A timestamp column as int64 microseconds, floats rounded to the nearest one."""
    _check_finite(column, "t", path)
    if column.size and column.dtype.kind == "f":
        column = np.rint(column)
        if np.abs(column).max() >= _INT64_LIMIT:
            raise EventFormatError(path, "field t holds values too large for int64")
    elif column.size and column.dtype.kind == "u" and int(column.max()) >= _INT64_LIMIT:
        raise EventFormatError(path, "field t holds values too large for int64")
    return column.astype(np.int64)


def check_events(
    events: np.ndarray,
    sensor_size: tuple[int, int] | None,
    *,
    path: str | os.PathLike[str] | None = None,
    previous_t: int | None = None,
    first_index: int = 0,
) -> None:
    """Check that events are time-sorted and inside the sensor.

    Args:
        events: events array of :data:`EVENT_DTYPE`.
        sensor_size: (width, height); None skips the coordinate check.
        path: file named in the error message.
        previous_t: last timestamp of the preceding chunk, for chunked reading.
        first_index: index in the file of ``events[0]``, so that messages about a chunk name
            the event's place in the whole file.

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
            path,
            f"timestamps are not sorted: event {first_index} has t={t[0]} after t={previous_t} "
            f"({SORT_ADVICE})",
        )
    bad = np.flatnonzero(t[1:] < t[:-1])
    if bad.size:
        i = int(bad[0]) + 1
        raise EventFormatError(
            path,
            f"timestamps are not sorted: event {first_index + i} has t={t[i]} after t={t[i - 1]} "
            f"({SORT_ADVICE})",
        )
    if sensor_size is not None:
        width, height = sensor_size
        for name, limit in (("x", width), ("y", height)):
            over = np.flatnonzero(events[name] >= limit)
            if over.size:
                i = int(over[0])
                raise EventFormatError(
                    path,
                    f"event {first_index + i} has {name}={events[name][i]} outside the sensor size "
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
