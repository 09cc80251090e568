"""The simple formats (.bin, .npz, .npy, .h5, .mat) and the .npz / .h5 writers.

Fixtures are written byte by byte or array by array from the format descriptions, then read back
through ``evclip.io.read_events`` and compared exactly with the events they encode.
"""

from __future__ import annotations

import importlib
import sys
import tracemalloc
from pathlib import Path

import h5py
import numpy as np
import pytest
import scipy.io
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from evclip.io import (
    EVENT_DTYPE,
    EventFormatError,
    EventStream,
    Frames,
    iter_events,
    make_events,
    read_events,
    write_events,
)
from evclip.io.hdf5 import import_h5py
from evclip.io.matlab import load_variables, read_asl_dvs
from evclip.io.npz_chunks import event_count
from evclip.io.writers import ms_to_idx_entries, open_writer

# --------------------------------------------------------------------------- fixture writers


def bin_record(x: int, y: int, p: int, t23: int) -> bytes:
    """One 5-byte N-MNIST record, straight from the format description."""
    return bytes([x, y, (p << 7) | (t23 >> 16), (t23 >> 8) & 0xFF, t23 & 0xFF])


OVERFLOW = bin_record(0, 240, 0, 0)

# records and the events they must decode to: the overflow marker adds 2**13 to later events
BIN_RECORDS = [
    bin_record(1, 2, 1, 100),
    bin_record(33, 0, 0, 0x7FFF),
    OVERFLOW,
    bin_record(5, 6, 1, 0x7F0000 >> 8),
    bin_record(255, 239, 0, 40_000),
    OVERFLOW,
    OVERFLOW,
    bin_record(0, 0, 1, 30_000),
]
BIN_EVENTS = [
    (1, 2, 100, 1),
    (33, 0, 0x7FFF, 0),
    (5, 6, (0x7F0000 >> 8) + 8192, 1),
    (255, 239, 40_000 + 8192, 0),
    (0, 0, 30_000 + 3 * 8192, 1),
]


def events_of(rows: list[tuple[int, int, int, int]]) -> np.ndarray:
    cols = np.array(rows, dtype=np.int64).reshape(-1, 4)
    return make_events(cols[:, 0], cols[:, 1], cols[:, 2], cols[:, 3])


def random_events(n: int, size: tuple[int, int] = (64, 48), seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.sort(rng.integers(0, 50_000, n))
    return make_events(
        rng.integers(0, size[0], n), rng.integers(0, size[1], n), t, rng.integers(0, 2, n)
    )


def write_dsec(path: Path, events: np.ndarray, t_offset: int = 0, **attrs) -> Path:
    """A DSEC-style file: uint32 relative t, uint8 p, as DSEC itself stores them."""
    with h5py.File(path, "w") as f:
        f.create_dataset("events/x", data=events["x"].astype(np.uint16))
        f.create_dataset("events/y", data=events["y"].astype(np.uint16))
        f.create_dataset("events/t", data=(events["t"] - t_offset).astype(np.uint32))
        f.create_dataset("events/p", data=events["p"].astype(np.uint8))
        f.create_dataset("t_offset", data=np.int64(t_offset))
        f.attrs.update(attrs)
    return path


def assert_same(stream: EventStream, expected: np.ndarray) -> None:
    assert stream.events.dtype == EVENT_DTYPE
    np.testing.assert_array_equal(stream.events, expected)


# --------------------------------------------------------------------------- N-MNIST .bin


def test_bin_decodes_spec_records_with_overflow(tmp_path):
    path = tmp_path / "sample.bin"
    path.write_bytes(b"".join(BIN_RECORDS))
    stream = read_events(path)
    assert_same(stream, events_of(BIN_EVENTS))
    assert stream.sensor_size == (256, 240)


def test_bin_matches_tonic(tmp_path):
    tonic_io = importlib.import_module("tonic.io")
    rng = np.random.default_rng(1)
    records = [
        bin_record(*map(int, r))
        for r in zip(
            rng.integers(0, 34, 300),
            rng.integers(0, 34, 300),
            rng.integers(0, 2, 300),
            np.sort(rng.integers(0, 1 << 23, 300)),
            strict=True,
        )
    ]
    for i in (50, 51, 200):
        records.insert(i, OVERFLOW)
    path = tmp_path / "random.bin"
    path.write_bytes(b"".join(records))
    ours = read_events(path).events
    dtype = np.dtype([("x", np.int64), ("y", np.int64), ("t", np.int64), ("p", np.int64)])
    ref = tonic_io.read_mnist_file(str(path), dtype=dtype)
    assert len(ours) == len(ref) == 300
    for name in ("x", "y", "t", "p"):
        np.testing.assert_array_equal(ours[name], ref[name])


def test_bin_truncated_names_offset(tmp_path):
    path = tmp_path / "cut.bin"
    path.write_bytes(b"".join(BIN_RECORDS)[:-2])
    with pytest.raises(EventFormatError, match="truncated") as info:
        read_events(path)
    assert info.value.offset == 5 * (len(BIN_RECORDS) - 1)
    assert str(path) in str(info.value)
    with pytest.raises(EventFormatError):
        list(iter_events(path, chunk_size=2))


def test_bin_chunks_carry_overflow(tmp_path):
    path = tmp_path / "sample.bin"
    path.write_bytes(b"".join(BIN_RECORDS))
    for chunk_size in (1, 2, 3, 100):
        chunks = list(iter_events(path, chunk_size=chunk_size))
        assert {c.sensor_size for c in chunks} == {(256, 240)}
        np.testing.assert_array_equal(
            np.concatenate([c.events for c in chunks]), events_of(BIN_EVENTS)
        )


def test_bin_realdata(realdata_dir):
    stream = read_events(realdata_dir / "sample_nmnist.bin")
    ev = stream.events
    assert len(ev) == 4325
    assert int(ev["x"].max()) == 33 and int(ev["y"].max()) == 33
    assert (int(ev["t"].min()), int(ev["t"].max())) == (654, 311175)
    assert int((ev["p"] == 1).sum()) == 2145
    assert stream.sensor_size == (34, 34)


# --------------------------------------------------------------------------- .npz


def test_npz_plain_dtypes_and_polarities(tmp_path):
    path = tmp_path / "plain.npz"
    np.savez(
        path,
        x=np.array([3.0, 1.0, 2.0]),
        y=np.array([0, 5, 7], dtype=np.int32),
        t=np.array([10.4, 20.6, 30.0]),
        p=np.array([-1, 1, -1], dtype=np.int8),
    )
    assert_same(read_events(path), events_of([(3, 0, 10, 0), (1, 5, 21, 1), (2, 7, 30, 0)]))
    assert read_events(path).sensor_size == (4, 8)
    np.savez(path, x=[1], y=[2], t=np.array([5], np.uint32), p=[True], sensor_size=[10, 20])
    stream = read_events(path)
    assert_same(stream, events_of([(1, 2, 5, 1)]))
    assert stream.sensor_size == (10, 20)


@pytest.mark.parametrize("layout", ["event_data", "event_data_old_fields", "old_keys"])
def test_npz_nimagenet_layouts(tmp_path, layout):
    expected = events_of([(639, 0, 5, 1), (0, 479, 9, 0), (10, 20, 9, 1)])
    path = tmp_path / "n.npz"
    if layout == "old_keys":
        np.savez(
            path,
            x_pos=expected["x"],
            y_pos=expected["y"],
            timestamp=expected["t"],
            polarity=expected["p"].astype(bool),
        )
    else:
        names = (
            ("x", "y", "t", "p")
            if layout == "event_data"
            else ("x_pos", "y_pos", "timestamp", "polarity")
        )
        data = np.zeros(
            3, dtype=[(names[0], "<u2"), (names[1], "<u2"), (names[2], "<i8"), (names[3], "u1")]
        )
        for name, field in zip(names, ("x", "y", "t", "p"), strict=True):
            data[name] = expected[field]
        np.savez(path, event_data=data)
    stream = read_events(path)
    assert_same(stream, expected)
    assert stream.sensor_size == (640, 480)


@pytest.mark.parametrize(
    ("arrays", "message"),
    [
        ({"x": [1], "y": [1], "t": [1]}, "found"),
        ({"x": [[1, 2], [3, 4]], "y": [1, 2], "t": [1, 2], "p": [0, 1]}, "shape"),
        ({"x": [1, 2], "y": [1, 2], "t": [1.0, np.nan], "p": [0, 1]}, "non-finite"),
        ({"x": [1, np.inf], "y": [1, 2], "t": [1, 2], "p": [0, 1]}, "non-finite"),
        ({"x": [1, 2], "y": [1], "t": [1, 2], "p": [0, 1]}, "length"),
        ({"x": ["a"], "y": [1], "t": [1], "p": [0]}, "dtype"),
        ({"event_data": np.zeros(2, [("x", "u2"), ("y", "u2"), ("t", "i8")])}, "'p'"),
    ],
)
def test_npz_bad_content(tmp_path, arrays, message):
    path = tmp_path / "bad.npz"
    np.savez(path, **arrays)
    with pytest.raises(EventFormatError, match=message) as info:
        read_events(path)
    assert str(path) in str(info.value)


def test_npz_corrupt_archive(tmp_path):
    path = tmp_path / "corrupt.npz"
    path.write_bytes(b"PK\x03\x04" + bytes(200))
    with pytest.raises(EventFormatError, match="corrupt"):
        read_events(path)


# --------------------------------------------------------------------------- .npy


def test_npy_structured(tmp_path):
    expected = random_events(50)
    data = np.zeros(50, [("t", "<f8"), ("x", "<i4"), ("y", "<i4"), ("p", "?")])
    for name in ("t", "x", "y", "p"):
        data[name] = expected[name]
    np.save(tmp_path / "s.npy", data)
    assert_same(read_events(tmp_path / "s.npy"), expected)


def test_npy_est_table_seconds_and_microseconds(tmp_path):
    table = np.array([[1.0, 2.0, 0.0000104, -1.0], [3.0, 4.0, 0.25, 1.0]])
    np.save(tmp_path / "sec.npy", table)
    assert_same(read_events(tmp_path / "sec.npy"), events_of([(1, 2, 10, 0), (3, 4, 250_000, 1)]))
    table_us = np.array([[1.0, 2.0, 10.0, 0.0], [3.0, 4.0, 250_000.0, 1.0]])
    np.save(tmp_path / "us.npy", table_us)
    assert_same(read_events(tmp_path / "us.npy"), events_of([(1, 2, 10, 0), (3, 4, 250_000, 1)]))
    np.save(tmp_path / "int.npy", table_us.astype(np.int32))
    assert_same(read_events(tmp_path / "int.npy"), events_of([(1, 2, 10, 0), (3, 4, 250_000, 1)]))


def test_npy_bad_shape_and_values(tmp_path):
    np.save(tmp_path / "a.npy", np.zeros((5, 3)))
    with pytest.raises(EventFormatError, match=r"\[N, 4\]"):
        read_events(tmp_path / "a.npy")
    np.save(tmp_path / "b.npy", np.array([[1.0, 2.0, np.nan, 1.0]]))
    with pytest.raises(EventFormatError, match="non-finite"):
        read_events(tmp_path / "b.npy")
    np.save(tmp_path / "c.npy", np.zeros(3, [("x", "u2"), ("y", "u2")]))
    with pytest.raises(EventFormatError, match="missing"):
        read_events(tmp_path / "c.npy")


# --------------------------------------------------------------------------- HDF5


def test_hdf5_dsec_layout_with_offset(tmp_path):
    expected = random_events(200, size=(640, 480))
    expected["t"] += 1_600_000_000_000_000
    path = write_dsec(tmp_path / "dsec.h5", expected, t_offset=1_600_000_000_000_000)
    stream = read_events(path)
    assert_same(stream, expected)
    assert stream.sensor_size == (640, 480)
    write_dsec(
        path, expected[expected["x"] < 100], t_offset=1_600_000_000_000_000, width=100, height=480
    )
    assert read_events(path).sensor_size == (100, 480)


def test_hdf5_bad_files(tmp_path):
    path = tmp_path / "bad.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("events/x", data=np.zeros(3, np.uint16))
    with pytest.raises(EventFormatError, match="events/y"):
        read_events(path)
    good = write_dsec(tmp_path / "good.h5", random_events(1000))
    cut = tmp_path / "cut.h5"
    cut.write_bytes(good.read_bytes()[:3000])
    with pytest.raises(EventFormatError, match=str(cut)):
        read_events(cut)
    with pytest.raises(EventFormatError):
        list(iter_events(cut, chunk_size=100))


def test_h5py_missing_is_explained(monkeypatch):
    monkeypatch.setitem(sys.modules, "h5py", None)
    with pytest.raises(ImportError, match=r"pip install evclip\[readers\]"):
        import_h5py()


# --------------------------------------------------------------------------- MATLAB


@pytest.mark.parametrize("compress", [False, True])
def test_mat_asl_dvs(tmp_path, compress):
    path = tmp_path / "a.mat"
    column = lambda v, dtype: np.array(v, dtype=dtype).reshape(-1, 1)  # noqa: E731
    scipy.io.savemat(
        path,
        {
            "ts": column([5, 6, 9], np.uint32),
            "x": column([0, 239, 10], np.uint8),
            "y": column([0, 179, 100], np.uint8),
            "pol": column([1, 0, 1], np.uint8),
        },
        do_compression=compress,
    )
    raw = read_events(path)
    assert_same(raw, events_of([(0, 0, 5, 1), (239, 179, 6, 0), (10, 100, 9, 1)]))
    assert raw.sensor_size == (240, 180)
    flipped = read_asl_dvs(path)
    assert_same(flipped, events_of([(0, 179, 5, 1), (239, 0, 6, 0), (10, 79, 9, 1)]))
    assert_same(read_asl_dvs(path, flip_y=False), raw.events)
    assert_same(read_events(path, flip_y=True), flipped.events)
    assert_same(read_events(path), raw.events)  # the flipped read left nothing behind
    scipy.io.savemat(path, {"ts": [[9, 5]], "x": [[1, 1]], "y": [[1, 1]], "pol": [[1, 1]]})
    with pytest.raises(EventFormatError, match="not sorted"):
        read_asl_dvs(path)
    assert read_asl_dvs(path, sort=True).events["t"].tolist() == [5, 9]


@pytest.mark.parametrize("compress", [False, True])
def test_mat_parser_matches_scipy(tmp_path, compress):
    rng = np.random.default_rng(2)
    variables = {
        "double": rng.normal(size=(3, 4)),
        "int16": rng.integers(-100, 100, (5, 1)).astype(np.int16),
        "uint64": np.array([[2**40, 3]], dtype=np.uint64),
        "logical": np.array([[True, False]]),
        "text": "hello",
        "complex": np.array([[1 + 2j]]),
        "cell": np.array([1, "a"], dtype=object),
        "struct": {"field": np.ones(2)},
        "empty": np.zeros((0, 1)),
    }
    path = tmp_path / "mixed.mat"
    scipy.io.savemat(path, variables, do_compression=compress)
    ours = load_variables(path)
    reference = scipy.io.loadmat(path)
    assert sorted(ours) == sorted(variables)
    for name in ("double", "int16", "uint64", "logical", "empty"):
        np.testing.assert_array_equal(ours[name], reference[name])
    assert all(ours[name] is None for name in ("text", "complex", "cell", "struct"))


def test_mat_v73(tmp_path):
    path = tmp_path / "v73.mat"
    with h5py.File(path, "w", userblock_size=512) as f:
        for name, values in {
            "ts": [1.0, 2.0],
            "x": [3.0, 4.0],
            "y": [5.0, 6.0],
            "pol": [0.0, 1.0],
        }.items():
            f.create_dataset(name, data=np.array(values).reshape(1, -1))  # MATLAB stores rows
    with open(path, "r+b") as f:
        f.write(b"MATLAB 7.3 MAT-file".ljust(128))
    assert_same(read_events(path), events_of([(3, 5, 1, 0), (4, 6, 2, 1)]))


def test_mat_without_keys_lists_variables(tmp_path):
    scipy.io.savemat(tmp_path / "other.mat", {"spikes": np.zeros((3, 3))})
    with pytest.raises(EventFormatError, match="spikes"):
        read_events(tmp_path / "other.mat")


def test_mat_realdata_parser_matches_scipy(realdata_dir):
    path = realdata_dir / "sample_stmnist.mat"
    ours = load_variables(path)
    assert list(ours) == ["spiketrain"]
    np.testing.assert_array_equal(ours["spiketrain"], scipy.io.loadmat(path)["spiketrain"])


def test_mat_realdata_stmnist_rejected(realdata_dir):
    with pytest.raises(EventFormatError, match="spiketrain") as info:
        read_events(realdata_dir / "sample_stmnist.mat")
    assert "ts" in str(info.value)


# --------------------------------------------------------------------------- writers


@pytest.mark.parametrize("suffix", [".npz", ".h5"])
def test_write_read_round_trip(tmp_path, suffix):
    events = random_events(500)
    rng = np.random.default_rng(3)
    frames = Frames(np.array([0, 40_000]), rng.integers(0, 256, (2, 48, 64, 3), dtype=np.uint8))
    path = tmp_path / f"out{suffix}"
    write_events(path, EventStream(events, (64, 48), frames))
    stream = read_events(path)
    assert_same(stream, events)
    assert stream.sensor_size == (64, 48)
    np.testing.assert_array_equal(stream.frames.images, frames.images)
    np.testing.assert_array_equal(stream.frames.t, frames.t)
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]  # no temp files left
    assert path.stat().st_mode & 0o044  # readable by others as with open(), not mkstemp's 0600


@pytest.mark.parametrize("compress", [False, True])
@pytest.mark.parametrize("suffix", [".npz", ".hdf5"])
def test_chunked_writer_and_plain_numpy(tmp_path, suffix, compress):
    events = random_events(1000)
    path = tmp_path / f"chunks{suffix}"
    with open_writer(path, (64, 48), compress=compress) as writer:
        for part in np.array_split(events, 7):
            writer.write(part)
        writer.write(events[:0])
    assert writer.count == 1000
    with pytest.raises(ValueError, match="closed"):
        writer.write(events)
    assert_same(read_events(path), events)
    if suffix == ".npz":
        with np.load(path) as archive:
            np.testing.assert_array_equal(archive["t"], events["t"])
            np.testing.assert_array_equal(archive["sensor_size"], [64, 48])


def test_h5_ms_to_idx_and_offset(tmp_path):
    events = random_events(3000, seed=5)
    events["t"] += 1_700_000_000_123_456
    path = tmp_path / "index.h5"
    with open_writer(path, (64, 48)) as writer:
        for part in np.array_split(events, 5):
            writer.write(part)
    with h5py.File(path) as f:
        offset = int(f["t_offset"][()])
        stored = f["events/t"][:]
        index = f["ms_to_idx"][:]
    assert offset == 1_700_000_000_123_000
    np.testing.assert_array_equal(stored + offset, events["t"])
    brute = [int(np.searchsorted(stored, m * 1000)) for m in range(int(stored[-1]) // 1000 + 1)]
    np.testing.assert_array_equal(index, brute)
    np.testing.assert_array_equal(
        ms_to_idx_entries(stored, 2, 4, 10), 10 + np.searchsorted(stored, [2000, 3000, 4000])
    )
    assert_same(read_events(path), events)


@pytest.mark.parametrize("suffix", [".npz", ".h5"])
def test_writer_rejects_unsorted_and_outside(tmp_path, suffix):
    path = tmp_path / f"w{suffix}"
    path.write_bytes(b"previous content")
    events = random_events(100)
    with pytest.raises(EventFormatError, match="not sorted"), open_writer(path, (64, 48)) as w:
        w.write(events[50:])
        w.write(events[:50])
    with pytest.raises(EventFormatError, match="outside"), open_writer(path, (10, 10)) as w:
        w.write(events)
    assert path.read_bytes() == b"previous content"  # atomic: the old file survives
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]


def test_writer_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match=r"\.npz, \.h5"):
        open_writer(tmp_path / "x.csv", (10, 10))
    with pytest.raises(ValueError, match="positive"):
        open_writer(tmp_path / "x.npz", (0, 10))
    with pytest.raises(ValueError, match="uint8"), open_writer(tmp_path / "x.npz", (4, 4)) as w:
        w.write_frames(Frames(np.zeros(1, np.int64), np.zeros((1, 4, 4), np.uint8)))
    assert list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------------- reading options


def test_unsorted_needs_sort_and_explicit_size_checks(tmp_path):
    path = tmp_path / "u.npz"
    np.savez(path, x=[1, 2, 3], y=[1, 2, 3], t=[30, 10, 20], p=[1, 0, 1])
    with pytest.raises(EventFormatError, match="sort=True"):
        read_events(path)
    assert read_events(path, sort=True).events["t"].tolist() == [10, 20, 30]
    with pytest.raises(EventFormatError, match="outside the sensor"):
        read_events(path, sort=True, sensor_size=(3, 10))
    np.savez(path, x=[1, 12], y=[1, 2], t=[1, 2], p=[1, 0], sensor_size=[10, 10])
    with pytest.raises(EventFormatError, match="x=12"):
        read_events(path)


def _write_fixture(kind: str, folder: Path, events: np.ndarray) -> Path:
    if kind == "bin":
        path = folder / "e.bin"
        path.write_bytes(
            b"".join(bin_record(int(e["x"]), int(e["y"]), int(e["p"]), int(e["t"])) for e in events)
        )
    elif kind == "npz":
        path = folder / "e.npz"
        np.savez(path, x=events["x"], y=events["y"], t=events["t"], p=events["p"])
    elif kind == "npy":
        path = folder / "e.npy"
        np.save(path, events)
    elif kind == "mat":
        path = folder / "e.mat"
        scipy.io.savemat(
            path,
            {
                "ts": events["t"].reshape(-1, 1),
                "x": events["x"].reshape(-1, 1),
                "y": events["y"].reshape(-1, 1),
                "pol": events["p"].reshape(-1, 1),
            },
        )
    else:
        path = write_dsec(folder / "e.h5", events)
    return path


@pytest.mark.parametrize("kind", ["bin", "npz", "npy", "h5", "mat"])
def test_iter_events_matches_read_events(tmp_path, kind):
    path = _write_fixture(kind, tmp_path, random_events(230, seed=7))
    whole = read_events(path)
    chunks = list(iter_events(path, chunk_size=40))
    assert len(chunks) >= 6
    assert {c.sensor_size for c in chunks} == {whole.sensor_size}
    np.testing.assert_array_equal(np.concatenate([c.events for c in chunks]), whole.events)


@pytest.mark.parametrize("kind", ["bin", "npz", "npy", "h5", "mat"])
def test_empty_files_give_zero_events(tmp_path, kind):
    path = _write_fixture(kind, tmp_path, random_events(0))
    assert len(read_events(path)) == 0
    assert sum(len(c) for c in iter_events(path, chunk_size=10)) == 0


@pytest.mark.parametrize("suffix", [".npz", ".h5"])
def test_write_empty_stream(tmp_path, suffix):
    path = tmp_path / f"empty{suffix}"
    write_events(path, EventStream(random_events(0), (5, 6)))
    stream = read_events(path)
    assert len(stream) == 0 and stream.sensor_size == (5, 6)


# --------------------------------------------------------------------------- corruption


def _fixture_bytes(kind: str, folder: Path) -> bytes:
    events = random_events(40, size=(34, 34), seed=11)
    if kind == "h5":
        path = folder / "e.h5"
        write_events(path, EventStream(events, (34, 34)))
        return path.read_bytes()
    return _write_fixture(kind, folder, events).read_bytes()


FORMAT_OF = {"bin": "nmnist_bin", "npz": "npz", "npy": "npy", "h5": "hdf5", "mat": "mat"}


@pytest.mark.parametrize("kind", sorted(FORMAT_OF))
def test_corruption_never_escapes(tmp_path, kind):
    original = _fixture_bytes(kind, tmp_path)
    target = tmp_path / f"mutated.{kind}"
    target.write_bytes(original)
    assert len(read_events(target, format=FORMAT_OF[kind])) == 40  # the intact file reads

    @settings(
        max_examples=50,
        deadline=None,
        derandomize=True,
        suppress_health_check=[HealthCheck.too_slow],
    )
    @given(
        cut=st.one_of(st.just(len(original)), st.integers(0, len(original) - 1)),
        flips=st.lists(st.integers(0, 8 * len(original) - 1), max_size=4),
    )
    def check(cut, flips):
        data = bytearray(original)
        for bit in flips:
            data[bit // 8] ^= 1 << (bit % 8)
        target.write_bytes(bytes(data[:cut]))
        for read in (_read_whole, _read_chunked):
            try:
                stream = read(target, FORMAT_OF[kind])
            except EventFormatError:
                continue
            events = stream.events
            assert events.dtype == EVENT_DTYPE
            assert np.all(np.diff(events["t"]) >= 0)
            if len(events):
                assert int(events["x"].max()) < stream.sensor_size[0]
                assert int(events["y"].max()) < stream.sensor_size[1]

    check()


def _read_whole(path: Path, format: str) -> EventStream:
    return read_events(path, format=format)


def _read_chunked(path: Path, format: str) -> EventStream:
    """The chunks of ``iter_events`` joined, each checked to share the first one's sensor size."""
    chunks = list(iter_events(path, format=format, chunk_size=7))
    assert {c.sensor_size for c in chunks} == {chunks[0].sensor_size}
    return EventStream(np.concatenate([c.events for c in chunks]), chunks[0].sensor_size)


# --------------------------------------------------------------------------- chunked .npz


@pytest.mark.parametrize("compress", [False, True])
@pytest.mark.parametrize("layout", ["plain", "event_data", "old_keys"])
def test_npz_chunks_stream_both_layouts(tmp_path, layout, compress):
    events = random_events(230, size=(640, 480), seed=9)
    path = tmp_path / "n.npz"
    save = np.savez_compressed if compress else np.savez
    if layout == "plain":
        frames = np.arange(2 * 4 * 5 * 3, dtype=np.uint8).reshape(2, 4, 5, 3)
        save(
            path,
            x=events["x"],
            y=events["y"],
            t=events["t"].astype(float),
            p=events["p"],
            frames=frames,
            frames_t=np.array([0, 10]),
            sensor_size=[640, 480],
        )
    elif layout == "event_data":
        save(path, event_data=events)
    else:
        save(
            path,
            x_pos=events["x"],
            y_pos=events["y"],
            timestamp=events["t"],
            polarity=events["p"].astype(bool),
        )
    whole = read_events(path)
    chunks = list(iter_events(path, chunk_size=40))
    assert len(chunks) == 6 and event_count(path) == 230
    assert {c.sensor_size for c in chunks} == {whole.sensor_size} == {(640, 480)}
    np.testing.assert_array_equal(np.concatenate([c.events for c in chunks]), events)
    assert len(chunks[0].frames) == len(whole.frames) and not any(len(c.frames) for c in chunks[1:])


def test_npz_chunks_errors_match_whole_reads(tmp_path):
    path = tmp_path / "bad.npz"
    np.savez(path, x=[1, 2], y=[1], t=[1, 2], p=[0, 1])
    with pytest.raises(EventFormatError, match="differ in length"):
        list(iter_events(path))
    np.savez(path, x=[1.5, 2], y=[1, 1], t=[1, 2], p=[0, 1])
    with pytest.raises(EventFormatError, match="fractional"):
        list(iter_events(path))
    np.savez(path, x=[1, 2], y=[1, 1], t=[2, 1], p=[0, 1])
    with pytest.raises(EventFormatError, match="not sorted"):
        list(iter_events(path, chunk_size=1))
    np.savez(path, spikes=[1, 2])
    with pytest.raises(EventFormatError, match="spikes"):
        list(iter_events(path))


# --------------------------------------------------------------------------- bounded memory

N_BIG = 300_000


def _big_fixture(kind: str, folder: Path) -> Path:
    """A file of N_BIG events written with vectorised numpy (no per-event loop)."""
    events = random_events(N_BIG, size=(34, 34), seed=13)
    events["t"] = np.sort(np.random.default_rng(1).integers(0, 1 << 23, N_BIG))
    if kind == "bin":
        raw = np.zeros((N_BIG, 5), np.uint8)
        t = events["t"]
        raw[:, 0], raw[:, 1] = events["x"], events["y"]
        raw[:, 2] = (events["p"].astype(np.uint8) << 7) | (t >> 16).astype(np.uint8)
        raw[:, 3], raw[:, 4] = (t >> 8) & 0xFF, t & 0xFF
        path = folder / "big.bin"
        path.write_bytes(raw.tobytes())
        return path
    if kind == "npz_deflated":
        path = folder / "big.npz"
        np.savez_compressed(path, x=events["x"], y=events["y"], t=events["t"], p=events["p"])
        return path
    if kind == "npy":
        path = folder / "big.npy"
        np.save(path, events)
        return path
    path = folder / f"big.{kind}"
    write_events(path, EventStream(events, (34, 34)))
    return path


@pytest.mark.parametrize("kind", ["bin", "npz", "npz_deflated", "npy", "h5"])
def test_iter_events_memory_is_bounded(tmp_path, kind):
    """A chunked read never holds the file's events: peak memory is far below their size."""
    path = _big_fixture(kind, tmp_path)
    tracemalloc.start()
    try:
        total = sum(len(chunk) for chunk in iter_events(path, chunk_size=4096))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert total == N_BIG
    assert peak < N_BIG * EVENT_DTYPE.itemsize / 4, f"peak {peak} bytes"


# --------------------------------------------------------------------------- silent wrap-arounds


def test_values_that_would_wrap_or_truncate_are_rejected(tmp_path):
    mat = tmp_path / "a.mat"
    good = {"ts": [[1, 2]], "x": [[1, 2]], "y": [[1, 2]], "pol": [[0, 1]]}
    scipy.io.savemat(mat, {**good, "ts": np.array([[1, 2**63 + 5]], np.uint64)})
    with pytest.raises(EventFormatError, match="too large"):
        read_events(mat)
    scipy.io.savemat(mat, {**good, "x": [[1.0, 2.5]]})
    with pytest.raises(EventFormatError, match="fractional"):
        read_events(mat)
    scipy.io.savemat(mat, {**good, "ts": [[1.4, 2.6]]})
    assert read_events(mat).events["t"].tolist() == [1, 3]
    h5 = tmp_path / "a.h5"
    with h5py.File(h5, "w") as f:
        for name, values in {"x": [1, 2], "y": [1, 2], "t": [1.0, 1e30], "p": [0, 1]}.items():
            f.create_dataset(f"events/{name}", data=np.array(values))
    with pytest.raises(EventFormatError, match="int64"):
        read_events(h5)
