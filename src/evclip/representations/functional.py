"""Events to tensors: count frames, voxel grids, time surfaces, and event filters.

Pure functions: ``events`` is a time-sorted structured array of
:data:`evclip.io.events.EVENT_DTYPE`, ``sensor_size`` is (width, height), nothing passed in is
modified, and every result is a new array. Count channels follow tonic's
``ToFrame(sensor_size=(W, H, 2))``: channel 0 counts OFF events (p = 0), channel 1 ON events.
"""

from __future__ import annotations

import numpy as np

from evclip.io.events import EVENT_DTYPE, check_sensor_size
from evclip.representations import _kernels, slicing

#: The dtype kinds each field may have: integer coordinates and timestamps, any polarity that
#: compares with 0 (bool, 0/1, -1/+1).
_FIELD_KINDS = {"x": "iu", "y": "iu", "t": "iu", "p": "biuf"}


def _columns(events: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """x, y, t, p after checking the dtype: views, no copies, for native-endian fields.

    A field in non-native byte order (e.g. from a ``.npy`` written on another machine) is
    converted, since the numba kernels would read its bytes as native ones.
    """
    if not isinstance(events, np.ndarray) or events.dtype.names is None:
        raise ValueError(f"events must be a structured array of {EVENT_DTYPE}, got {type(events)}")
    missing = {"x", "y", "t", "p"} - set(events.dtype.names)
    if missing or events.ndim != 1:
        raise ValueError(f"events must be a 1-D array with fields x, y, t, p; got {events.dtype}")
    columns = []
    for name, kinds in _FIELD_KINDS.items():
        column = events[name]
        if column.dtype.kind not in kinds or column.ndim != 1:
            raise ValueError(
                f"field {name} must be a scalar of kind {kinds!r} (x, y, t integers, t in "
                f"microseconds), got {column.dtype}; convert with evclip.io.make_events"
            )
        if not column.dtype.isnative:
            column = column.astype(column.dtype.newbyteorder("="))
        columns.append(column)
    x, y, t, p = columns
    return x, y, t, p


def _size(sensor_size: tuple[int, int]) -> tuple[int, int]:
    # The same plausibility check as EventStream: never allocate frames from an unchecked size.
    return check_sensor_size(sensor_size[:2])


def count_slices(
    events: np.ndarray, sensor_size: tuple[int, int], slices: np.ndarray
) -> np.ndarray:
    """Per-polarity counts of the events in each index slice ``events[start:stop]``.

    Args:
        events: time-sorted events.
        sensor_size: (width, height).
        slices: int [n, 2] (start, stop) rows, e.g. from :mod:`evclip.representations.slicing`.

    Returns:
        int32 [n, 2, H, W]; channel 0 OFF, channel 1 ON.
    """
    x, y, _, p = _columns(events)
    width, height = _size(sensor_size)
    bounds = np.asarray(slices, dtype=np.int64).reshape(-1, 2)
    bounds = np.clip(bounds, 0, len(events))
    return _kernels.count_slices(x, y, p, bounds[:, 0], bounds[:, 1], width, height)


def count_frames(
    events: np.ndarray,
    sensor_size: tuple[int, int],
    n_frames: int,
    by: str = "time",
    *,
    overlap: float = 0.0,
) -> np.ndarray:
    """Event counts in ``n_frames`` windows, equal to tonic's ``ToFrame`` with ``n_time_bins``
    (``by="time"``) or ``n_event_bins`` (``by="count"``), edge cases included: the last event of
    a stream never falls in a time bin, and leftover events after the last count bin are dropped.

    Args:
        events: time-sorted events.
        sensor_size: (width, height).
        n_frames: number of frames, at least 1.
        by: "time" for windows of equal duration, "count" for windows of equal event count.
        overlap: fraction of a window shared with the next, in [0, 1).

    Returns:
        int32 [n_frames, 2, H, W]; channel 0 OFF, channel 1 ON. All zeros for an empty stream.
    """
    _, _, t, _ = _columns(events)
    if by == "time":
        bounds = slicing.time_bin_slices(t, n_frames, overlap)
    elif by == "count":
        bounds = slicing.count_bin_slices(len(events), n_frames, overlap)
    else:
        raise ValueError(f"by must be 'time' or 'count', got {by!r}")
    return count_slices(events, sensor_size, bounds)


def frames_at_timestamps(
    events: np.ndarray, sensor_size: tuple[int, int], timestamps: np.ndarray
) -> np.ndarray:
    """Counts of the events in [timestamps[i], timestamps[i + 1]), e.g. between RGB frame times.

    Returns:
        int32 [len(timestamps) - 1, 2, H, W].
    """
    _, _, t, _ = _columns(events)
    return count_slices(events, sensor_size, slicing.timestamp_slices(t, timestamps))


def count_windows(
    events: np.ndarray, sensor_size: tuple[int, int], events_per_window: int, n_windows: int
) -> np.ndarray:
    """Counts of consecutive windows of ``events_per_window`` events (E-CLIP's event input).

    The stream is cut into [0, k), [k, 2k), ...; the first ``n_windows`` windows are kept, the
    last non-empty one may hold fewer than k events, and missing windows are zero frames.

    Returns:
        int32 [n_windows, 2, H, W].
    """
    bounds = slicing.fixed_count_slices(len(events), events_per_window, n_windows)
    return count_slices(events, sensor_size, bounds)


def voxel_grid(
    events: np.ndarray,
    sensor_size: tuple[int, int],
    n_bins: int,
    *,
    tonic_time_scale: bool = True,
) -> np.ndarray:
    """Signed voxel grid with bilinear interpolation in time (Zhu et al. 2019), tonic's formula.

    As tonic's ``ToVoxelGrid``: timestamps are normalised to ``n_bins * (t - t[0]) / (t[-1] -
    t[0])`` in [0, n_bins]; each event adds ``p * (1 - frac)`` to its bin and ``p * frac`` to the
    next, with p = +1 for ON and -1 for OFF, and weight past the last bin is dropped (the last
    event, and part of every event in the last bin).

    Args:
        events: time-sorted events.
        sensor_size: (width, height).
        n_bins: number of time bins, at least 1.
        tonic_time_scale: False normalises to [0, n_bins - 1] instead (E2VID's rule), so that
            every event keeps its full weight.

    Returns:
        float32 [n_bins, H, W]. A stream whose events share one timestamp (tonic divides by zero
        there) puts them all in bin 0 with full weight.

    Raises:
        ValueError: for events outside the sensor, or timestamps before ``t[0]`` or after
            ``t[-1]`` (an unsorted stream).
    """
    x, y, t, p = _columns(events)
    width, height = _size(sensor_size)
    if n_bins < 1:
        raise ValueError(f"n_bins must be at least 1, got {n_bins}")
    if len(events) == 0:
        return np.zeros((n_bins, height, width), np.float32)
    first, last = int(t[0]), int(t[-1])
    span = last - first
    scale = n_bins if tonic_time_scale else n_bins - 1
    return _kernels.voxel_grid(
        x, y, t, p, first, last, max(span, 1), scale if span > 0 else 0, n_bins, width, height
    )


def time_surface(
    events: np.ndarray,
    sensor_size: tuple[int, int],
    tau_us: float,
    *,
    t_ref: int | None = None,
) -> np.ndarray:
    """Exponentially decayed time of the latest event per pixel and polarity.

    Args:
        events: time-sorted events.
        sensor_size: (width, height).
        tau_us: decay time constant in microseconds, > 0.
        t_ref: the time the surface is read at; events after it are ignored. Defaults to the
            last event's timestamp.

    Returns:
        float32 [2, H, W] of ``exp(-(t_ref - t_last) / tau_us)``; 0 where no event fired.
    """
    x, y, t, p = _columns(events)
    width, height = _size(sensor_size)
    if not tau_us > 0:
        raise ValueError(f"tau_us must be positive, got {tau_us}")
    if len(events) == 0:
        return np.zeros((2, height, width), np.float32)
    reference = int(t[-1]) if t_ref is None else int(t_ref)
    stop = int(slicing.search_sorted(t, np.array([reference]), side="right")[0])
    never = np.iinfo(np.int64).min
    last = _kernels.last_times(x[:stop], y[:stop], t[:stop], p[:stop], width, height, never)
    fired = last != never
    age = np.where(fired, reference - last, 0).astype(np.float64)
    return np.where(fired, np.exp(-age / tau_us), 0.0).astype(np.float32)


def denoise(
    events: np.ndarray,
    sensor_size: tuple[int, int],
    *,
    filter_time_us: float,
    connectivity: int = 8,
) -> np.ndarray:
    """Background-activity filter: keep an event only if a neighbouring pixel fired less than
    ``filter_time_us`` before it (at the same time counts, when earlier in the array).

    With ``connectivity=4`` this is tonic's ``Denoise`` except for one quirk of tonic's: it treats
    every pixel as having fired at t = 0, so it keeps all events in the first ``filter_time_us``
    microseconds; here a pixel that never fired supports nothing.

    Args:
        events: time-sorted events.
        sensor_size: (width, height).
        filter_time_us: support window in microseconds.
        connectivity: 8 (the default: the 8-neighbourhood) or 4 (left, right, up, down).

    Returns:
        The kept events, a new array in the original order.
    """
    x, y, t, _ = _columns(events)
    width, height = _size(sensor_size)
    if connectivity not in (4, 8):
        raise ValueError(f"connectivity must be 4 or 8, got {connectivity}")
    if not filter_time_us > 0:
        raise ValueError(f"filter_time_us must be positive, got {filter_time_us}")
    keep = _kernels.supported_events(
        x, y, t, width, height, filter_time_us, diagonal=connectivity == 8
    )
    return events[keep]


def pixel_counts(events: np.ndarray, sensor_size: tuple[int, int]) -> np.ndarray:
    """Number of events per pixel, both polarities together. int64 [H, W]."""
    x, y, _, _ = _columns(events)
    width, height = _size(sensor_size)
    _kernels._check_inside_numpy(x, y, width, height)
    index = y.astype(np.int64) * width + x
    return np.bincount(index, minlength=width * height).reshape(height, width)


def hot_pixel_mask(
    events: np.ndarray,
    sensor_size: tuple[int, int],
    *,
    rate_threshold_hz: float | None = None,
    quantile: float | None = None,
) -> np.ndarray:
    """Pixels that fire far more than the rest. Give exactly one criterion.

    Args:
        events: time-sorted events.
        sensor_size: (width, height).
        rate_threshold_hz: hot when the pixel's events per second over the stream's duration
            exceed this (a stream shorter than 1 us counts as 1 us).
        quantile: hot when the pixel's count exceeds this quantile (in [0, 1]) of the counts of
            the pixels that fired.

    Returns:
        bool [H, W], True for hot pixels.
    """
    if (rate_threshold_hz is None) == (quantile is None):
        raise ValueError("give exactly one of rate_threshold_hz and quantile")
    counts = pixel_counts(events, sensor_size)
    if len(events) == 0:
        return np.zeros(counts.shape, bool)
    if rate_threshold_hz is not None:
        duration_s = max(int(events["t"][-1]) - int(events["t"][0]), 1) * 1e-6
        return counts / duration_s > rate_threshold_hz
    if not 0 <= quantile <= 1:
        raise ValueError(f"quantile must be in [0, 1], got {quantile}")
    return counts > np.quantile(counts[counts > 0], quantile)


def remove_hot_pixels(
    events: np.ndarray,
    sensor_size: tuple[int, int],
    *,
    rate_threshold_hz: float | None = None,
    quantile: float | None = None,
) -> np.ndarray:
    """The events whose pixel is not hot (see :func:`hot_pixel_mask`), as a new array."""
    mask = hot_pixel_mask(
        events, sensor_size, rate_threshold_hz=rate_threshold_hz, quantile=quantile
    )
    return events[~mask[events["y"], events["x"]]]
