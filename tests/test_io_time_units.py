"""Float timestamps: seconds are detected and converted with a warning, never rounded to t = 0."""

from __future__ import annotations

import warnings

import h5py
import numpy as np
import pytest
from io_fixtures import random_events

from evclip.io import EventFormatError, TimestampUnitWarning, iter_events, read_events


def _seconds_columns(n: int = 1000, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        "x": rng.integers(0, 64, n),
        "y": rng.integers(0, 48, n),
        "t": np.sort(rng.random(n)) * 0.3,  # 0.3 s of float seconds
        "p": rng.integers(0, 2, n),
    }


def _read_both(path, chunk_size: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """Events of a whole read and of a chunked read, each checked to warn exactly once."""
    with pytest.warns(TimestampUnitWarning, match=rf"{path.name}: float t .*seconds") as whole:
        events = read_events(path).events
    with pytest.warns(TimestampUnitWarning) as chunked:
        chunks = np.concatenate([c.events for c in iter_events(path, chunk_size=chunk_size)])
    assert len(whole) == len(chunked) == 1
    return events, chunks


@pytest.mark.parametrize("compress", [False, True])
def test_npz_float_seconds_are_converted_with_a_warning(tmp_path, compress):
    columns = _seconds_columns()
    path = tmp_path / "s.npz"
    (np.savez_compressed if compress else np.savez)(path, **columns)
    events, chunks = _read_both(path)
    np.testing.assert_array_equal(events["t"], np.rint(columns["t"] * 1e6).astype(np.int64))
    np.testing.assert_array_equal(chunks, events)
    assert 0.29e6 < events["t"][-1] - events["t"][0] <= 0.3e6


def test_nimagenet_float_seconds_are_converted(tmp_path):
    columns = _seconds_columns(50)
    data = np.zeros(50, [("x", "<u2"), ("y", "<u2"), ("t", "<f8"), ("p", "u1")])
    for name in "xytp":
        data[name] = columns[name]
    path = tmp_path / "n.npz"
    np.savez(path, event_data=data)
    events, chunks = _read_both(path, chunk_size=7)
    np.testing.assert_array_equal(events["t"], np.rint(columns["t"] * 1e6).astype(np.int64))
    np.testing.assert_array_equal(chunks, events)


def test_npy_structured_float_seconds_are_converted(tmp_path):
    columns = _seconds_columns(80)
    data = np.zeros(80, [("x", "<u2"), ("y", "<u2"), ("t", "<f4"), ("p", "i1")])
    for name in "xytp":
        data[name] = columns[name]
    path = tmp_path / "s.npy"
    np.save(path, data)
    events, chunks = _read_both(path, chunk_size=9)
    expected = np.rint(data["t"].astype(np.float64) * 1e6).astype(np.int64)
    np.testing.assert_array_equal(events["t"], expected)
    np.testing.assert_array_equal(chunks, events)


def test_float_microseconds_and_est_seconds_read_without_a_warning(tmp_path):
    events = random_events(40, seed=3)  # t up to 50 000 us: whole numbers above 1e4
    np.savez(tmp_path / "us.npz", **{k: events[k] for k in "xyp"}, t=events["t"].astype(float))
    table = np.stack([events["x"], events["y"], events["t"] / 1e6, events["p"]], 1)
    np.save(tmp_path / "est.npy", table)  # the EST layout stores seconds by definition
    with warnings.catch_warnings():
        warnings.simplefilter("error", TimestampUnitWarning)
        np.testing.assert_array_equal(read_events(tmp_path / "us.npz").events, events)
        np.testing.assert_array_equal(read_events(tmp_path / "est.npy").events, events)
        for name in ("us.npz", "est.npy"):
            chunks = list(iter_events(tmp_path / name, chunk_size=6))
            np.testing.assert_array_equal(np.concatenate([c.events for c in chunks]), events)


def test_non_finite_float_t_is_an_error_not_a_guess(tmp_path):
    path = tmp_path / "nan.npz"
    np.savez(path, x=[1, 2], y=[1, 2], t=[0.1, np.nan], p=[0, 1])
    with warnings.catch_warnings():
        warnings.simplefilter("error", TimestampUnitWarning)
        with pytest.raises(EventFormatError, match="non-finite"):
            read_events(path)
        with pytest.raises(EventFormatError, match="non-finite"):
            list(iter_events(path))


def test_h5_float_seconds_are_converted_with_a_warning(tmp_path):
    columns = _seconds_columns(200)
    path = tmp_path / "s.h5"
    with h5py.File(path, "w") as f:
        for name in "xytp":
            f.create_dataset(f"events/{name}", data=columns[name])
        f.create_dataset("t_offset", data=np.int64(5))
    events, chunks = _read_both(path, chunk_size=30)
    np.testing.assert_array_equal(events["t"], np.rint(columns["t"] * 1e6).astype(np.int64) + 5)
    np.testing.assert_array_equal(chunks, events)
