"""N-MNIST .bin, .npz (whole and chunked) and .npy files read through ``read_events``."""

from __future__ import annotations

import importlib

import numpy as np
import pytest
from io_fixtures import (
    BIN_EVENTS,
    BIN_RECORDS,
    OVERFLOW,
    assert_same,
    bin_record,
    events_of,
    random_events,
)

from evclip.io import EventFormatError, iter_events, read_events
from evclip.io.npz_chunks import event_count

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
        t=np.array([10_000.0, 20_000.0, 30_001.0]),  # whole and > 1e4: microseconds
        p=np.array([-1, 1, -1], dtype=np.int8),
    )
    expected = events_of([(3, 0, 10_000, 0), (1, 5, 20_000, 1), (2, 7, 30_001, 0)])
    assert_same(read_events(path), expected)
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
