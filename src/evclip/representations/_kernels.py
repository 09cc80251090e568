"""Inner loops of the representations: pure-numpy kernels, and the dispatch to their numba twins.

Every public kernel here takes the event columns as (possibly strided, unaligned) views of the
packed events array, so no column is ever copied. The numpy versions and the numba versions (in
:mod:`._numba_kernels`) give the same results (counts exactly, floats to rounding).

numba is imported on first need only, never by importing this module: it costs about 1.5 s once
per process (importing it, then loading the first kernel from numba's disk cache; each further
kernel takes some 15 ms), which numba's speed repays only over many events, and over how many
depends on the kernel. The rule, with :data:`USE_NUMBA` left at ``None``:

    Each call is charged its number of events divided by its kernel's
    :data:`NUMBA_BREAK_EVEN`: the events over which numba's saving per event, against numpy,
    adds up to its start-up cost. Calls run on numpy while the charge summed over this process,
    the current call's included, stays below 1. The call that reaches 1 imports numba, and from
    then on every kernel runs on numba.

So ``evclip render`` of a small file never imports numba, a single long stream goes to numba at
once, and a training loop over many small samples switches after a bounded detour through numpy
(at most about the start-up cost). ``USE_NUMBA = True`` runs numba whatever the size (tests,
benchmarks); ``False`` (the environment variable ``EVCLIP_NO_NUMBA=1``, or numba not installed)
never imports it.

Coordinates are checked inside the kernels (numba does not bounds-check, and wraps negative
indices): an event outside the sensor, negative coordinates included, raises ``ValueError``
instead of writing outside the output. The voxel grid, the one kernel that indexes by time, also
rejects timestamps outside [first, last], which only an unsorted stream has.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import threading
import types

import numpy as np

#: Whether numba (the optional ``fast`` extra) can be imported; found without importing it.
NUMBA_INSTALLED: bool = importlib.util.find_spec("numba") is not None

#: ``None``: numba by the charge rule of the module docstring; ``True``: always numba (tests flip
#: it to check both paths); ``False``: never.
USE_NUMBA: bool | None = (
    None if NUMBA_INSTALLED and os.environ.get("EVCLIP_NO_NUMBA", "") != "1" else False
)

#: Per kernel, the events that repay numba's start-up (about 1.5 s) by its saving per event over
#: numpy, measured warm on 346x260 random streams: count slices 0.5-1 ns saved per event (numpy's
#: bincount is nearly as fast), voxel grid ~60-90 ns, last timestamps ~250 ns, denoise 1-14 us
#: (numpy's sort-and-search grows faster than linearly: 1 s for 300 k events).
NUMBA_BREAK_EVEN: dict[str, int] = {
    "count_slices": 1 << 28,
    "voxel_grid": 1 << 24,
    "last_times": 1 << 22,
    "supported_events": 1 << 18,
}

#: Streams shorter than this run on one thread: starting the thread pool costs more than it
#: saves, and a parallel region stalls badly where other processes keep the cores busy.
PARALLEL_MIN_EVENTS: int = 1 << 18

_numba_kernels: types.ModuleType | None = None  # ._numba_kernels, once imported
_charge = 0.0  # the numpy calls' charge so far (module docstring)
_thread = threading.local()  # .pending_limit: a limit_threads(n) numba has not yet applied


def __getattr__(name: str):
    """``numba``: the numba module, imported on this first use; ``None`` where not installed."""
    if name == "numba":
        fast = _load_numba() if NUMBA_INSTALLED else None
        return None if fast is None else fast.numba
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _load_numba() -> types.ModuleType | None:
    """:mod:`._numba_kernels`, imported now if need be; ``None`` where numba does not import."""
    global _numba_kernels, USE_NUMBA
    if _numba_kernels is None:
        try:
            from evclip.representations import _numba_kernels as fast
        except ImportError:  # pragma: no cover - a numba that is found but does not import
            USE_NUMBA = False
            return None
        _numba_kernels = fast
    return _numba_kernels


def _numba_for(kernel: str, n_events: int) -> types.ModuleType | None:
    """The numba kernels when this call of ``kernel`` runs on numba, else ``None`` (numpy)."""
    global _charge
    if USE_NUMBA is False:
        return None
    if USE_NUMBA is None and _numba_kernels is None:
        _charge += n_events / NUMBA_BREAK_EVEN[kernel]
        if _charge < 1.0:
            return None
    fast = _load_numba()
    pending = getattr(_thread, "pending_limit", None)
    if fast is not None and pending is not None:
        fast.set_threads(pending)
        _thread.pending_limit = None
    return fast


def limit_threads(n: int = 1) -> None:
    """Let the numba kernels called from this thread use at most ``n`` threads.

    Worker processes (DataLoader workers, synthesis workers) should call this with 1: several
    processes each starting a pool of threads on the same cores run many times slower. It imports
    nothing: where numba is not imported yet, the limit waits for this thread's first numba call.
    """
    n = max(1, int(n))
    if _numba_kernels is not None:
        _numba_kernels.set_threads(n)
    elif "numba" in sys.modules:  # imported by someone else: setting it now costs nothing
        numba = sys.modules["numba"]
        numba.set_num_threads(min(n, numba.config.NUMBA_NUM_THREADS))
    else:
        _thread.pending_limit = n
        return
    _thread.pending_limit = None


def _n_chunks(n_events: int) -> int:
    """How many threads a kernel splits ``n_events`` over (1 below PARALLEL_MIN_EVENTS)."""
    if n_events < PARALLEL_MIN_EVENTS:
        return 1
    threads = _load_numba().numba.get_num_threads()
    return max(1, min(threads, n_events // (PARALLEL_MIN_EVENTS // 4)))


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
    fast = _numba_for("count_slices", x.shape[0])
    if fast is not None:
        serial = _n_chunks(x.shape[0]) == 1
        kernel = fast.count_slices_serial if serial else fast.count_slices_parallel
        out, n_bad = kernel(x, y, p, starts, stops, width, height)
        if n_bad:
            raise _outside_error(int(n_bad), width, height)
        return out
    return _count_slices_numpy(x, y, p, starts, stops, width, height)


# --------------------------------------------------------------------------- voxel grid
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
    fast = _numba_for("voxel_grid", t.shape[0])
    if fast is not None:
        n_chunks = _n_chunks(t.shape[0])
        kernel = fast.voxel_grid_serial if n_chunks == 1 else fast.voxel_grid_parallel
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
    fast = _numba_for("last_times", t.shape[0])
    if fast is not None:
        last, n_bad = fast.last_times(x, y, t, p, width, height, never)
        if n_bad:
            raise _outside_error(int(n_bad), width, height)
        return last
    return _last_times_numpy(x, y, t, p, width, height, never)


# --------------------------------------------------------------------------- denoise
_OFFSETS_4 = ((-1, 0), (1, 0), (0, -1), (0, 1))
_OFFSETS_8 = _OFFSETS_4 + ((-1, -1), (1, -1), (-1, 1), (1, 1))


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
    fast = _numba_for("supported_events", t.shape[0])
    if fast is not None:
        return fast.supported(x, y, t, width, height, float(filter_time), diagonal, never)
    return _supported_numpy(x, y, np.asarray(t), width, height, filter_time, diagonal, never)
