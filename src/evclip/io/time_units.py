"""Telling float seconds from microseconds in a ``t`` column.

evclip's timestamps are int64 microseconds, but float columns in the wild hold either unit: the
EST re-release of N-Caltech101 stores seconds, N-ImageNet and evclip's own files microseconds.
One rule decides for every numpy layout: a float column is microseconds when every value is a
whole number and the largest exceeds :data:`MICROSECOND_HINT` (as seconds that would be an
implausible 2.8 hours); any other float column is seconds. Integer columns are always
microseconds. Reading seconds where a layout promises microseconds emits a
:class:`~evclip.io.errors.TimestampUnitWarning`, because rounding them as microseconds would put
every event at t = 0.
"""

from __future__ import annotations

import os
import warnings

import numpy as np

from evclip.io.errors import TimestampUnitWarning

SECONDS_TO_US = 1_000_000
# a float t column whose largest value exceeds this and is integral is microseconds, not seconds
MICROSECOND_HINT = 1e4

# (largest finite |t|, every finite value whole, every value finite)
TimeStats = tuple[float, bool, bool]
NO_TIMES: TimeStats = (0.0, True, True)


def time_stats(t: np.ndarray) -> TimeStats:
    """Largest finite |t|, whether every finite value is whole, whether all are finite."""
    t = np.asarray(t)
    if t.size == 0 or t.dtype.kind not in "biuf":
        return NO_TIMES
    if t.dtype.kind != "f":
        return float(np.abs(t.astype(np.float64)).max()), True, True
    is_finite = np.isfinite(t)
    finite = t[is_finite].astype(np.float64)
    largest = float(np.abs(finite).max()) if finite.size else 0.0
    return largest, bool(np.all(finite == np.round(finite))), bool(is_finite.all())


def merge_stats(a: TimeStats, b: TimeStats) -> TimeStats:
    """Statistics of two blocks read one after the other."""
    return max(a[0], b[0]), a[1] and b[1], a[2] and b[2]


def microseconds_per_unit(stats: TimeStats, dtype: np.dtype) -> float:
    """1 when a column of ``dtype`` with these statistics holds microseconds, 1e6 for seconds.

    A column with non-finite values gets 1: it is rejected when converted, so no guess is made.
    """
    largest, integral, finite = stats
    if dtype.kind != "f" or not finite or largest == 0:
        return 1.0
    if integral and largest > MICROSECOND_HINT:
        return 1.0
    return float(SECONDS_TO_US)


def scale_promised_microseconds(
    stats: TimeStats, dtype: np.dtype, path: str | os.PathLike[str] | None
) -> float:
    """:func:`microseconds_per_unit` for a layout documented as microseconds, warning on seconds.

    Raises:
        TimestampUnitWarning: (as a warning) when the column is taken as seconds.
    """
    scale = microseconds_per_unit(stats, dtype)
    if scale != 1.0:
        largest, integral, _ = stats
        why = "" if integral else ", not whole microseconds"
        warnings.warn(
            f"{os.fspath(path) if path is not None else 'events'}: float t column looks like "
            f"seconds (largest value {largest:g}{why}); multiplied by 1e6 to give microseconds. "
            "Store t as integer microseconds to avoid this guess.",
            TimestampUnitWarning,
            stacklevel=3,
        )
    return scale
