"""numba kernels for the per-frame event path of the simulator on the CPU.

:func:`crossings` and :func:`fill_events` do what
:func:`~evclip.simulate.functional.crossing_events` and the simulator's timestamping and ordering
do with a dozen torch calls: one pass over the pixels finds the crossings, a radix sort on the
microsecond within the interval puts them in (t, y, x) order, and the events are written straight
into a growing events array (:class:`EventBuffer`). The float32 arithmetic is the torch path's,
operation by operation, so both give the same events; the torch path remains for other devices,
batches of videos, the refractory filter, and machines without numba (or ``EVCLIP_NO_NUMBA=1``).
"""

from __future__ import annotations

import os
from typing import NamedTuple

import numpy as np
import torch

from evclip.io.events import EVENT_DTYPE

try:  # numba is optional: the `fast` extra
    from numba import njit
except ImportError:  # pragma: no cover - exercised only where numba is absent
    njit = None

#: Whether the simulator calls these kernels. Tests flip it to check both paths.
USE_NUMBA: bool = njit is not None and os.environ.get("EVCLIP_NO_NUMBA", "") != "1"

#: Frames this far apart (about 18 minutes) or more go through the torch path: the time within
#: an interval must fit in the 30 free bits of the kernel's sort key.
MAX_INTERVAL_US: int = 2**30


if njit is not None:

    @njit(cache=True)
    def _crossings_numba(
        log0, reference0, log1, reference1, pos_threshold, neg_threshold, width
    ):  # pragma: no cover - jitted
        # Serial on purpose: threads measured no faster here on 2 cores, and a parallel region
        # stalls badly when the cores are busy (synthesis runs one simulator per worker process).
        n = log1.shape[0]
        d0 = np.empty(n, np.float32)
        d1 = np.empty(n, np.float32)
        change = np.empty(n, np.float32)
        reference = np.empty(n, np.float32)
        k = np.empty(n, np.float32)
        zero = np.float32(0.0)
        for i in range(n):  # as crossing_events: floor(|d1| / threshold) crossings (vectorised)
            d0[i] = log0[i] - reference0[i]
            d1[i] = log1[i] - reference1[i]
            pos_k = max(np.floor(d1[i] / pos_threshold[i]), zero)
            neg_k = max(np.floor(-d1[i] / neg_threshold[i]), zero)
            change[i] = pos_k * pos_threshold[i] - neg_k * neg_threshold[i]
            reference[i] = reference1[i] + change[i]
            k[i] = pos_k + neg_k
        firing = np.empty((n + 1, 4), np.int64)  # index, x, y, k of firing pixels
        n_firing = 0
        n_events = 0
        for y in range(n // width):
            for x in range(width):  # branch-free: write every pixel, keep the firing ones
                i = y * width + x
                k_i = np.int64(k[i])
                firing[n_firing, 0] = i
                firing[n_firing, 1] = x
                firing[n_firing, 2] = y
                firing[n_firing, 3] = k_i
                n_firing += k_i != 0
                n_events += k_i
        return Crossings(d0, d1, change, reference, firing[:n_firing], n_events)

    @njit(cache=True, inline="always")
    def _crossing_times(d0_i, d1_i, change_i, k):  # pragma: no cover - jitted
        # (first, step) of the fractions of the interval at which a pixel's k crossings happen:
        # the float32 arithmetic of crossing_events, operation by operation.
        one = np.float32(1.0)
        threshold = abs(change_i) / np.float32(k)  # k is a small integer: exact
        sign = one if d1_i > 0 else -one
        start = d0_i * sign
        span = max(d1_i * sign - start, np.float32(1e-12))
        return (threshold - start) / span, threshold / span

    @njit(cache=True, inline="always")
    def _crossing_t(first, step, j, dt_float, dt_us):  # pragma: no cover - jitted
        fraction = min(max(first + np.float32(j) * step, np.float32(0.0)), np.float32(1.0))
        return min(np.int64(np.rint(fraction * dt_float)), dt_us)

    @njit(cache=True)
    def _fill_numba(
        d0, d1, change, firing, dt_us, t0_us, out, offset, n_events
    ):  # pragma: no cover
        # Every event is packed into one int64, t_rel << 33 | y << 17 | x << 1 | p, in pixel
        # order, which is (y, x) order; a stable LSD radix sort on t_rel (digits of at most 8
        # bits, so that each pass scatters into few enough streams to stay in L1) then gives
        # (t, y, x) order, and its last pass writes the records. About 1.4 times faster than
        # one counting sort over every microsecond of the interval, whose ~1000 write streams
        # miss the cache.
        dt_float = np.float32(dt_us)
        n_bits = 1
        while (1 << n_bits) <= dt_us:
            n_bits += 1
        n_passes = (n_bits + 7) // 8
        digit = (n_bits + n_passes - 1) // n_passes
        mask = (1 << digit) - 1
        start = np.zeros((n_passes, mask + 1), np.int64)  # histograms, then bucket starts
        keys = np.empty(n_events, np.int64)
        e = 0
        for f in range(firing.shape[0]):
            i = firing[f, 0]
            first, step = _crossing_times(d0[i], d1[i], change[i], firing[f, 3])
            packed = (firing[f, 2] << 17) | (firing[f, 1] << 1) | (1 if d1[i] > 0 else 0)
            for j in range(firing[f, 3]):
                t = _crossing_t(first, step, j, dt_float, dt_us)
                keys[e] = (t << 33) | packed
                for q in range(n_passes):
                    start[q, (t >> (q * digit)) & mask] += 1
                e += 1
        spare = np.empty(n_events, np.int64)
        for q in range(n_passes):
            running = offset if q == n_passes - 1 else 0
            for d in range(mask + 1):
                size = start[q, d]
                start[q, d] = running
                running += size
            shift = 33 + q * digit
            last = q == n_passes - 1
            for e in range(n_events):
                key = keys[e]
                d = (key >> shift) & mask
                slot = start[q, d]
                start[q, d] += 1
                if last:
                    out[slot]["x"] = (key >> 1) & 0xFFFF
                    out[slot]["y"] = (key >> 17) & 0xFFFF
                    out[slot]["t"] = t0_us + (key >> 33)
                    out[slot]["p"] = key & 1
                else:
                    spare[slot] = key
            keys, spare = spare, keys


class Crossings(NamedTuple):
    """What :func:`crossings` finds in one interval; arrays are flat over the N pixels.

    Attributes:
        d0, d1: float32 [N] ``log - reference`` at the start and end of the interval.
        change: float32 [N] how far each reference level moves (``+-k * threshold``).
        reference: float32 [N] the reference levels after the interval.
        firing: int64 [P, 4] flat index, x, y and k of each pixel with k > 0, in index order.
        n_events: the sum of k.
    """

    d0: np.ndarray
    d1: np.ndarray
    change: np.ndarray
    reference: np.ndarray
    firing: np.ndarray
    n_events: int


def crossings(
    log0: np.ndarray,
    reference0: np.ndarray,
    log1: np.ndarray,
    reference1: np.ndarray,
    pos_threshold: np.ndarray,
    neg_threshold: np.ndarray,
    width: int,
) -> Crossings:
    """How each pixel's reference moves, which pixels fire, and how many events they fire.

    Args:
        log0, reference0: float32 [N] pixel curve and reference level at the start.
        log1, reference1: float32 [N] the same at the end (the reference after any leak).
        pos_threshold, neg_threshold: float32 [N] per-pixel thresholds.
        width: sensor width (pixels are flat, row by row).
    """
    found = _crossings_numba(
        log0, reference0, log1, reference1, pos_threshold, neg_threshold, width
    )
    return found._replace(n_events=int(found.n_events))


def fill_events(out: np.ndarray, offset: int, found: Crossings, dt_us: int, t0_us: int) -> None:
    """Write the events :func:`crossings` found into ``out[offset : offset + n]``, in (t, y, x).

    Args:
        out: events array (:data:`~evclip.io.EVENT_DTYPE`) with room for them; written in place.
        offset: where the first event goes.
        found: what :func:`crossings` returned for the interval.
        dt_us: length of the interval (microseconds, positive, below :data:`MAX_INTERVAL_US`);
            t0_us: time of its start.
    """
    n_events = found.n_events
    if offset + n_events > len(out):
        raise ValueError(f"no room for {n_events} events at {offset} in {len(out)}")
    if not 0 < dt_us < MAX_INTERVAL_US:
        raise ValueError(f"interval of {dt_us} us outside (0, {MAX_INTERVAL_US}) us")
    _fill_numba(
        found.d0, found.d1, found.change, found.firing, int(dt_us), int(t0_us), out, offset,
        n_events,
    )  # fmt: skip


if njit is not None:

    @njit(cache=True)
    def _lookup_numba(table, values):  # pragma: no cover - jitted
        out = np.empty(values.size, table.dtype)
        for i, value in enumerate(values.ravel()):
            out[i] = table[value]
        return out.reshape(values.shape)


def lookup(table: np.ndarray, values: np.ndarray) -> np.ndarray:
    """``table[values]`` for uint8 values (several times faster than numpy's fancy indexing)."""
    if USE_NUMBA:
        return _lookup_numba(table, np.ascontiguousarray(values))
    return np.take(table, values)


if njit is not None:

    @njit(cache=True)
    def _merge_numba(block, n_crossings, key, x, y, t, p, t0_us, width, height):  # pragma: no cover
        n_pixels = height * width
        c = n_crossings - 1
        for slot in range(block.shape[0] - 1, -1, -1):  # merge from the back, in place
            if c >= 0:
                event = block[c]
                crossing_key = (event["t"] - t0_us) * n_pixels + np.int64(event["y"]) * width
                crossing_key += np.int64(event["x"])
            j = slot - c - 1  # noise events still to place
            if j >= 0 and (c < 0 or key[j] >= crossing_key):  # ties: noise after crossings
                block[slot]["x"] = x[j]
                block[slot]["y"] = y[j]
                block[slot]["t"] = t[j]
                block[slot]["p"] = p[j]
            else:
                block[slot] = block[c]
                c -= 1


def merge_noise(
    block: np.ndarray,
    n_crossings: int,
    key: np.ndarray,
    columns: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    t0_us: int,
    width: int,
    height: int,
) -> None:
    """Merge sorted noise events into ``block``, whose first ``n_crossings`` are sorted crossings.

    Args:
        block: events [n_crossings + M]; the last M slots are overwritten.
        key: int64 [M] ``t_rel * H * W + pixel`` of the noise events, ascending.
        columns: x, y, t (absolute), p of the noise events, in ``key`` order.
    """
    _merge_numba(block, n_crossings, key, *columns, int(t0_us), width, height)


class EventBuffer:
    """A growing events array that the numba path writes each step's events into."""

    def __init__(self, steps: int = 1) -> None:
        self.array = np.empty(0, dtype=EVENT_DTYPE)
        self.size = 0
        self.steps_left = steps  # to guess the final size from the current step's count

    def reserve(self, n: int) -> np.ndarray:
        """Make room for ``n`` more events, count them in, and return the (new) array."""
        self.steps_left = max(self.steps_left - 1, 0)
        if self.size + n > len(self.array):
            guess = self.size + n + int(1.1 * n * self.steps_left)
            grown = np.empty(max(guess, 3 * len(self.array) // 2), dtype=EVENT_DTYPE)
            raw_bytes(grown)[: self.size] = raw_bytes(self.array)[: self.size]
            self.array = grown
        self.size += n
        return self.array

    def events(self) -> np.ndarray:
        """The events written so far (a copy when that frees much unused room)."""
        if self.size >= 0.6 * len(self.array):
            return self.array[: self.size]
        return raw_bytes(self.array)[: self.size].copy().view(EVENT_DTYPE).reshape(-1)


def merge_noise_events(
    block: np.ndarray,
    n_crossings: int,
    noise: tuple[torch.Tensor, torch.Tensor, torch.Tensor],
    dt: int,
    t0: int,
    width: int,
    height: int,
) -> None:
    """Put noise events into ``block[n_crossings:]`` and the block in the torch path's order.

    That order is a stable sort of crossings-then-noise by (t, pixel); the crossings are sorted
    already, so each noise event goes after the crossings whose key is not above its own.
    """
    pixel, fraction, on = noise
    t_rel = torch.round(fraction * torch.tensor(float(dt))).to(torch.int64).clamp_(max=dt)
    key = (t_rel * (height * width) + pixel).numpy()
    order = np.argsort(key, kind="stable")
    pixel = pixel.numpy()[order]
    columns = (
        (pixel % width).astype(np.uint16),
        (pixel // width).astype(np.uint16),
        t0 + t_rel.numpy()[order],
        on.numpy()[order].astype(np.int8),
    )
    merge_noise(block, n_crossings, key[order], columns, t0, width, height)


def raw_bytes(events: np.ndarray) -> np.ndarray:
    """uint8 [E, itemsize] bytes of an events array: numpy copies these far faster than records."""
    return events.view(np.uint8).reshape(len(events), EVENT_DTYPE.itemsize)
