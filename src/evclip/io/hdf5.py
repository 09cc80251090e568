"""HDF5 events in the DSEC layout.

A file holds 1-D datasets ``events/x``, ``events/y``, ``events/t`` (integer microseconds; a float
t is read by the rule of :mod:`evclip.io.time_units`, seconds being converted with a warning),
``events/p`` (0/1), and optionally ``ms_to_idx`` (index of the first event at or after each
millisecond of ``t``) and a scalar ``t_offset``. DSEC stores t relative to the recording start
and puts the start in ``t_offset``; the absolute time of an event is ``t + t_offset``, which is
what this reader returns (``ms_to_idx`` keeps indexing the stored, relative t). ``ms_to_idx`` is
not needed to read events and is ignored here.

Sensor size: the root attribute ``sensor_size`` = (width, height) (evclip's writer stores it) or
attributes ``width`` and ``height``; otherwise DSEC's 640x480, widened when an event lies outside
it. Frames written by evclip live in ``frames/t`` (int64 [N]) and ``frames/images`` (uint8
[N, H, W, 3]).

DSEC files are compressed with filters from ``hdf5plugin``, which is imported when installed.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from evclip.io.errors import EventFormatError, reraise_as_format_errors
from evclip.io.events import EventStream, Frames, check_sensor_size, make_events
from evclip.io.time_units import NO_TIMES, merge_stats, scale_promised_microseconds, time_stats

DSEC_SENSOR = (640, 480)
FIELDS = ("x", "y", "t", "p")
_H5_ERRORS = (OSError, KeyError, RuntimeError, ValueError, TypeError, IndexError, AttributeError)
_INT64 = np.iinfo(np.int64)
_SCAN_BLOCK = 1 << 22


def import_h5py() -> Any:
    """The ``h5py`` module (with ``hdf5plugin`` filters registered when installed).

    Raises:
        ImportError: telling the user how to install the optional readers.
    """
    try:
        import h5py
    except ImportError as error:
        raise ImportError(
            'reading or writing HDF5 events needs h5py: pip install "evclip[readers]"'
        ) from error
    with contextlib.suppress(ImportError):
        import hdf5plugin  # noqa: F401  (registers the compression filters DSEC uses)
    return h5py


def _open(path: Path) -> Any:
    h5py = import_h5py()
    try:
        return h5py.File(path, "r")
    except _H5_ERRORS as error:
        raise EventFormatError(path, f"cannot open as HDF5: {error}") from error


def _event_datasets(handle: Any, path: Path) -> dict[str, Any]:
    """The four ``events/*`` datasets, checked to be 1-D, numeric and of equal length."""
    group = handle.get("events")
    if group is None or not hasattr(group, "keys"):
        raise EventFormatError(path, f"no 'events' group; top-level keys: {sorted(handle)}")
    datasets = {}
    for name in FIELDS:
        dataset = group.get(name)
        if dataset is None or not hasattr(dataset, "shape"):
            raise EventFormatError(
                path, f"missing dataset events/{name}; found: {sorted(group.keys())}"
            )
        if len(dataset.shape) != 1 or dataset.dtype.kind not in "biuf":
            raise EventFormatError(
                path, f"events/{name} must be 1-D numeric, got {dataset.dtype} {dataset.shape}"
            )
        datasets[name] = dataset
    lengths = {name: d.shape[0] for name, d in datasets.items()}
    if len(set(lengths.values())) != 1:
        raise EventFormatError(path, f"events datasets differ in length: {lengths}")
    return datasets


def _t_offset(handle: Any, path: Path) -> int:
    if "t_offset" not in handle:
        return 0
    value = np.asarray(handle["t_offset"][()]).reshape(-1)
    if value.shape != (1,) or value.dtype.kind not in "iu":
        raise EventFormatError(path, f"t_offset must be one integer, got {value!r}")
    offset = int(value[0])
    if not _INT64.min <= offset <= _INT64.max:
        raise EventFormatError(path, f"t_offset {offset} does not fit in int64 microseconds")
    return offset


def _declared_size(handle: Any, path: Path) -> tuple[int, int] | None:
    attrs = handle.attrs
    if "sensor_size" in attrs:
        size = np.asarray(attrs["sensor_size"]).reshape(-1)
    elif "width" in attrs and "height" in attrs:
        size = np.array([attrs["width"], attrs["height"]]).reshape(-1)
    else:
        return None
    if size.shape != (2,) or size.dtype.kind not in "iu" or size.min() <= 0:
        raise EventFormatError(path, f"sensor size attribute must be two positive ints: {size}")
    return check_sensor_size(size, path=path, what="sensor size attribute")


def _t_scale(datasets: dict[str, Any], chunk_size: int, path: Path) -> float:
    """Microseconds per unit of events/t: 1 unless it is a float column of seconds."""
    t = datasets["t"]
    if t.dtype.kind != "f":
        return 1.0
    stats = NO_TIMES
    for start in range(0, t.shape[0], chunk_size):
        stats = merge_stats(stats, time_stats(np.asarray(t[start : start + chunk_size])))
    return scale_promised_microseconds(stats, t.dtype, path)


def _decode(
    datasets: dict[str, Any],
    start: int,
    stop: int,
    offset: int,
    path: Path,
    t_scale: float = 1.0,
) -> np.ndarray:
    """Events ``start:stop`` as an events array: t times ``t_scale``, plus ``offset``."""
    columns = {name: np.asarray(datasets[name][start:stop]) for name in FIELDS}
    t = columns["t"]
    if t.dtype.kind == "f":
        if t.size and not np.isfinite(t).all():
            raise EventFormatError(path, "events/t holds non-finite values")
        t = np.rint(t.astype(np.float64) * t_scale)
    _check_absolute_time(t, offset, start, path)
    t = t.astype(np.int64) + offset
    for name in ("x", "y", "p"):
        column = columns[name]
        if column.dtype.kind == "f" and column.size and not np.isfinite(column).all():
            raise EventFormatError(path, f"events/{name} holds non-finite values")
    return make_events(columns["x"], columns["y"], t, columns["p"], path=path)


def _check_absolute_time(t: np.ndarray, offset: int, start: int, path: Path) -> None:
    """Refuse a t (integral values of any dtype) whose ``t + offset`` leaves int64."""
    if t.size == 0:
        return
    # Python ints: exact for any int64/uint64 value and for the rounded floats
    low, high = int(t.min()), int(t.max())
    if low + offset >= _INT64.min and high + offset <= _INT64.max:
        return
    too_late = high + offset > _INT64.max
    bad, i = (high, np.argmax(t)) if too_late else (low, np.argmin(t))
    raise EventFormatError(
        path,
        f"event {start + int(i)}: events/t {bad} + t_offset {offset} does not fit in int64 "
        "microseconds",
    )


def _frames(handle: Any, path: Path) -> Frames:
    group = handle.get("frames")
    if group is None:
        return Frames()
    if "t" not in group or "images" not in group:
        raise EventFormatError(path, "frames group needs datasets t and images")
    t, images = np.asarray(group["t"][()]), np.asarray(group["images"][()])
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[-1] != 3:
        raise EventFormatError(
            path, f"frames/images must be uint8 [N, H, W, 3], got {images.shape}"
        )
    if t.ndim != 1 or t.shape[0] != images.shape[0] or t.dtype.kind not in "iu":
        raise EventFormatError(path, f"frames/t must be integer [{len(images)}], got {t.shape}")
    return Frames(t.astype(np.int64), images)


def _widen(size: tuple[int, int], events: np.ndarray) -> tuple[int, int]:
    if len(events) == 0:
        return size
    return (max(size[0], int(events["x"].max()) + 1), max(size[1], int(events["y"].max()) + 1))


def read(path: str | os.PathLike[str]) -> EventStream:
    """Read a whole DSEC-layout HDF5 file (t_offset added to every timestamp).

    Raises:
        EventFormatError: for a corrupt or truncated file or a missing or malformed dataset.
        ImportError: when h5py is not installed.
    """
    path = Path(path)
    try:
        with _open(path) as handle:
            datasets = _event_datasets(handle, path)
            n = datasets["t"].shape[0]
            t_scale = _t_scale(datasets, _SCAN_BLOCK, path)
            events = _decode(datasets, 0, n, _t_offset(handle, path), path, t_scale)
            declared = _declared_size(handle, path)
            frames = _frames(handle, path)
    except EventFormatError:
        raise
    except _H5_ERRORS as error:
        raise EventFormatError(path, f"corrupt HDF5 file: {error}") from error
    size = declared or _widen(DSEC_SENSOR, events)
    return EventStream(events, size, frames, os.fspath(path))


def _chunks(path: Path, chunk_size: int) -> Iterator[EventStream]:
    with _open(path) as handle:
        datasets = _event_datasets(handle, path)
        offset = _t_offset(handle, path)
        n = datasets["t"].shape[0]
        size = _declared_size(handle, path)
        if size is None:
            size = DSEC_SENSOR
            for start in range(0, n, chunk_size):
                size = _widen(size, _decode(datasets, start, start + chunk_size, 0, path))
        t_scale = _t_scale(datasets, chunk_size, path)
        frames = _frames(handle, path)
        for start in range(0, max(n, 1), chunk_size):
            events = _decode(datasets, start, start + chunk_size, offset, path, t_scale)
            yield EventStream(events, size, frames if start == 0 else Frames(), os.fspath(path))


def iter_chunks(path: str | os.PathLike[str], chunk_size: int) -> Iterator[EventStream]:
    """Read slices of ``chunk_size`` events; without a declared size a first pass finds it."""
    path = Path(path)
    yield from reraise_as_format_errors(
        path, _chunks(path, chunk_size), _H5_ERRORS, "corrupt HDF5 file"
    )
