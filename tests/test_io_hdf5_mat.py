"""HDF5 (DSEC layout) and MATLAB .mat files, and values that would wrap or truncate."""

from __future__ import annotations

import sys

import h5py
import numpy as np
import pytest
import scipy.io
from io_fixtures import assert_same, events_of, random_events, write_dsec

from evclip.io import EventFormatError, iter_events, read_events
from evclip.io.hdf5 import import_h5py
from evclip.io.matlab import load_variables, read_asl_dvs

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
    with pytest.raises(ImportError, match=r'pip install "evclip\[readers\]"'):
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


def _h5_with_offset(path, t: np.ndarray, t_offset) -> None:
    with h5py.File(path, "w") as f:
        for name in ("x", "y", "p"):
            f.create_dataset(f"events/{name}", data=np.zeros(len(t), np.uint8))
        f.create_dataset("events/t", data=t)
        f.create_dataset("t_offset", data=t_offset)


@pytest.mark.parametrize(
    ("t", "t_offset", "bad"),
    [
        (
            np.array([0, 5, 2**62], np.int64),
            np.int64(2**62),
            "event 2: events/t 46116",
        ),
        (np.array([-(2**62), 0], np.int64), np.int64(-(2**62) - 1), "event 0: events/t -46"),
        (np.array([1, 2], np.uint32), np.int64(2**63 - 2), "event 1: events/t 2 "),
        (np.array([1.0, 2.0**62], np.float64), np.int64(2**62), "event 1"),
        (np.array([0, 1], np.int64), np.uint64(2**63), "t_offset 9223372036854775808"),
    ],
)
def test_h5_t_plus_t_offset_beyond_int64_is_an_error(tmp_path, t, t_offset, bad):
    path = tmp_path / "wrap.h5"
    _h5_with_offset(path, t, t_offset)
    for read in (read_events, lambda p: list(iter_events(p, chunk_size=2))):
        with pytest.raises(EventFormatError, match=r"wrap\.h5: .*int64") as info:
            read(path)
        assert bad in str(info.value)


def test_h5_t_offset_near_the_int64_limit_still_reads(tmp_path):
    path = tmp_path / "edge.h5"
    _h5_with_offset(path, np.array([0, 7], np.uint32), np.int64(2**63 - 8))
    assert read_events(path).events["t"].tolist() == [2**63 - 8, 2**63 - 1]
