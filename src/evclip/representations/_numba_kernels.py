"""The numba kernels of the representations, imported by :mod:`._kernels` on first need only.

Importing this module imports numba (about half a second), and the first call of one of its
kernels in a process loads numba's compiler from its disk cache (about a second more), which is
why :mod:`._kernels` runs short streams on its numpy twins and comes here only for long ones.

Each kernel returns its result plus the number of events it skipped as outside the sensor (and,
for the voxel grid, outside [t0, t_last]); :mod:`._kernels` turns those into errors. numba does
not bounds-check and wraps negative indices, so the checks are part of the loops.
"""

from __future__ import annotations

import types

import numba
import numpy as np
from numba import njit, prange


def set_threads(n: int) -> None:
    """Let the kernels called from this thread use at most ``n`` threads (at least one)."""
    numba.set_num_threads(max(1, min(int(n), numba.config.NUMBA_NUM_THREADS)))


def _serial_and_parallel(kernel):  # pragma: no cover - runs at import
    """Compile ``kernel`` twice: serially and with ``parallel=True`` (its prange loops threaded).

    The copies need their own names: numba's on-disk cache files are named after the function,
    and its index does not tell the two compilations apart, so one would load the other's code.
    """
    twin = types.FunctionType(
        kernel.__code__, kernel.__globals__, f"{kernel.__name__}_parallel", kernel.__defaults__
    )
    twin.__qualname__ = f"{kernel.__qualname__}_parallel"
    return njit(cache=True)(kernel), njit(cache=True, parallel=True)(twin)


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
count_slices_serial, count_slices_parallel = _serial_and_parallel(_count_slices)


def _voxel_grid(
    x, y, t, p, t0, t_last, factor, n_bins, width, height, n_chunks
):  # pragma: no cover - jitted
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


voxel_grid_serial, voxel_grid_parallel = _serial_and_parallel(_voxel_grid)


@njit(cache=True)
def last_times(x, y, t, p, width, height, never):  # pragma: no cover - jitted
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


@njit(cache=True)
def supported(x, y, t, width, height, filter_time, diagonal, never):  # pragma: no cover - jitted
    """Events inside the sensor only: the caller checks the coordinates first."""
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
