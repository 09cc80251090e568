"""The .npz / .h5 writers, and reading options shared by the simple formats."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
from io_fixtures import assert_same, random_events, write_format_fixture

from evclip.io import EventFormatError, EventStream, Frames, iter_events, read_events, write_events
from evclip.io.writers import ms_to_idx_entries, open_writer

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


@pytest.mark.parametrize("kind", ["bin", "npz", "npy", "h5", "mat"])
def test_iter_events_matches_read_events(tmp_path, kind):
    path = write_format_fixture(kind, tmp_path, random_events(230, seed=7))
    whole = read_events(path)
    chunks = list(iter_events(path, chunk_size=40))
    assert len(chunks) >= 6
    assert {c.sensor_size for c in chunks} == {whole.sensor_size}
    np.testing.assert_array_equal(np.concatenate([c.events for c in chunks]), whole.events)


@pytest.mark.parametrize("kind", ["npz", "npy", "h5", "mat"])
def test_files_without_events_give_zero_events(tmp_path, kind):
    path = write_format_fixture(kind, tmp_path, random_events(0))
    assert len(read_events(path)) == 0
    assert sum(len(c) for c in iter_events(path, chunk_size=10)) == 0


@pytest.mark.parametrize("suffix", [".npz", ".h5"])
def test_write_empty_stream(tmp_path, suffix):
    path = tmp_path / f"empty{suffix}"
    write_events(path, EventStream(random_events(0), (5, 6)))
    stream = read_events(path)
    assert len(stream) == 0 and stream.sensor_size == (5, 6)
