"""Where the windows of a sorted event stream start and stop, as index slices.

Every function returns int64 [n, 2] (start, stop) rows for ``events[start:stop]``. Windows in time
are found by binary search on the sorted timestamps, never by masking the whole stream.
The time- and count-bin rules reproduce tonic's ``SliceByTimeBins`` and ``SliceByEventBins``
exactly, edge cases included (see :func:`time_bin_slices`).
"""

from __future__ import annotations

import bisect

import numpy as np


def search_sorted(t: np.ndarray, values: np.ndarray, side: str = "left") -> np.ndarray:
    """``np.searchsorted(t, values, side)`` without copying a strided ``t``.

    ``np.searchsorted`` copies a non-contiguous array (such as ``events["t"]`` of the packed events
    dtype) before searching; for a handful of values a Python binary search on the view is far
    cheaper than copying millions of timestamps.
    """
    values = np.asarray(values)
    if t.flags.c_contiguous or values.size > 64:
        return np.searchsorted(t, values, side=side).astype(np.int64)
    find = bisect.bisect_left if side == "left" else bisect.bisect_right
    return np.array([find(t, v) for v in values.tolist()], dtype=np.int64).reshape(values.shape)


def time_bin_slices(t: np.ndarray, n_bins: int, overlap: float = 0.0) -> np.ndarray:
    """``n_bins`` windows of equal duration, as tonic's ``ToFrame(n_time_bins=...)`` cuts them.

    The window length is ``(t[-1] - t[0]) // n_bins * (1 + overlap)`` and windows start every
    ``length * (1 - overlap)`` from ``t[0]``; each is half-open, so the last event (and any event
    past ``t[0] + n_bins * length``) falls outside every window, and a stream shorter than
    ``n_bins`` microseconds gives empty windows. These are tonic's rules, kept for equality.

    Args:
        t: int64 [N] sorted timestamps.
        n_bins: number of windows, at least 1.
        overlap: fraction of a window shared with the next, in [0, 1).

    Returns:
        int64 [n_bins, 2] (start, stop) index pairs.
    """
    _check_bins(n_bins, overlap)
    if t.shape[0] == 0:
        return np.zeros((n_bins, 2), np.int64)
    first = int(t[0])
    length = (int(t[-1]) - first) // n_bins * (1 + overlap)
    stride = length * (1 - overlap)
    begins = np.arange(n_bins) * stride + first  # float64 [n_bins], exactly as tonic computes it
    ends = begins + length
    # t is integer, so "first t >= b" is "first t >= ceil(b)": search with exact integers
    bounds = np.ceil(np.concatenate([begins, ends])).astype(np.int64)
    index = search_sorted(t, bounds)
    return np.stack([index[:n_bins], index[n_bins:]], axis=1)


def count_bin_slices(n_events: int, n_bins: int, overlap: float = 0.0) -> np.ndarray:
    """``n_bins`` windows of equal event count, as tonic's ``ToFrame(n_event_bins=...)``.

    Each window holds ``int(n_events // n_bins * (1 + overlap))`` events and windows start every
    ``int(count * (1 - overlap))`` events; the remainder at the end is left out.

    Returns:
        int64 [n_bins, 2] (start, stop) index pairs.
    """
    _check_bins(n_bins, overlap)
    count = int(n_events // n_bins * (1 + overlap))
    stride = int(count * (1 - overlap))
    starts = np.arange(n_bins, dtype=np.int64) * stride
    return np.stack([starts, starts + count], axis=1)


def timestamp_slices(t: np.ndarray, timestamps: np.ndarray) -> np.ndarray:
    """Windows [timestamps[i], timestamps[i + 1]) in time.

    Args:
        t: int64 [N] sorted timestamps.
        timestamps: [M] non-decreasing boundaries in microseconds, M >= 1.

    Returns:
        int64 [M - 1, 2] (start, stop) index pairs.

    Raises:
        ValueError: when the boundaries are not one-dimensional or decrease.
    """
    bounds = np.asarray(timestamps)
    if bounds.ndim != 1 or bounds.shape[0] < 1:
        raise ValueError(f"timestamps must be a non-empty 1-D array, got shape {bounds.shape}")
    if np.any(np.diff(bounds) < 0):
        raise ValueError("timestamps must be non-decreasing")
    if bounds.dtype.kind == "f":
        bounds = np.ceil(bounds)  # integer t: "t >= b" is "t >= ceil(b)"
    index = search_sorted(t, bounds.astype(np.int64))
    return np.stack([index[:-1], index[1:]], axis=1)


def fixed_count_slices(n_events: int, events_per_window: int, n_windows: int) -> np.ndarray:
    """Consecutive windows of ``events_per_window`` events, exactly ``n_windows`` of them.

    Window i is [i * k, (i + 1) * k) clipped to the stream: the last non-empty window may hold
    fewer events, and windows past the end of the stream are empty (the caller's zero padding).

    Returns:
        int64 [n_windows, 2] (start, stop) index pairs.
    """
    if events_per_window < 1 or n_windows < 1:
        raise ValueError(
            f"events_per_window and n_windows must be at least 1, got {events_per_window} and "
            f"{n_windows}"
        )
    starts = np.minimum(np.arange(n_windows, dtype=np.int64) * events_per_window, n_events)
    stops = np.minimum(starts + events_per_window, n_events)
    return np.stack([starts, stops], axis=1)


def _check_bins(n_bins: int, overlap: float) -> None:
    if n_bins < 1:
        raise ValueError(f"the number of frames must be at least 1, got {n_bins}")
    if not 0 <= overlap < 1:
        raise ValueError(f"overlap must be in [0, 1), got {overlap}")
