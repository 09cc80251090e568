"""Appending, atomic writers for ``.npz`` and ``.h5`` event files.

>>> with open_writer("out.h5", sensor_size=(640, 480)) as writer:  # doctest: +SKIP
...     for chunk in chunks:
...         writer.write(chunk.events)

Both writers take any number of time-sorted chunks with bounded memory and write to a temporary
file beside the target, renamed over it only when :meth:`close` succeeds; on an exception inside
the ``with`` block (or :meth:`abort`) every temporary file is deleted and the target is untouched.
Temporary names carry the writer's pid (see :mod:`evclip.io.atomic`): opening a writer deletes
the temporaries of the same target that a killed process left, and errors name the target.

- ``.npz``: arrays ``x`` (uint16), ``y`` (uint16), ``t`` (int64 us), ``p`` (int8 0/1),
  ``sensor_size`` (int64 [2] = width, height) and, when frames were written, ``frames_t`` (int64
  [N]) and ``frames`` (uint8 [N, H, W, 3]); readable by ``numpy.load`` as well as by evclip.
  Chunks are spooled to one raw file per array and copied into the archive at close.
- ``.h5`` / ``.hdf5``: the DSEC layout, ``events/x``, ``events/y``, ``events/t``, ``events/p``
  as resizable chunked datasets, ``ms_to_idx``, ``t_offset`` and the root attribute
  ``sensor_size``; frames go to ``frames/t`` and ``frames/images``. Like DSEC, ``events/t`` is
  stored relative to ``t_offset``: here the first event's time rounded down to a millisecond
  (0 for recordings that start within the first millisecond), which keeps ``ms_to_idx`` short
  for recordings stamped in Unix time. ``ms_to_idx[m]`` is the index of the first event with
  stored ``t >= 1000 * m``; it is left out when the recording spans more than
  :data:`MAX_MS_INDEX` milliseconds. ``frames/t`` holds absolute times.
"""

from __future__ import annotations

import os
import shutil
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from evclip.io.atomic import (
    commit,
    make_temp_dir,
    make_temp_file,
    remove_stale_temporaries,
    target_error,
)
from evclip.io.events import EVENT_DTYPE, Frames, check_events, make_events

SUPPORTED_EXTENSIONS = (".npz", ".h5", ".hdf5")
MAX_MS_INDEX = 1 << 26  # ~18.6 hours of milliseconds, 512 MiB of uint64
H5_CHUNK = 1 << 16  # largest HDF5 chunk, in elements
H5_MIN_CHUNK = 1 << 10
_MS_BLOCK = 1 << 20
_COPY_BLOCK = 1 << 22


def _check_sensor_size(sensor_size: tuple[int, int]) -> tuple[int, int]:
    try:
        width, height = (int(v) for v in sensor_size)
    except (TypeError, ValueError):
        raise ValueError(f"sensor_size must be (width, height), got {sensor_size!r}") from None
    if width <= 0 or height <= 0:
        raise ValueError(f"sensor_size must be positive, got {sensor_size!r}")
    return width, height


def _as_events(events: np.ndarray) -> np.ndarray:
    """Events in :data:`EVENT_DTYPE`, converting other structured arrays with x, y, t, p."""
    events = np.asarray(events)
    if events.dtype == EVENT_DTYPE:
        return events.reshape(-1)
    names = events.dtype.names or ()
    if not all(n in names for n in ("x", "y", "t", "p")):
        raise ValueError(f"events must be a structured array with x, y, t, p, got {events.dtype}")
    return make_events(events["x"], events["y"], events["t"], events["p"])


def _check_frames(frames: Frames, shape: tuple[int, ...] | None) -> tuple[int, ...]:
    images, t = np.asarray(frames.images), np.asarray(frames.t)
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[-1] != 3:
        raise ValueError(
            f"frames.images must be uint8 [N, H, W, 3], got {images.dtype} {images.shape}"
        )
    if t.shape != (images.shape[0],) or t.dtype.kind not in "iu":
        raise ValueError(f"frames.t must be integer [{images.shape[0]}], got {t.dtype} {t.shape}")
    if shape is not None and images.shape[1:] != shape:
        raise ValueError(f"frames of shape {images.shape[1:]} follow frames of shape {shape}")
    return images.shape[1:]


def ms_to_idx_entries(t: np.ndarray, first_ms: int, last_ms: int, base: int) -> np.ndarray:
    """``ms_to_idx`` entries for milliseconds ``first_ms`` .. ``last_ms`` (inclusive).

    Args:
        t: int64 [N] sorted stored timestamps of one chunk.
        first_ms: first millisecond whose entry is still missing; every event before this chunk
            has ``t < 1000 * first_ms``.
        last_ms: last millisecond to index, at most ``t[-1] // 1000``.
        base: number of events written before this chunk.

    Returns:
        int64 [last_ms - first_ms + 1]: index of the first event at or after each millisecond.
    """
    ms = np.arange(first_ms, last_ms + 1, dtype=np.int64)  # (M,)
    return base + np.searchsorted(t, ms * 1000, side="left").astype(np.int64)


class EventWriter:
    """Common part of the writers: order checks, temp file and atomic rename.

    Attributes:
        path: the target file.
        sensor_size: (width, height) every event must lie in.
        count: events written so far.
    """

    def __init__(self, path: str | os.PathLike[str], sensor_size: tuple[int, int]) -> None:
        self.path = Path(path)
        self.sensor_size = _check_sensor_size(sensor_size)
        self.count = 0
        self._last_t: int | None = None
        self._frame_shape: tuple[int, ...] | None = None
        self._closed = False
        remove_stale_temporaries(self.path)
        self._temp = make_temp_file(self.path)
        self._spool: Path | None = None

    def write(self, events: np.ndarray) -> None:
        """Append a chunk of events.

        Raises:
            EventFormatError: when the chunk is unsorted, starts before the previous chunk's
                last event, or has a coordinate outside ``sensor_size``.
            ValueError: when ``events`` is not an events array or the writer is closed.
        """
        self._check_open()
        events = _as_events(events)
        check_events(events, self.sensor_size, path=self.path, previous_t=self._last_t)
        if len(events) == 0:
            return
        try:
            self._append(events)
        except OSError as err:  # a full disk, say: name the target, not the temporary
            raise target_error(err, self.path, self._temporaries()) from None
        self.count += len(events)
        self._last_t = int(events["t"][-1])

    def write_frames(self, frames: Frames) -> None:
        """Append frames (uint8 [N, H, W, 3] with int64 [N] times); H and W must not change."""
        self._check_open()
        self._frame_shape = _check_frames(frames, self._frame_shape)
        if len(frames):
            try:
                self._append_frames(np.asarray(frames.t, dtype=np.int64), np.asarray(frames.images))
            except OSError as err:
                raise target_error(err, self.path, self._temporaries()) from None

    def close(self) -> None:
        """Finish the file and move it to ``path``; deletes the temporary files on failure."""
        if self._closed:
            return
        try:
            try:
                self._finish()
            except OSError as err:
                raise target_error(err, self.path, self._temporaries()) from None
            commit(self._temp, self.path)  # mkstemp made it private (0600): umask's mode now
        except BaseException:
            self.abort()
            raise
        self._cleanup()
        self._closed = True

    def abort(self) -> None:
        """Drop everything written; ``path`` is left as it was."""
        self._closed = True
        self._cleanup()
        self._temp.unlink(missing_ok=True)

    def __enter__(self) -> EventWriter:
        return self

    def __exit__(self, kind: Any, value: Any, traceback: Any) -> None:
        if kind is None:
            self.close()
        else:
            self.abort()

    def _temporaries(self) -> tuple[Path, ...]:
        return (self._temp,) if self._spool is None else (self._temp, self._spool)

    def _check_open(self) -> None:
        if self._closed:
            raise ValueError(f"writer for {self.path} is closed")

    def _append(self, events: np.ndarray) -> None:
        raise NotImplementedError

    def _append_frames(self, t: np.ndarray, images: np.ndarray) -> None:
        raise NotImplementedError

    def _finish(self) -> None:
        raise NotImplementedError

    def _cleanup(self) -> None:
        """Release spool files and handles (called after success and after failure)."""


class NpzWriter(EventWriter):
    """Writes an ``.npz`` archive, spooling each array to a raw file until :meth:`close`.

    Args:
        path: target ``.npz`` file.
        sensor_size: (width, height).
        compress: deflate the archive members (smaller, slower).
    """

    _FIELDS = ("x", "y", "t", "p", "frames_t", "frames")

    def __init__(
        self, path: str | os.PathLike[str], sensor_size: tuple[int, int], *, compress: bool = False
    ) -> None:
        super().__init__(path, sensor_size)
        self._compression = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
        self._files: dict[str, Any] = {}
        try:
            self._spool = make_temp_dir(self.path)
            for name in self._FIELDS:
                self._files[name] = open(self._spool / name, "wb")  # noqa: SIM115 (closed in _finish/_cleanup)
        except BaseException:
            self.abort()
            raise
        self._frame_count = 0

    def _append(self, events: np.ndarray) -> None:
        for name in ("x", "y", "t", "p"):
            self._files[name].write(np.ascontiguousarray(events[name]).tobytes())

    def _append_frames(self, t: np.ndarray, images: np.ndarray) -> None:
        self._files["frames_t"].write(t.astype("<i8").tobytes())
        self._files["frames"].write(np.ascontiguousarray(images).tobytes())
        self._frame_count += len(t)

    def _member(self, archive: zipfile.ZipFile, name: str, dtype: np.dtype, shape: tuple) -> None:
        """Copy a spooled array into the archive as ``name.npy``."""
        header = {
            "descr": np.lib.format.dtype_to_descr(dtype),
            "fortran_order": False,
            "shape": shape,
        }
        info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
        info.compress_type = self._compression
        with archive.open(info, "w", force_zip64=True) as member:
            np.lib.format.write_array_header_1_0(member, header)
            with open(self._spool / name, "rb") as source:
                shutil.copyfileobj(source, member, _COPY_BLOCK)

    def _finish(self) -> None:
        for handle in self._files.values():
            handle.close()
        with zipfile.ZipFile(self._temp, "w", allowZip64=True) as archive:
            for name in ("x", "y", "t", "p"):
                self._member(archive, name, EVENT_DTYPE[name], (self.count,))
            with archive.open("sensor_size.npy", "w") as member:
                np.lib.format.write_array(member, np.array(self.sensor_size, dtype=np.int64))
            if self._frame_count:
                shape = (self._frame_count, *self._frame_shape)
                self._member(archive, "frames_t", np.dtype("<i8"), (self._frame_count,))
                self._member(archive, "frames", np.dtype(np.uint8), shape)

    def _cleanup(self) -> None:
        for handle in self._files.values():
            handle.close()
        if self._spool is not None:
            shutil.rmtree(self._spool, ignore_errors=True)


class Hdf5Writer(EventWriter):
    """Writes a DSEC-layout HDF5 file with resizable chunked datasets.

    Args:
        path: target ``.h5`` / ``.hdf5`` file.
        sensor_size: (width, height).
        compress: gzip the datasets (smaller, slower).
    """

    def __init__(
        self, path: str | os.PathLike[str], sensor_size: tuple[int, int], *, compress: bool = False
    ) -> None:
        from evclip.io.hdf5 import import_h5py

        h5py = import_h5py()
        super().__init__(path, sensor_size)
        self._file: Any = None
        try:
            self._file = h5py.File(self._temp, "w")
        except OSError as err:
            self.abort()
            raise target_error(err, self.path, (self._temp,)) from None
        except BaseException:
            self.abort()
            raise
        self._file.attrs["sensor_size"] = np.array(self.sensor_size, dtype=np.int64)
        self._options = {"compression": "gzip"} if compress else {}
        self._events: dict[str, Any] = {}
        self._ms_to_idx: Any = None
        self._t_offset: int | None = None
        self._next_ms = 0
        self._index_dropped = False

    @staticmethod
    def _extend(dataset: Any, values: np.ndarray) -> None:
        start = dataset.shape[0]
        dataset.resize(start + len(values), axis=0)
        dataset[start:] = values

    def _create_datasets(self, first_chunk: int) -> None:
        """Create resizable datasets, chunked to fit the first write so small files stay small."""
        chunk = int(np.clip(first_chunk, H5_MIN_CHUNK, H5_CHUNK))
        group = self._file.create_group("events")
        dtypes = {"x": np.uint16, "y": np.uint16, "t": np.int64, "p": np.uint8}
        for name, dtype in dtypes.items():
            self._events[name] = group.create_dataset(
                name, (0,), maxshape=(None,), dtype=dtype, chunks=(chunk,), **self._options
            )
        self._ms_to_idx = self._file.create_dataset(
            "ms_to_idx", (0,), maxshape=(None,), dtype=np.uint64, chunks=(chunk,)
        )

    def _append(self, events: np.ndarray) -> None:
        if not self._events:
            self._create_datasets(len(events))
        if self._t_offset is None:
            self._t_offset = int(events["t"][0]) // 1000 * 1000
        t = events["t"] - self._t_offset  # (N,) stored, relative times
        for name in ("x", "y", "p"):
            self._extend(self._events[name], events[name])
        self._extend(self._events["t"], t)
        self._index(t)

    def _index(self, t: np.ndarray) -> None:
        """Extend ``ms_to_idx`` in bounded blocks up to the chunk's last millisecond."""
        last_ms = int(t[-1]) // 1000
        if self._index_dropped or last_ms >= MAX_MS_INDEX:
            self._index_dropped = True
            return
        while self._next_ms <= last_ms:
            stop_ms = min(last_ms, self._next_ms + _MS_BLOCK - 1)
            entries = ms_to_idx_entries(t, self._next_ms, stop_ms, self.count)
            self._extend(self._ms_to_idx, entries.astype(np.uint64))
            self._next_ms = stop_ms + 1

    def _append_frames(self, t: np.ndarray, images: np.ndarray) -> None:
        if "frames" not in self._file:
            group = self._file.create_group("frames")
            group.create_dataset("t", shape=(0,), maxshape=(None,), dtype=np.int64, chunks=(1024,))
            group.create_dataset(
                "images",
                shape=(0, *images.shape[1:]),
                maxshape=(None, *images.shape[1:]),
                dtype=np.uint8,
                chunks=(1, *images.shape[1:]),
                **self._options,
            )
        self._extend(self._file["frames/t"], t)
        self._extend(self._file["frames/images"], images)

    def _finish(self) -> None:
        if not self._events:
            self._create_datasets(0)
        self._file["t_offset"] = np.int64(self._t_offset or 0)
        if self._index_dropped:
            del self._file["ms_to_idx"]
        self._file.close()

    def _cleanup(self) -> None:
        if self._file is not None and self._file.id.valid:
            self._file.close()


def open_writer(
    path: str | os.PathLike[str], sensor_size: tuple[int, int], *, compress: bool = False
) -> EventWriter:
    """Open an appending, atomic writer chosen by the extension of ``path``.

    Args:
        path: target file ending in ``.npz``, ``.h5`` or ``.hdf5``.
        sensor_size: (width, height); events outside it are rejected.
        compress: deflate (npz) or gzip (h5) the data.

    Returns:
        A writer with ``write(events)``, ``write_frames(frames)`` and ``close()``, usable as a
        context manager.

    Raises:
        ValueError: for an unsupported extension or a bad sensor size.
    """
    suffix = Path(path).suffix.lower()
    if suffix == ".npz":
        return NpzWriter(path, sensor_size, compress=compress)
    if suffix in (".h5", ".hdf5"):
        return Hdf5Writer(path, sensor_size, compress=compress)
    raise ValueError(
        f"cannot write {os.fspath(path)!r}: unsupported extension {suffix!r}; "
        f"supported: {', '.join(SUPPORTED_EXTENSIONS)}"
    )
