"""Tests for evclip.representations: equality with tonic, invariants, both kernel paths."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from evclip.io.events import EVENT_DTYPE, make_events
from evclip.representations import (
    EVENT_IMAGE_MODES,
    REPRESENTATIONS,
    _kernels,
    afe_count_frames,
    afe_frames,
    count_frames,
    count_windows,
    denoise,
    event_image,
    event_image_from_events,
    event_images,
    frames_at_timestamps,
    get_representation,
    hot_pixel_mask,
    remove_hot_pixels,
    time_surface,
    voxel_grid,
)

WIDTH, HEIGHT = 34, 26
SIZE = (WIDTH, HEIGHT)
KERNEL_PATHS = [True, False] if _kernels.numba is not None else [False]


def random_events(n: int, seed: int = 0, duration: int = 100_000) -> np.ndarray:
    rng = np.random.default_rng(seed)
    events = np.empty(n, EVENT_DTYPE)
    events["x"] = rng.integers(0, WIDTH, n)
    events["y"] = rng.integers(0, HEIGHT, n)
    events["t"] = np.sort(rng.integers(0, duration, n))
    events["p"] = rng.integers(0, 2, n)
    return events


@pytest.fixture(params=KERNEL_PATHS, ids=lambda use: "numba" if use else "numpy")
def kernel_path(request, monkeypatch) -> bool:
    """Run a test once with the numba kernels and once with the numpy fallback."""
    monkeypatch.setattr(_kernels, "USE_NUMBA", request.param)
    return request.param


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


# --------------------------------------------------------------------------- invariants
def test_inputs_unchanged(kernel_path):
    events = random_events(1500, seed=6)
    before = events.copy()
    count_frames(events, SIZE, 4)
    count_frames(events, SIZE, 4, "count", overlap=0.2)
    voxel_grid(events, SIZE, 3)
    voxel_grid(events, SIZE, 3, tonic_time_scale=True)
    time_surface(events, SIZE, 1000.0)
    denoise(events, SIZE, filter_time_us=2000)
    remove_hot_pixels(events, SIZE, quantile=0.9)
    event_images(events, SIZE, 3, slicing="afe")
    afe_count_frames(events, SIZE, min_events=100, threshold=0.0)
    hot_pixel_mask(events, SIZE, rate_threshold_hz=50.0)
    boundaries = np.array([0.5, 20_000.0, 60_000.0])
    frames_at_timestamps(events, SIZE, boundaries)
    np.testing.assert_array_equal(boundaries, [0.5, 20_000.0, 60_000.0])
    counts = count_windows(events, SIZE, 500, 3)
    counts_before = counts.copy()
    for mode in EVENT_IMAGE_MODES:
        event_image(counts[0], mode)
    np.testing.assert_array_equal(events, before)
    np.testing.assert_array_equal(counts, counts_before)


def test_counts_preserve_events(kernel_path):
    events = random_events(1000, seed=7)
    # bins by count: 1000 divides evenly into 4, so every event lands in one bin
    assert count_frames(events, SIZE, 4, "count").sum() == 1000
    bounds = np.array([events["t"][0], 40_000, 70_000, events["t"][-1] + 1])
    frames = frames_at_timestamps(events, SIZE, bounds)
    assert frames.shape == (3, 2, HEIGHT, WIDTH) and frames.sum() == 1000
    t = events["t"]
    assert frames[1].sum() == np.count_nonzero((t >= 40_000) & (t < 70_000))
    on = events[events["p"] == 1]
    assert frames[:, 1].sum() == len(on)
    # AFE leaves cover the stream, so their frames hold every event once
    assert afe_count_frames(events, SIZE, min_events=50, threshold=0.0).sum() == 1000
    assert count_windows(events, SIZE, 300, 4).sum() == 1000


def test_count_windows_truncate_and_pad(kernel_path):
    events = random_events(1000, seed=8)
    windows = count_windows(events, SIZE, 300, 5)
    assert windows.shape == (5, 2, HEIGHT, WIDTH) and windows.dtype == np.int32
    assert [int(w.sum()) for w in windows] == [300, 300, 300, 100, 0]
    truncated = count_windows(events, SIZE, 300, 2)
    np.testing.assert_array_equal(truncated, windows[:2])
    expected = np.zeros((2, HEIGHT, WIDTH), np.int32)
    np.add.at(expected, (events["p"][300:600], events["y"][300:600], events["x"][300:600]), 1)
    np.testing.assert_array_equal(windows[1], expected)


def test_time_surface(kernel_path):
    events = make_events(x=[0, 0, 3, 3], y=[1, 1, 2, 2], t=[0, 100, 50, 300], p=[1, 1, 0, 1])
    surface = time_surface(events, SIZE, 100.0)
    assert surface.shape == (2, HEIGHT, WIDTH) and surface.dtype == np.float32
    assert surface[1, 1, 0] == pytest.approx(np.exp(-2.0))  # latest ON at (0, 1): t = 100
    assert surface[0, 2, 3] == pytest.approx(np.exp(-2.5))
    assert surface[1, 2, 3] == pytest.approx(1.0)
    assert np.count_nonzero(surface) == 3
    early = time_surface(events, SIZE, 100.0, t_ref=100)  # the event at t = 300 is ignored
    assert early[1, 2, 3] == 0 and early[1, 1, 0] == pytest.approx(1.0)


def test_numba_and_numpy_agree(monkeypatch):
    if _kernels.numba is None:
        pytest.skip("numba is not installed")
    events = random_events(4000, seed=9)
    events["t"] += 5000

    def run_all() -> list[np.ndarray]:
        return [
            count_frames(events, SIZE, 6, overlap=0.5),
            count_windows(events, SIZE, 700, 7),
            voxel_grid(events, SIZE, 5),
            time_surface(events, SIZE, 3000.0),
            denoise(events, SIZE, filter_time_us=3000),
        ]

    monkeypatch.setattr(_kernels, "USE_NUMBA", True)
    fast = run_all()
    monkeypatch.setattr(_kernels, "USE_NUMBA", False)
    slow = run_all()
    for a, b in zip(fast, slow, strict=True):
        assert a.dtype == b.dtype and a.shape == b.shape
        if a.dtype.kind == "f":
            np.testing.assert_allclose(a, b, atol=1e-5)
        else:
            np.testing.assert_array_equal(a, b)


def test_env_var_disables_numba():
    code = "from evclip.representations import _kernels; print(_kernels.USE_NUMBA)"
    env = dict(os.environ, EVCLIP_NO_NUMBA="1")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.stdout.strip() == "False", out.stderr


def test_events_outside_sensor_raise(kernel_path):
    events = make_events(x=[1, 40], y=[1, 1], t=[0, 5], p=[1, 0])
    for call in (
        lambda: count_frames(events, SIZE, 1, "count"),
        lambda: voxel_grid(events, SIZE, 2),
        lambda: time_surface(events, SIZE, 10.0),
        lambda: denoise(events, SIZE, filter_time_us=10),
    ):
        with pytest.raises(ValueError, match="outside the sensor size 34x26"):
            call()


SIGNED = np.dtype([("x", "<i4"), ("y", "<i4"), ("t", "<i8"), ("p", "i1")])


@pytest.mark.parametrize("x, y", [(-1, 1), (-100_000, 1), (1, -3), (34, 0), (0, 26)])
def test_coordinates_outside_sensor_raise_for_every_dtype(kernel_path, x, y):
    # a signed dtype can carry negative coordinates, which numba would wrap or write out of bounds
    events = np.zeros(3, SIGNED)
    events["x"], events["y"], events["t"] = [1, x, 2], [1, y, 1], [0, 5, 10]
    for call in (
        lambda: count_frames(events, SIZE, 1, "count"),
        lambda: count_windows(events, SIZE, 2, 2),
        lambda: voxel_grid(events, SIZE, 2),
        lambda: time_surface(events, SIZE, 10.0),
        lambda: denoise(events, SIZE, filter_time_us=10),
        lambda: remove_hot_pixels(events, SIZE, quantile=0.5),
    ):
        with pytest.raises(ValueError, match="1 events lie outside the sensor size 34x26"):
            call()


def test_other_dtypes_accepted_or_rejected_clearly(kernel_path):
    reference = random_events(500, seed=15)
    swapped = reference.astype(
        [("x", ">u2"), ("y", ">u2"), ("t", ">i8"), ("p", "i1")]
    )  # big-endian, e.g. a .npy written on another machine
    boolean = reference.astype([("x", "<u2"), ("y", "<u2"), ("t", "<i8"), ("p", "?")])
    signed = reference.astype(SIGNED)
    signed["p"] = np.where(reference["p"] > 0, 1, -1)  # -1/+1 polarity
    for other in (swapped, boolean, signed):
        before = other.copy()
        np.testing.assert_array_equal(
            count_frames(other, SIZE, 3), count_frames(reference, SIZE, 3)
        )
        np.testing.assert_array_equal(voxel_grid(other, SIZE, 3), voxel_grid(reference, SIZE, 3))
        np.testing.assert_array_equal(
            time_surface(other, SIZE, 100.0), time_surface(reference, SIZE, 100.0)
        )
        np.testing.assert_array_equal(other, before)
    floats = reference.astype([("x", "<f4"), ("y", "<f4"), ("t", "<f8"), ("p", "<f4")])
    with pytest.raises(ValueError, match="field x must be"):
        count_frames(floats, SIZE, 2)
    with pytest.raises(ValueError, match="field x must be"):
        voxel_grid(floats, SIZE, 2)


def test_bad_arguments_raise():
    events = random_events(10)
    with pytest.raises(ValueError, match="by must be"):
        count_frames(events, SIZE, 2, by="space")
    with pytest.raises(ValueError, match="at least 1"):
        count_frames(events, SIZE, 0)
    with pytest.raises(ValueError, match="overlap"):
        count_frames(events, SIZE, 2, overlap=1.0)
    with pytest.raises(ValueError, match="non-decreasing"):
        frames_at_timestamps(events, SIZE, np.array([10, 5]))
    with pytest.raises(ValueError, match="unknown event image mode"):
        event_images(events, SIZE, 2, mode="sepia")
    with pytest.raises(ValueError, match="fields x, y, t, p"):
        count_frames(np.zeros(3, [("a", "i4")]), SIZE, 1)


# --------------------------------------------------------------------------- event images
def test_event_image_modes_shapes_and_greys():
    events = random_events(2000, seed=10)
    counts = count_frames(events, SIZE, 1, "count")[0]
    for mode in EVENT_IMAGE_MODES:
        image = event_image(counts, mode)
        assert image.dtype == np.uint8 and image.shape == (HEIGHT, WIDTH, 3)
        assert len(np.unique(image)) > 1
        if mode != "eclip_rgb":
            assert (image[..., 0] == image[..., 1]).all() and (image[..., 1] == image[..., 2]).all()


def test_event_image_polarity_colours():
    on = make_events(x=[2], y=[3], t=[0], p=[1])
    off = make_events(x=[2], y=[3], t=[0], p=[0])
    on_image = event_image_from_events(on, SIZE, "eclip_rgb")
    off_image = event_image_from_events(off, SIZE, "eclip_rgb")
    assert tuple(on_image[3, 2]) == (255, 0, 0)  # EventBind: ON red, OFF blue, on white
    assert tuple(off_image[3, 2]) == (0, 0, 255)
    assert (on_image[0, 0] == 255).all() and (off_image[0, 0] == 255).all()


def test_event_image_backgrounds_and_hot_pixels():
    empty = np.zeros((2, HEIGHT, WIDTH), np.int32)
    assert (event_image(empty, "eclip_grey") == 255).all()
    assert (event_image(empty, "eventclip_grey") == 255).all()
    assert (event_image(empty, "ezsr") == 0).all()
    counts = empty.copy()
    counts[1, :10, :10] = np.arange(1, 101).reshape(10, 10)
    counts[1, 20, 20] = 10_000  # a hot pixel
    ezsr = event_image(counts, "ezsr")
    # clipped at the 0.75 quantile of the non-zero counts: the hot pixel is no brighter
    assert ezsr[20, 20, 0] == ezsr[9, 9, 0] > ezsr[0, 0, 0] > 0
    eventclip = event_image(counts, "eventclip_grey")
    assert eventclip[20, 20, 0] == 255  # above mean + 10 std: zeroed, shows background
    assert eventclip[9, 9, 0] < eventclip[0, 0, 0] < 255


@pytest.mark.parametrize("slicing", ["time", "count", "afe"])
def test_event_images_shapes(slicing):
    events = random_events(3000, seed=11)
    images = event_images(events, SIZE, 4, mode="eclip_grey", slicing=slicing)
    assert images.shape == (4, HEIGHT, WIDTH, 3) and images.dtype == np.uint8
    fixed = event_images(events, SIZE, 4, slicing="count", events_per_window=1000)
    assert (fixed[3] == 255).all() and not (fixed[2] == 255).all()  # 3 windows, then padding


# --------------------------------------------------------------------------- AFE
def test_afe_splits_busy_part_more():
    rng = np.random.default_rng(12)
    n = 4000
    # first half: a dot sweeping across the sensor (changing); second half: one static blob
    t = np.arange(2 * n, dtype=np.int64) * 10
    x_busy = (np.arange(n) * WIDTH // n + rng.integers(0, 2, n)).clip(0, WIDTH - 1)
    x_still = 15 + rng.integers(0, 3, n)
    events = make_events(
        x=np.concatenate([x_busy, x_still]),
        y=np.concatenate([rng.integers(10, 13, n), rng.integers(10, 13, n)]),
        t=t,
        p=rng.integers(0, 2, 2 * n),
    )
    leaves = afe_frames(events, SIZE, min_events=200, threshold=0.5)
    assert leaves[0][0] == 0 and leaves[-1][1] == len(events)
    assert all(a[1] == b[0] for a, b in zip(leaves[:-1], leaves[1:], strict=False))
    busy = sum(1 for start, _ in leaves if start < n)
    still = len(leaves) - busy
    assert busy > still >= 1
    assert leaves == afe_frames(events, SIZE, min_events=200, threshold=0.5)  # deterministic
    assert afe_frames(events, SIZE, min_events=10_000, threshold=0.0) == [(0, 2 * n)]
    assert len(afe_frames(events, SIZE, min_events=1, threshold=0.0, max_depth=3)) <= 8
    assert afe_frames(np.zeros(0, EVENT_DTYPE), SIZE, min_events=1, threshold=0.0) == []
    # an empty stream gives blank AFE images, also for tonic's (W, H, P) sensor size
    blank = event_images(np.zeros(0, EVENT_DTYPE), (WIDTH, HEIGHT, 2), 3, slicing="afe")
    assert blank.shape == (3, HEIGHT, WIDTH, 3) and (blank == 255).all()


# --------------------------------------------------------------------------- filters
def test_denoise_removes_isolated_keeps_supported(kernel_path):
    events = make_events(
        x=[5, 6, 20, 7, 30, 31],
        y=[5, 6, 20, 7, 2, 2],
        t=[1000, 1100, 1200, 1300, 1400, 9000],
        p=[1, 1, 0, 1, 1, 1],
    )
    kept = denoise(events, SIZE, filter_time_us=500)
    # (6, 6) and (7, 7) have a diagonal neighbour within 500 us; (20, 20) has none; (31, 2) is
    # beside (30, 2) but 7600 us later; the first event has no earlier neighbour
    np.testing.assert_array_equal(kept["x"], [6, 7])
    four = denoise(events, SIZE, filter_time_us=500, connectivity=4)
    assert len(four) == 0  # the diagonal neighbours do not count with 4-connectivity


def test_hot_pixels():
    events = random_events(2000, seed=13, duration=1_000_000)
    hot = make_events(x=np.full(500, 4), y=np.full(500, 4), t=np.arange(500) * 2000, p=np.ones(500))
    merged = np.sort(np.concatenate([events, hot]), order="t", kind="stable")
    mask = hot_pixel_mask(merged, SIZE, quantile=0.99)
    assert mask.shape == (HEIGHT, WIDTH) and mask[4, 4] and mask.sum() <= 0.02 * mask.size
    by_rate = hot_pixel_mask(merged, SIZE, rate_threshold_hz=100.0)
    assert by_rate[4, 4] and by_rate.sum() == 1
    cleaned = remove_hot_pixels(merged, SIZE, rate_threshold_hz=100.0)
    assert not ((cleaned["x"] == 4) & (cleaned["y"] == 4)).any()
    assert len(cleaned) == len(merged) - np.count_nonzero((merged["x"] == 4) & (merged["y"] == 4))
    with pytest.raises(ValueError, match="exactly one"):
        hot_pixel_mask(merged, SIZE)


# --------------------------------------------------------------------------- registry
def test_registry_builds_every_transform():
    events = random_events(1200, seed=14)
    params = {
        "count_frames": {"n_frames": 3},
        "frames_at_timestamps": {"timestamps": (0, 50_000, 100_000)},
        "count_windows": {"events_per_window": 500, "n_windows": 3},
        "voxel_grid": {"n_bins": 4},
        "time_surface": {"tau_us": 1000.0},
        "event_image": {"mode": "ezsr"},
        "event_images": {"n_frames": 2},
        "afe_frames": {"min_events": 100},
        "denoise": {"filter_time_us": 1000},
        "remove_hot_pixels": {"quantile": 0.99},
    }
    assert sorted(params) == REPRESENTATIONS.names()
    for name, kwargs in params.items():
        out = get_representation(name, **kwargs)(events, SIZE)
        assert isinstance(out, np.ndarray) and out.size > 0, name
    np.testing.assert_array_equal(
        get_representation("count_frames", n_frames=3)(events, SIZE), count_frames(events, SIZE, 3)
    )
    with pytest.raises(KeyError, match="unknown representation"):
        get_representation("optical_flow")
