"""Events stored as numpy files: ``.npz`` archives and ``.npy`` arrays.

``.npz`` layouts (kind ``"npz"``):

- plain: arrays ``x``, ``y``, ``t`` (integer microseconds), ``p`` (0/1, -1/+1 or bool);
  optionally ``sensor_size`` = (width, height), and frames as ``frames_t`` (int64 [N]) plus
  ``frames`` (uint8 [N, H, W, 3]). evclip's own writer produces exactly this (HARDVS's compact
  files are the same without the optional arrays).
- N-ImageNet: ``event_data``, a structured array with fields x, y, t, p; older files use
  x_pos, y_pos, timestamp, polarity, either as fields of ``event_data`` or as separate arrays. Its
  timestamps are microseconds: the authors' loader divides them by 1e6 unconditionally ("Account
  for int-type timestamp") to get seconds. The sensor is 640x480, widened if some event lies
  outside it.

A float ``t`` in either layout is microseconds (rounded) when it looks like them, and seconds
otherwise, converted with a :class:`~evclip.io.errors.TimestampUnitWarning`: the rule of
:mod:`evclip.io.time_units`. Without it, seconds would round to t = 0 for every event.

``.npy`` layouts (kind ``"npy"``):

- a structured array with fields x, y, t (microseconds), p; a float t is read by the same rule
  (and warning) as in an ``.npz``.
- a float [N, 4] array x, y, t, p as in the EST re-release of N-Caltech101, where t is in
  SECONDS; it is converted to int64 microseconds with rounding, without a warning since that
  layout stores seconds. When the t column instead looks like microseconds already (every value
  integral and the largest above 1e4, i.e. an impossible 2.8 hours if read as seconds) it is
  taken as microseconds. Integer [N, 4] arrays are always microseconds.

``iter_chunks`` memory-maps ``.npy`` files and streams ``.npz`` members, so neither is held whole.

Files are always loaded with ``allow_pickle=False``. The sensor size is the stored
``sensor_size`` when present, else inferred from the events.
"""

from __future__ import annotations

import os
import tokenize
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from evclip.io.errors import EventFormatError
from evclip.io.events import (
    EventStream,
    Frames,
    check_sensor_size,
    empty_events,
    make_events,
)
from evclip.io.time_units import (
    NO_TIMES,
    TimeStats,
    merge_stats,
    microseconds_per_unit,
    scale_promised_microseconds,
    time_stats,
)

KINDS = ("npz", "npy")
NIMAGENET_SENSOR = (640, 480)
# what numpy.load raises on a damaged file: zip, zlib and header parsing errors (numpy parses
# headers with ast and tokenize)
_LOAD_ERRORS = (
    OSError,
    SyntaxError,
    RuntimeError,
    tokenize.TokenError,
    ValueError,
    EOFError,
    KeyError,
    TypeError,
    zipfile.BadZipFile,
    zlib.error,
    NotImplementedError,
    MemoryError,
)
_INT64_LIMIT = 2.0**63


def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")


def timestamps_to_us(
    t: np.ndarray, scale: float = 1.0, *, path: str | os.PathLike[str] | None = None
) -> np.ndarray:
    """Timestamps as int64 microseconds: ``round(t * scale)``.

    Args:
        t: [N] timestamps of any real dtype.
        scale: microseconds per unit of ``t`` (1e6 for seconds).
        path: file named in errors.

    Raises:
        EventFormatError: for non-finite values or values that do not fit int64.
    """
    t = np.asarray(t).reshape(-1)
    if t.dtype.kind == "b" or t.dtype.kind not in "iuf":
        raise EventFormatError(path, f"timestamps have non-numeric dtype {t.dtype}")
    if t.dtype.kind in "iu" and scale == 1.0:
        if t.size and t.dtype.kind == "u" and int(t.max()) >= _INT64_LIMIT:
            raise EventFormatError(path, "timestamps do not fit in int64 microseconds")
        return t.astype(np.int64)
    scaled = np.rint(t.astype(np.float64) * scale)  # (N,)
    if scaled.size and not np.isfinite(scaled).all():
        raise EventFormatError(path, "timestamps hold non-finite values")
    if scaled.size and np.abs(scaled).max() >= _INT64_LIMIT:
        raise EventFormatError(path, "timestamps do not fit in int64 microseconds")
    return scaled.astype(np.int64)


def columns_to_events(
    columns: dict[str, np.ndarray],
    *,
    t_scale: float = 1.0,
    path: str | os.PathLike[str] | None = None,
) -> np.ndarray:
    """Build events from columns x, y, t, p, checking shapes and values.

    Args:
        columns: 1-D (or squeezable) arrays under keys "x", "y", "t", "p".
        t_scale: microseconds per unit of t.
        path: file named in errors.

    Raises:
        EventFormatError: for a column of the wrong shape or dtype, non-finite or out-of-range
            values, or columns of different lengths.
    """
    clean: dict[str, np.ndarray] = {}
    for name in ("x", "y", "t", "p"):
        column = np.asarray(columns[name])
        if column.ndim > 1 and sum(d != 1 for d in column.shape) > 1:
            raise EventFormatError(path, f"column {name} has shape {column.shape}, expected [N]")
        column = column.reshape(-1)
        if column.dtype.kind not in "biuf":
            raise EventFormatError(path, f"column {name} has non-numeric dtype {column.dtype}")
        if name != "t" and column.dtype.kind == "f" and not np.isfinite(column).all():
            raise EventFormatError(path, f"column {name} holds non-finite values")
        clean[name] = column
    clean["t"] = timestamps_to_us(clean["t"], t_scale, path=path)
    return make_events(clean["x"], clean["y"], clean["t"], clean["p"], path=path)


_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")
_NPY_MAGIC = (b"\x93NUMPY",)


def check_magic(path: Path, magic: tuple[bytes, ...], what: str) -> None:
    """Refuse a file that does not start with one of ``magic`` (numpy would try to unpickle it).

    Raises:
        EventFormatError: naming what the file is not and what it starts with.
    """
    with open(path, "rb") as f:
        head = f.read(8)
    if not head.startswith(magic):
        raise EventFormatError(path, f"not {what}: it starts with {head!r}", offset=0)


def _load_npz(path: Path) -> dict[str, np.ndarray]:
    """Every array of an ``.npz`` archive, with corruption reported as EventFormatError."""
    check_magic(path, _ZIP_MAGIC, "an .npz (zip) archive")
    # our own handle: np.load(path) leaves the file it opened unclosed when the zip is corrupt
    with open(path, "rb") as file:
        try:
            archive = np.load(file, allow_pickle=False)
        except _LOAD_ERRORS as error:
            raise EventFormatError(path, f"corrupt .npz archive: {error}") from error
        if not isinstance(archive, np.lib.npyio.NpzFile):
            raise EventFormatError(path, "not an .npz archive (a single .npy array)")
        try:
            with archive:
                return {name: archive[name] for name in archive.files}
        except _LOAD_ERRORS as error:
            raise EventFormatError(path, f"corrupt .npz archive: {error}") from error


def _nimagenet_columns(arrays: dict[str, np.ndarray], path: Path) -> dict[str, np.ndarray]:
    """x, y, t, p columns of an N-ImageNet archive (new or old field names)."""
    aliases = {"x": "x_pos", "y": "y_pos", "t": "timestamp", "p": "polarity"}
    source: dict[str, np.ndarray] | np.ndarray = arrays
    if "event_data" in arrays:
        source = arrays["event_data"]
        if source.dtype.names is None:
            raise EventFormatError(path, "event_data is not a structured array with x, y, t, p")
        names: tuple[str, ...] = source.dtype.names
    else:
        names = tuple(arrays)
    columns = {}
    for new, old in aliases.items():
        key = new if new in names else old
        if key not in names:
            raise EventFormatError(
                path, f"N-ImageNet layout lacks field {new!r} / {old!r}; found: {sorted(names)}"
            )
        columns[new] = source[key]
    return columns


def _frames(arrays: dict[str, np.ndarray], path: Path) -> Frames:
    if "frames" not in arrays and "frames_t" not in arrays:
        return Frames()
    if "frames" not in arrays or "frames_t" not in arrays:
        raise EventFormatError(path, "archive has only one of frames / frames_t")
    images, t = arrays["frames"], arrays["frames_t"]
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[-1] != 3:
        raise EventFormatError(
            path, f"frames must be uint8 [N, H, W, 3], got {images.dtype} {images.shape}"
        )
    if t.ndim != 1 or t.shape[0] != images.shape[0]:
        raise EventFormatError(path, f"frames_t has shape {t.shape}, expected [{len(images)}]")
    return Frames(timestamps_to_us(t, path=path), np.array(images))


def _stored_size(arrays: dict[str, np.ndarray], path: Path) -> tuple[int, int] | None:
    if "sensor_size" not in arrays:
        return None
    size = arrays["sensor_size"].reshape(-1)
    if size.shape != (2,) or size.dtype.kind not in "iu" or size.min() <= 0:
        raise EventFormatError(path, f"sensor_size must be two positive integers, got {size}")
    return check_sensor_size(size, path=path, what="stored sensor_size")


def _infer_size(events: np.ndarray, at_least: tuple[int, int] = (1, 1)) -> tuple[int, int]:
    if len(events) == 0:
        return at_least
    return (
        max(at_least[0], int(events["x"].max()) + 1),
        max(at_least[1], int(events["y"].max()) + 1),
    )


def promised_microseconds_scale(t: np.ndarray, path: str | os.PathLike[str] | None) -> float:
    """Microseconds per unit of a t column documented as microseconds (see time_units)."""
    t = np.asarray(t)
    if t.dtype.kind != "f":
        return 1.0
    return scale_promised_microseconds(time_stats(t), t.dtype, path)


def decode_npz(arrays: dict[str, np.ndarray], path: Path) -> EventStream:
    """An :class:`EventStream` from the arrays of an ``.npz`` archive (either layout)."""
    if all(k in arrays for k in ("x", "y", "t", "p")):
        t_scale = promised_microseconds_scale(arrays["t"], path)
        events = columns_to_events(arrays, t_scale=t_scale, path=path)
        size = _stored_size(arrays, path) or _infer_size(events)
    elif "event_data" in arrays or "x_pos" in arrays:
        columns = _nimagenet_columns(arrays, path)
        t_scale = promised_microseconds_scale(columns["t"], path)
        events = columns_to_events(columns, t_scale=t_scale, path=path)
        size = _stored_size(arrays, path) or _infer_size(events, NIMAGENET_SENSOR)
    else:
        raise EventFormatError(
            path,
            "archive has neither x, y, t, p arrays nor N-ImageNet event_data; "
            f"found: {sorted(arrays)}",
        )
    return EventStream(events, size, _frames(arrays, path), os.fspath(path))


def _load_npy(path: Path, mmap: bool) -> np.ndarray:
    check_magic(path, _NPY_MAGIC, "an .npy array")
    try:
        array = np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)
    except _LOAD_ERRORS as error:
        raise EventFormatError(path, f"corrupt .npy file: {error}") from error
    if not isinstance(array, np.ndarray):
        raise EventFormatError(path, "not an .npy array (an .npz archive)")
    return array


def npy_layout(array: np.ndarray, path: Path) -> str:
    """'structured' or 'table' ([N, 4] x, y, t, p); EventFormatError for anything else."""
    names = array.dtype.names
    if names is not None:
        missing = [n for n in ("x", "y", "t", "p") if n not in names]
        if missing or array.ndim != 1:
            raise EventFormatError(
                path, f"structured array needs 1-D fields x, y, t, p; missing {missing}"
            )
        return "structured"
    if array.ndim == 2 and array.shape[1] == 4 and array.dtype.kind in "iuf":
        return "table"
    raise EventFormatError(
        path,
        f"expected a structured x/y/t/p array or a [N, 4] table, got {array.dtype} {array.shape}",
    )


def _npy_t_column(array: np.ndarray, layout: str) -> np.ndarray:
    return array["t"] if layout == "structured" else array[:, 2]


def _npy_t_scale(stats: TimeStats, array: np.ndarray, layout: str, path: Path) -> float:
    """A table (EST) stores float seconds by definition; a structured array promises us."""
    dtype = _npy_t_column(array[:0], layout).dtype
    if layout == "table":
        return microseconds_per_unit(stats, dtype)
    return scale_promised_microseconds(stats, dtype, path)


def decode_npy_block(array: np.ndarray, layout: str, t_scale: float, path: Path) -> np.ndarray:
    """Events from a (slice of a) structured or [N, 4] array."""
    if layout == "structured":
        columns = {n: array[n] for n in ("x", "y", "t", "p")}
    else:
        columns = {n: array[:, i] for i, n in enumerate(("x", "y", "t", "p"))}
    return columns_to_events(columns, t_scale=t_scale, path=path)


def read(path: str | os.PathLike[str], kind: str = "npz") -> EventStream:
    """Read a whole ``.npz`` or ``.npy`` events file (layouts in the module docstring).

    Raises:
        EventFormatError: for a corrupt archive, missing keys, wrong shapes or non-finite values.
    """
    _check_kind(kind)
    path = Path(path)
    if kind == "npz":
        return decode_npz(_load_npz(path), path)
    array = _load_npy(path, mmap=False)
    layout = npy_layout(array, path)
    t = _npy_t_column(array, layout)
    stats = time_stats(t) if t.dtype.kind == "f" else NO_TIMES
    events = decode_npy_block(array, layout, _npy_t_scale(stats, array, layout, path), path)
    return EventStream(events, _infer_size(events), path=os.fspath(path))


def _scan_npy(
    array: np.ndarray, layout: str, chunk_size: int, path: Path
) -> tuple[tuple[int, int], float]:
    """Sensor size and t scale of a memory-mapped array, one block at a time."""
    stats = NO_TIMES
    width, height = 1, 1
    for start in range(0, len(array), chunk_size):
        block = np.asarray(array[start : start + chunk_size])
        t = _npy_t_column(block, layout)
        if t.dtype.kind == "f":
            stats = merge_stats(stats, time_stats(t))
        events = decode_npy_block(block, layout, 1.0, path)
        width, height = _infer_size(events, (width, height))
    return (width, height), _npy_t_scale(stats, array, layout, path)


def iter_chunks(
    path: str | os.PathLike[str], chunk_size: int, kind: str = "npz"
) -> Iterator[EventStream]:
    """Read in chunks of ``chunk_size`` events with bounded memory.

    ``.npy`` files are memory-mapped; ``.npz`` members are decompressed as streams (see
    :mod:`evclip.io.npz_chunks`). A file that stores no sensor size is read twice, the first
    time to find it.
    """
    _check_kind(kind)
    path = Path(path)
    if kind == "npz":
        from evclip.io.npz_chunks import iter_npz_chunks

        check_magic(path, _ZIP_MAGIC, "an .npz (zip) archive")
        yield from iter_npz_chunks(path, chunk_size, _LOAD_ERRORS)
        return
    array = _load_npy(path, mmap=True)
    layout = npy_layout(array, path)
    size, t_scale = _scan_npy(array, layout, chunk_size, path)
    if len(array) == 0:
        yield EventStream(empty_events(), size, path=os.fspath(path))
    for start in range(0, len(array), chunk_size):
        block = np.asarray(array[start : start + chunk_size])
        events = decode_npy_block(block, layout, t_scale, path)
        yield EventStream(events, size, path=os.fspath(path))
