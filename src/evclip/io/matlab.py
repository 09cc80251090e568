"""MATLAB ``.mat`` events as in ASL-DVS: column vectors ``ts``, ``x``, ``y``, ``pol``.

ASL-DVS was recorded with a DAVIS240 (240x180); ``ts`` is in microseconds and ``pol`` is 0/1.
Version 5/7 files are read by a small parser here (see :func:`_load_v5` for why not scipy);
version 7.3 files (HDF5 inside) with h5py.

Orientation: the generic :func:`read` (used by ``evclip.io.read_events``) returns the stored
coordinates unchanged unless ``flip_y=True``. tonic's ASL-DVS dataset flips rows
(``y = 179 - y``) so that letters appear upright in the image convention (origin top-left);
:func:`read_asl_dvs` does the same by default and is what the dataset layer uses.
"""

from __future__ import annotations

import os
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from evclip.io.errors import EventFormatError
from evclip.io.events import EventStream, check_events, make_events, sort_events

ASL_DVS_SENSOR = (240, 180)
KEYS = ("ts", "x", "y", "pol")
_HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"


def _is_hdf5(path: Path) -> bool:
    with open(path, "rb") as f:
        head = f.read(520)
    return head.startswith(_HDF5_MAGIC) or head[512:520] == _HDF5_MAGIC


# MAT-file v5 storage types that hold numbers, and the numeric array classes (double .. uint64)
_MI_DTYPES = {
    1: "i1",
    2: "u1",
    3: "i2",
    4: "u2",
    5: "i4",
    6: "u4",
    7: "f4",
    9: "f8",
    12: "i8",
    13: "u8",
}
_MI_MATRIX, _MI_COMPRESSED = 14, 15
_NUMERIC_CLASSES = range(6, 16)
_COMPLEX_FLAG = 0x800


def _elements(data: bytes, start: int, end: int, order: str, path: Path) -> Iterator[tuple]:
    """(type, body offset, byte count, tag offset) of each data element in ``data[start:end]``.

    Raises:
        EventFormatError: for an element that overruns its container.
    """
    pos = start
    while pos + 8 <= end:
        kind, nbytes = (int(v) for v in np.frombuffer(data, f"{order}u4", 2, pos))
        if kind >> 16:  # small data element: size and type packed into the first word
            kind, nbytes, body, step = kind & 0xFFFF, kind >> 16, pos + 4, 8
            if nbytes > 4:
                raise EventFormatError(path, f"small MATLAB element of {nbytes} bytes", pos)
        else:
            # elements are padded to 8 bytes, except compressed ones (MATLAB writes them unpadded)
            padding = 0 if kind == _MI_COMPRESSED else -nbytes % 8
            body, step = pos + 8, 8 + nbytes + padding
        if body + nbytes > end:
            raise EventFormatError(path, f"MATLAB element of {nbytes} bytes overruns", pos)
        yield kind, body, nbytes, pos
        pos += step


def _matrix(data: bytes, body: int, nbytes: int, order: str, path: Path, at: int) -> tuple:
    """(name, values) of one miMATRIX element; values is None unless it is real and numeric."""
    parts = list(_elements(data, body, body + nbytes, order, path))  # (type, body, bytes, at)
    kinds = [part[0] for part in parts]
    if len(parts) < 3 or kinds[:2] != [6, 5] or parts[0][2] != 8 or kinds[2] not in (1, 2):
        raise EventFormatError(path, "MATLAB matrix lacks its flags, dimensions or name", at)
    flags = int(np.frombuffer(data, f"{order}u4", 1, parts[0][1])[0])
    dims = np.frombuffer(data, f"{order}i4", parts[1][2] // 4, parts[1][1]).astype(np.int64)
    name = data[parts[2][1] : parts[2][1] + parts[2][2]].decode("latin-1")
    numeric = (flags & 0xFF) in _NUMERIC_CLASSES and not flags & _COMPLEX_FLAG
    if not numeric or len(parts) != 4 or parts[3][0] not in _MI_DTYPES:
        return name, None
    if dims.size < 2 or dims.min() < 0:
        raise EventFormatError(path, f"MATLAB variable {name!r} has dimensions {dims}", at)
    dtype = np.dtype(order + _MI_DTYPES[parts[3][0]])
    count = int(np.prod(dims))
    if count * dtype.itemsize != parts[3][2]:
        raise EventFormatError(
            path, f"MATLAB variable {name!r}: {parts[3][2]} bytes for {tuple(dims)} values", at
        )
    values = np.frombuffer(data, dtype, count, parts[3][1]).reshape(tuple(dims), order="F")
    return name, values


def _load_v5(path: Path) -> dict[str, Any]:
    """Variables of a version 5 MAT-file: numeric arrays, None for other kinds.

    A small parser of our own rather than ``scipy.io.loadmat``: scipy's compiled reader trusts
    the element tags, and a damaged file (an unknown type code, a complex flag without its
    imaginary part) crashes the interpreter instead of raising.
    """
    data = path.read_bytes()
    if len(data) < 128 or not data.startswith(b"MATLAB"):
        raise EventFormatError(path, "not a MATLAB 5.0 file (version 4 files are not supported)")
    orders = {b"IM": "<", b"MI": ">"}
    if data[126:128] not in orders:
        raise EventFormatError(path, "MATLAB header has no endian indicator", 126)
    order = orders[data[126:128]]
    variables: dict[str, Any] = {}
    for kind, body, nbytes, at in _elements(data, 128, len(data), order, path):
        source, start, size = data, body, nbytes
        if kind == _MI_COMPRESSED:
            try:
                source = zlib.decompress(data[body : body + nbytes])
            except zlib.error as error:
                raise EventFormatError(
                    path, f"corrupt compressed MATLAB data: {error}", at
                ) from None
            inner = list(_elements(source, 0, len(source), order, path))
            if len(inner) != 1:
                raise EventFormatError(path, "compressed MATLAB element holds no variable", at)
            kind, start, size, _ = inner[0]
        if kind == _MI_MATRIX:
            name, values = _matrix(source, start, size, order, path, at)
            variables[name] = values
    return variables


def _load_v73(path: Path) -> dict[str, Any]:
    from evclip.io.hdf5 import import_h5py

    h5py = import_h5py()
    try:
        with h5py.File(path, "r") as handle:
            return {
                name: np.asarray(item[()])
                for name, item in handle.items()
                if isinstance(item, h5py.Dataset) and not name.startswith("#")
            }
    except Exception as error:
        raise EventFormatError(path, f"cannot read as a MATLAB 7.3 file: {error}") from error


def load_variables(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Every variable of a ``.mat`` file (v5/v7 or v7.3) by name.

    Raises:
        EventFormatError: when the file cannot be parsed.
    """
    path = Path(path)
    return _load_v73(path) if _is_hdf5(path) else _load_v5(path)


def _columns(variables: dict[str, Any], path: Path) -> dict[str, np.ndarray]:
    missing = [k for k in KEYS if k not in variables]
    if missing:
        raise EventFormatError(
            path,
            f"not an ASL-DVS events file: missing {missing}; variables found: "
            f"{sorted(variables) or 'none'}",
        )
    columns = {}
    for key in KEYS:
        if variables[key] is None:
            raise EventFormatError(path, f"variable {key} is not a real numeric array")
        value = np.asarray(variables[key])
        if value.dtype.kind not in "biuf":
            raise EventFormatError(path, f"variable {key} is not numeric ({value.dtype})")
        if value.ndim > 1 and sum(d != 1 for d in value.shape) > 1:
            raise EventFormatError(path, f"variable {key} has shape {value.shape}, not a vector")
        value = value.reshape(-1)
        if value.dtype.kind == "f" and value.size and not np.isfinite(value).all():
            raise EventFormatError(path, f"variable {key} holds non-finite values")
        columns[key] = value
    return columns


def read(path: str | os.PathLike[str], *, flip_y: bool = False) -> EventStream:
    """Read the events of an ASL-DVS style ``.mat`` file.

    Args:
        path: the file.
        flip_y: mirror rows (``y = 179 - y``) as tonic does; ``read_events(path, flip_y=True)``
            passes it through. Off by default, so the generic reader returns what is stored.

    Returns:
        Events in file order, sensor 240x180 (DAVIS240).

    Raises:
        EventFormatError: for an unreadable file or one without ``ts``, ``x``, ``y``, ``pol``
            (the message lists the variables it does hold), or, with ``flip_y``, a row outside
            the 180 rows.
    """
    path = Path(path)
    columns = _columns(load_variables(path), path)
    # make_events rounds float times and rejects fractional or out-of-range values
    events = make_events(columns["x"], columns["y"], columns["ts"], columns["pol"], path=path)
    if flip_y:
        events = _flip_rows(events, path)
    return EventStream(events, ASL_DVS_SENSOR, path=os.fspath(path))


def _flip_rows(events: np.ndarray, path: Path) -> np.ndarray:
    height = ASL_DVS_SENSOR[1]
    if len(events) and int(events["y"].max()) >= height:
        raise EventFormatError(path, f"y={int(events['y'].max())} outside the {height} rows")
    events["y"] = height - 1 - events["y"]  # a fresh array from make_events
    return events


def read_asl_dvs(
    path: str | os.PathLike[str], flip_y: bool = True, *, sort: bool = False
) -> EventStream:
    """Read one ASL-DVS sample, checked against the 240x180 sensor.

    Args:
        path: the ``.mat`` file.
        flip_y: mirror rows (``y = 179 - y``) as tonic does, so letters appear upright.
        sort: sort events by time instead of rejecting an unsorted file.

    Raises:
        EventFormatError: for an unreadable file, missing variables, unsorted timestamps or
            events outside 240x180.
    """
    stream = read(path, flip_y=flip_y)
    events = sort_events(stream.events) if sort else stream.events
    check_events(events, ASL_DVS_SENSOR, path=path)
    return EventStream(events, ASL_DVS_SENSOR, stream.frames, stream.path)
