"""Inner loops of the representations: numba kernels and their pure-numpy twins.

Every public kernel here takes the event columns as (possibly strided, unaligned) views of the
packed events array, so no column is ever copied. The numba versions run when numba imports and
the environment variable ``EVCLIP_NO_NUMBA`` is not ``1``; the numpy versions give the same
results (counts exactly, floats to rounding) and are what tests compare against.

Coordinates are checked inside the kernels (numba does not bounds-check, and wraps negative
indices): an event outside the sensor, negative coordinates included, raises ``ValueError``
instead of writing outside the output. The voxel grid, the one kernel that indexes by time, also
rejects timestamps outside [first, last], which only an unsorted stream has.
"""

from __future__ import annotations

import os
import types

import numpy as np

try:  # numba is optional: the `fast` extra
    import numba
    from numba import njit, prange
except ImportError:  # pragma: no cover - exercised only where numba is absent
    numba = None

#: Whether the dispatchers below call the numba kernels. Tests flip it to check both paths.
USE_NUMBA: bool = numba is not None and os.environ.get("EVCLIP_NO_NUMBA", "") != "1"

#: Streams shorter than this run on one thread: starting the thread pool costs more than it
#: saves, and a parallel region stalls badly where other processes keep the cores busy.
PARALLEL_MIN_EVENTS: int = 1 << 18


def limit_threads(n: int = 1) -> None:
    """Let the numba kernels called from this thread use at most ``n`` threads.

    Worker processes (DataLoader workers, synthesis workers) should call this with 1: several
    processes each starting a pool of threads on the same cores run many times slower.
    """
    if numba is not None:
        numba.set_num_threads(max(1, min(int(n), numba.config.NUMBA_NUM_THREADS)))


def _serial_and_parallel(kernel):  # pragma: no cover - needs numba
    """Compile ``kernel`` twice: serially and with ``parallel=True`` (its prange loops threaded).

    The copies need their own names: numba's on-disk cache files are named after the function,
    and its index does not tell the two compilations apart, so one would load the other's code.
    """
    twin = types.FunctionType(
        kernel.__code__, kernel.__globals__, f"{kernel.__name__}_parallel", kernel.__defaults__
    )
    twin.__qualname__ = f"{kernel.__qualname__}_parallel"
    return njit(cache=True)(kernel), njit(cache=True, parallel=True)(twin)


def _n_chunks(n_events: int) -> int:
    """How many threads a kernel splits ``n_events`` over (1 below PARALLEL_MIN_EVENTS)."""
    if n_events < PARALLEL_MIN_EVENTS:
        return 1
    return max(1, min(numba.get_num_threads(), n_events // (PARALLEL_MIN_EVENTS // 4)))


def _outside_error(n_bad: int, width: int, height: int) -> ValueError:
    return ValueError(
        f"{n_bad} events lie outside the sensor size {width}x{height}; "
        "pass the sensor size the events were recorded with"
    )


def _unsorted_error(n_bad: int) -> ValueError:
    return ValueError(
        f"{n_bad} events lie before the first or after the last event's timestamp; "
        "events must be sorted by time"
    )


def _check_inside_numpy(x: np.ndarray, y: np.ndarray, width: int, height: int) -> None:
    if not x.size:
        return
    outside = int(x.max()) >= width or int(y.max()) >= height
    signed = x.dtype.kind == "i" or y.dtype.kind == "i"
    if outside or (signed and (int(x.min()) < 0 or int(y.min()) < 0)):
        n_bad = int(np.count_nonzero((x < 0) | (y < 0) | (x >= width) | (y >= height)))
        raise _outside_error(n_bad, width, height)


# --------------------------------------------------------------------------- count slices
if numba is not None:

    def _count_slices(x, y, p, starts, stops, width, height):  # pragma: no cover - jitted
        n_slices = starts.shape[0]
        out = np.zeros((n_slices, 2, height, width), np.int32)
        bad = np.zeros(n_slices, np.int64)
        for s in prange(n_slices):
            frame = out[s]
            for i in range(starts[s], stops[s]):
                xi = np.int64(x[i])
                yi = np.int64(y[i])
                if xi < 0 or yi < 0 or xi >= width or yi >= height:
                    bad[s] += 1
                    continue
                frame[1 if p[i] > 0 else 0, yi, xi] += 1
        return out, bad.sum()

    # prange is range in the serial compilation
    _count_slices_serial, _count_slices_parallel = _serial_and_parallel(_count_slices)


def _count_slices_numpy(x, y, p, starts, stops, width, height):
    out = np.zeros((len(starts), 2, height, width), np.int32)
    plane = height * width
    # int32 indices halve the memory traffic; only sensors past 2**30 pixels need int64
    index_type = np.int32 if 2 * plane < 2**31 else np.int64
    for s, (start, stop) in enumerate(zip(starts.tolist(), stops.tolist(), strict=True)):
        if stop <= start:
            continue
        xs, ys, ps = x[start:stop], y[start:stop], p[start:stop]
        _check_inside_numpy(xs, ys, width, height)
        index = ys.astype(index_type) * index_type(width)
        index += xs
        index += (ps > 0).astype(index_type) * index_type(plane)
        out[s] = np.bincount(index, minlength=2 * plane).reshape(2, height, width)
    return out


def count_slices(
    x: np.ndarray,
    y: np.ndarray,
    p: np.ndarray,
    starts: np.ndarray,
    stops: np.ndarray,
    width: int,
    height: int,
) -> np.ndarray:
    """Per-polarity event counts of the index slices [starts[i], stops[i]).

    Returns:
        int32 [len(starts), 2, height, width]; channel 0 counts p <= 0 (OFF), channel 1 p > 0 (ON).
    """
    starts = np.ascontiguousarray(starts, dtype=np.int64)
    stops = np.ascontiguousarray(stops, dtype=np.int64)
    if USE_NUMBA:
        serial = _n_chunks(x.shape[0]) == 1
        kernel = _count_slices_serial if serial else _count_slices_parallel
        out, n_bad = kernel(x, y, p, starts, stops, width, height)
        if n_bad:
            raise _outside_error(int(n_bad), width, height)
        return out
    return _count_slices_numpy(x, y, p, starts, stops, width, height)


# --------------------------------------------------------------------------- voxel grid
if numba is not None:

    def _voxel_grid_kernel(
        x, y, t, p, t0, t_last, factor, n_bins, width, height, n_chunks
    ):  # pragma: no cover
        n = t.shape[0]
        # private grids: each chunk of events scatters into its own copy, no atomics needed
        grids = np.zeros((n_chunks, n_bins, height, width), np.float32)
        bad = np.zeros(n_chunks, np.int64)
        unsorted = np.zeros(n_chunks, np.int64)
        for c in prange(n_chunks):
            grid = grids[c]
            for i in range(n * c // n_chunks, n * (c + 1) // n_chunks):
                xi = np.int64(x[i])
                yi = np.int64(y[i])
                if xi < 0 or yi < 0 or xi >= width or yi >= height:
                    bad[c] += 1
                    continue
                if t[i] < t0 or t[i] > t_last:  # a negative bin would write before the grid
                    unsorted[c] += 1
                    continue
                ts = (np.float64(t[i]) - np.float64(t0)) * factor
                bin_left = np.int64(ts)
                frac = ts - bin_left
                sign = 1.0 if p[i] > 0 else -1.0
                if bin_left < n_bins:
                    grid[bin_left, yi, xi] += sign * (1.0 - frac)
                if bin_left + 1 < n_bins:
                    grid[bin_left + 1, yi, xi] += sign * frac
        out = grids[0].copy()
        for c in range(1, n_chunks):
            out += grids[c]
        return out, bad.sum(), unsorted.sum()

    _voxel_grid_serial, _voxel_grid_parallel = _serial_and_parallel(_voxel_grid_kernel)


def _voxel_grid_numpy(x, y, t, p, t0, t_last, span, scale, n_bins, width, height):
    _check_inside_numpy(x, y, width, height)
    if t.size and (int(t.min()) < t0 or int(t.max()) > t_last):
        raise _unsorted_error(int(np.count_nonzero((t < t0) | (t > t_last))))
    ts = scale * (t.astype(np.float64) - np.float64(t0)) / span  # [N] in [0, scale]
    bin_left = ts.astype(np.int64)
    frac = ts - bin_left
    sign = np.where(p > 0, 1.0, -1.0)
    plane = height * width
    index = bin_left * plane + (y.astype(np.int64) * width + x)  # [N] flat voxel of the left bin
    # bins run up to n_bins + 1 (scale <= n_bins): count them all, then drop the overflow
    length = (n_bins + 2) * plane
    grid = np.bincount(index, weights=sign * (1.0 - frac), minlength=length)
    grid += np.bincount(index + plane, weights=sign * frac, minlength=length)
    grid = grid[: n_bins * plane]
    return grid.reshape(n_bins, height, width).astype(np.float32)


def voxel_grid(x, y, t, p, t0, t_last, span, scale, n_bins, width, height) -> np.ndarray:
    """Bilinear-in-time voxel grid, float32 [n_bins, height, width].

    Each event's normalised time is ``scale * (t - t0) / span``; it adds ``sign * (1 - frac)`` to
    bin ``floor`` and ``sign * frac`` to the next bin, dropping weight past the last bin.

    Raises:
        ValueError: for an event outside the sensor, or a timestamp outside [t0, t_last].
    """
    if USE_NUMBA:
        n_chunks = _n_chunks(t.shape[0])
        kernel = _voxel_grid_serial if n_chunks == 1 else _voxel_grid_parallel
        # one multiply per event instead of a divide; bilinear weights are continuous in time,
        # so the last-bit difference from dividing moves at most a rounding error of weight
        factor = float(scale) / float(span)
        out, n_bad, n_unsorted = kernel(
            x, y, t, p, t0, t_last, factor, n_bins, width, height, n_chunks
        )
        if n_bad:
            raise _outside_error(int(n_bad), width, height)
        if n_unsorted:
            raise _unsorted_error(int(n_unsorted))
        return out
    return _voxel_grid_numpy(
        x, y, t, p, t0, t_last, float(span), float(scale), n_bins, width, height
    )


# --------------------------------------------------------------------------- last timestamps
if numba is not None:

    @njit(cache=True)
    def _last_times_numba(x, y, t, p, width, height, never):  # pragma: no cover - jitted
        last = np.full((2, height, width), never, np.int64)
        n_bad = 0
        for i in range(t.shape[0]):
            xi = np.int64(x[i])
            yi = np.int64(y[i])
            if xi < 0 or yi < 0 or xi >= width or yi >= height:
                n_bad += 1
                continue
            last[1 if p[i] > 0 else 0, yi, xi] = t[i]  # time-sorted: the last write is the latest
        return last, n_bad


def _last_times_numpy(x, y, t, p, width, height, never):
    _check_inside_numpy(x, y, width, height)
    last = np.full(2 * height * width, never, np.int64)
    index = (p > 0).astype(np.int64) * (height * width) + y.astype(np.int64) * width + x
    # the last occurrence of each index is the first one in the reversed array
    unique, first_reversed = np.unique(index[::-1], return_index=True)
    last[unique] = t[::-1][first_reversed]
    return last.reshape(2, height, width)


def last_times(x, y, t, p, width, height, never: int) -> np.ndarray:
    """Latest timestamp per polarity and pixel, int64 [2, height, width]; ``never`` where none."""
    if USE_NUMBA:
        last, n_bad = _last_times_numba(x, y, t, p, width, height, never)
        if n_bad:
            raise _outside_error(int(n_bad), width, height)
        return last
    return _last_times_numpy(x, y, t, p, width, height, never)


# --------------------------------------------------------------------------- denoise
_OFFSETS_4 = ((-1, 0), (1, 0), (0, -1), (0, 1))
_OFFSETS_8 = _OFFSETS_4 + ((-1, -1), (1, -1), (-1, 1), (1, 1))

if numba is not None:

    @njit(cache=True)
    def _supported_numba(x, y, t, width, height, filter_time, diagonal, never):  # pragma: no cover
        last = np.full((height + 2, width + 2), never, np.int64)  # one pixel of padding all round
        keep = np.zeros(t.shape[0], np.bool_)
        for i in range(t.shape[0]):
            xi = np.int64(x[i]) + 1
            yi = np.int64(y[i]) + 1
            ti = t[i]
            last[yi, xi] = ti
            recent = max(last[yi, xi - 1], last[yi, xi + 1], last[yi - 1, xi], last[yi + 1, xi])
            if diagonal:
                recent = max(
                    recent,
                    last[yi - 1, xi - 1],
                    last[yi - 1, xi + 1],
                    last[yi + 1, xi - 1],
                    last[yi + 1, xi + 1],
                )
            keep[i] = ti - recent < filter_time
        return keep


def _supported_numpy(x, y, t, width, height, filter_time, diagonal, never):
    n = t.shape[0]
    xs = x.astype(np.int64)
    ys = y.astype(np.int64)
    order = np.arange(n, dtype=np.int64)
    # key = pixel * n + index sorts events by pixel, then by arrival
    keys = np.sort((ys * width + xs) * n + order)
    recent = np.full(n, never, np.int64)
    for dx, dy in _OFFSETS_8 if diagonal else _OFFSETS_4:
        nx, ny = xs + dx, ys + dy
        inside = (nx >= 0) & (nx < width) & (ny >= 0) & (ny < height)
        neighbour = ny * width + nx
        pos = np.searchsorted(keys, neighbour * n + order) - 1  # latest earlier key at or below
        found = keys[np.maximum(pos, 0)]
        same_pixel = inside & (pos >= 0) & (found // n == neighbour)
        recent = np.where(same_pixel, np.maximum(recent, t[found % n]), recent)
    return t - recent < filter_time


def supported_events(x, y, t, width, height, filter_time, diagonal: bool) -> np.ndarray:
    """bool [N]: True where a neighbouring pixel fired less than ``filter_time`` before (or at
    the same time, earlier in the array)."""
    if t.shape[0] == 0:
        return np.zeros(0, np.bool_)
    _check_inside_numpy(x, y, width, height)
    never = int(t[0]) - int(np.ceil(filter_time)) - 1  # t - never > filter_time for every event
    if USE_NUMBA:
        return _supported_numba(x, y, t, width, height, float(filter_time), diagonal, never)
    return _supported_numpy(x, y, np.asarray(t), width, height, filter_time, diagonal, never)
