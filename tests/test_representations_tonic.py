"""Representations computed by evclip equal tonic's, on both kernel paths."""

from __future__ import annotations

import numpy as np
import pytest
from representation_helpers import HEIGHT, SIZE, WIDTH, random_events

from evclip.io.events import EVENT_DTYPE, make_events
from evclip.representations import count_frames, denoise, get_representation, voxel_grid


# --------------------------------------------------------------------------- tonic equality
@pytest.mark.parametrize("by", ["time", "count"])
@pytest.mark.parametrize("n_frames", [1, 3, 8, 50])
@pytest.mark.parametrize("overlap", [0.0, 0.3])
def test_count_frames_equal_tonic(kernel_path, by, n_frames, overlap):
    from tonic.transforms import ToFrame

    events = random_events(2000, seed=n_frames)
    key = "n_time_bins" if by == "time" else "n_event_bins"
    expected = ToFrame(sensor_size=(WIDTH, HEIGHT, 2), overlap=overlap, **{key: n_frames})(
        events.copy()
    )
    got = count_frames(events, SIZE, n_frames, by, overlap=overlap)
    assert got.dtype == np.int32 and got.shape == (n_frames, 2, HEIGHT, WIDTH)
    np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("by", ["time", "count"])
def test_count_frames_more_bins_than_events_equal_tonic(kernel_path, by):
    from tonic.transforms import ToFrame

    events = random_events(5, seed=1, duration=1000)
    key = "n_time_bins" if by == "time" else "n_event_bins"
    expected = ToFrame(sensor_size=(WIDTH, HEIGHT, 2), **{key: 8})(events.copy())
    got = count_frames(events, SIZE, 8, by)
    np.testing.assert_array_equal(got, expected)
    if by == "count":  # 5 // 8 = 0 events per bin, as in tonic
        assert got.sum() == 0
    else:  # 1000 // 8 us windows: the last event is outside every window, as in tonic
        assert 0 < got.sum() < 5


@pytest.mark.parametrize(
    "t",
    [
        np.arange(0, 1001, 10),  # events exactly on the window boundaries; the last one too
        np.repeat(np.arange(0, 1000, 125), 3),  # several events on each boundary
        np.array([5]),  # one event: zero-length windows
        np.full(6, 42),  # one timestamp for all
        np.array([3, 4, 7]),  # fewer events (and microseconds) than frames
        np.arange(10**12, 10**12 + 800, 8),  # large absolute timestamps
    ],
    ids=["boundaries", "duplicates", "one", "same_t", "few", "offset"],
)
@pytest.mark.parametrize("by", ["time", "count"])
@pytest.mark.parametrize("overlap", [0.0, 0.25, 0.9])
def test_count_frames_edge_cases_equal_tonic(kernel_path, t, by, overlap):
    from tonic.transforms import ToFrame

    events = random_events(len(t), seed=len(t))
    events["t"] = t
    key = "n_time_bins" if by == "time" else "n_event_bins"
    for n_frames in (1, 3, 4, 16):
        expected = ToFrame(sensor_size=(WIDTH, HEIGHT, 2), overlap=overlap, **{key: n_frames})(
            events.copy()
        )
        got = count_frames(events, SIZE, n_frames, by, overlap=overlap)
        np.testing.assert_array_equal(got, expected)


def test_count_frames_empty_stream_matches_tonic_zeros():
    from tonic.transforms import ToFrame

    expected = ToFrame(sensor_size=(WIDTH, HEIGHT, 2), n_time_bins=4)(np.zeros(0, EVENT_DTYPE))
    got = count_frames(np.zeros(0, EVENT_DTYPE), SIZE, 4)
    # tonic's empty-stream shortcut returns (n, P, W, H): same zeros, transposed frame axes
    assert expected.shape == (4, 2, WIDTH, HEIGHT) and not expected.any()
    assert got.shape == (4, 2, HEIGHT, WIDTH) and got.dtype == np.int32 and not got.any()


def test_voxel_grid_equal_tonic(kernel_path):
    # tonic's own events have a bool polarity, which its `pols[pols == 0] = -1` cannot make
    # negative; fed evclip's int8 polarity it computes the signed grid, so the two compare directly
    from tonic.transforms import ToVoxelGrid

    events = random_events(3000, seed=3)
    # tonic's kernel sets p = -1 in the array it is given: hand it a copy of its own
    expected = ToVoxelGrid(sensor_size=(WIDTH, HEIGHT, 2), n_time_bins=5)(events.copy())[:, 0]
    assert expected.min() < 0 < expected.max()  # the signed grid, not the all-positive one
    got = voxel_grid(events, SIZE, 5)  # the default is tonic's formula
    assert got.dtype == np.float32 and got.shape == (5, HEIGHT, WIDTH)
    np.testing.assert_allclose(got, expected, atol=1e-5)
    np.testing.assert_array_equal(got, get_representation("voxel_grid", n_bins=5)(events, SIZE))


@pytest.mark.parametrize(
    "t",
    [
        np.arange(0, 1001, 10),  # events exactly on every bin boundary, the last one included
        np.repeat(np.arange(0, 1000, 125), 3),  # duplicated timestamps on the boundaries
        np.array([0, 8]),
        np.arange(10**12, 10**12 + 800, 8),  # large absolute timestamps
    ],
    ids=["boundaries", "duplicates", "two", "offset"],
)
def test_voxel_grid_edge_cases_equal_tonic(kernel_path, t):
    from tonic.transforms import ToVoxelGrid

    events = random_events(len(t), seed=len(t))
    events["t"] = t
    for n_bins in (1, 3, 8):
        expected = ToVoxelGrid(sensor_size=(WIDTH, HEIGHT, 2), n_time_bins=n_bins)(events.copy())
        np.testing.assert_allclose(voxel_grid(events, SIZE, n_bins), expected[:, 0], atol=1e-5)


def test_voxel_grid_e2vid_scale_keeps_every_events_weight(kernel_path):
    events = random_events(3000, seed=4)
    grid = voxel_grid(events, SIZE, 4, tonic_time_scale=False)
    signs = np.where(events["p"] > 0, 1.0, -1.0)
    # normalised to [0, n_bins - 1]: each event's two weights sum to its polarity
    assert grid.sum() == pytest.approx(signs.sum(), abs=1e-3)
    # numpy reference of the formula, one event at a time
    t = events["t"].astype(np.float64)
    ts = 3 * (t - t[0]) / (t[-1] - t[0])
    expected = np.zeros((4, HEIGHT, WIDTH))
    for x, y, s, v in zip(events["x"], events["y"], ts, signs, strict=True):
        low = int(s)
        expected[low, y, x] += v * (1 - (s - low))
        if low + 1 < 4:
            expected[low + 1, y, x] += v * (s - low)
    np.testing.assert_allclose(grid, expected, atol=1e-4)


def test_voxel_grid_single_timestamp_goes_to_first_bin(kernel_path):
    # tonic divides by t[-1] - t[0] = 0 here; evclip puts every event in bin 0, full weight
    for tonic_time_scale in (True, False):
        events = make_events(x=[1, 2], y=[0, 0], t=[7, 7], p=[1, 0])
        grid = voxel_grid(events, SIZE, 3, tonic_time_scale=tonic_time_scale)
        assert np.isfinite(grid).all()
        assert grid[0, 0, 1] == 1 and grid[0, 0, 2] == -1 and not grid[1:].any()
        one = voxel_grid(events[:1], SIZE, 3, tonic_time_scale=tonic_time_scale)
        assert one[0, 0, 1] == 1 and one.sum() == 1


def test_voxel_grid_unsorted_raises(kernel_path):
    # t = 0 before t[0] = 1000 maps to bin -4000: without the check numba writes before the grid
    events = make_events(x=[1, 2, 3], y=[1, 1, 1], t=[1000, 0, 1001], p=[1, 0, 1])
    with pytest.raises(ValueError, match="sorted by time"):
        voxel_grid(events, SIZE, 5)
    late = make_events(x=[1, 2, 3], y=[1, 1, 1], t=[0, 10**12, 1], p=[1, 0, 1])
    with pytest.raises(ValueError, match="sorted by time"):
        voxel_grid(late, SIZE, 5, tonic_time_scale=False)


def test_denoise_equal_tonic(kernel_path):
    from tonic.functional import denoise_numpy

    # tonic treats every pixel as having fired at t = 0; start after filter_time so it cannot matter
    events = random_events(3000, seed=5, duration=200_000)
    events["t"] += 10_000
    expected = denoise_numpy(events.copy(), filter_time=4000)
    got = denoise(events, SIZE, filter_time_us=4000, connectivity=4)
    assert 0 < len(got) < len(events)
    np.testing.assert_array_equal(got, expected)
