"""Representation invariants: inputs unchanged, counts kept, both kernel paths, bad input."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
from representation_helpers import HEIGHT, SIZE, WIDTH, random_events

from evclip.io.events import EVENT_DTYPE, make_events
from evclip.representations import (
    EVENT_IMAGE_MODES,
    REPRESENTATIONS,
    _kernels,
    afe_count_frames,
    count_frames,
    count_windows,
    denoise,
    event_image,
    event_images,
    frames_at_timestamps,
    get_representation,
    hot_pixel_mask,
    limit_threads,
    remove_hot_pixels,
    time_surface,
    voxel_grid,
)


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


def test_thread_split_gives_the_same_result(monkeypatch):
    if _kernels.numba is None:
        pytest.skip("numba is not installed")
    events = random_events(6000, seed=4)
    monkeypatch.setattr(_kernels, "USE_NUMBA", True)  # numba even for a stream this short
    monkeypatch.setattr(_kernels, "PARALLEL_MIN_EVENTS", 1 << 40)  # one thread
    serial = count_frames(events, SIZE, 4), voxel_grid(events, SIZE, 3)
    monkeypatch.setattr(_kernels, "PARALLEL_MIN_EVENTS", 64)  # every thread, small chunks
    parallel = count_frames(events, SIZE, 4), voxel_grid(events, SIZE, 3)
    np.testing.assert_array_equal(serial[0], parallel[0])
    np.testing.assert_allclose(serial[1], parallel[1], atol=1e-5)


def test_limit_threads_caps_the_kernels_of_this_thread():
    if _kernels.numba is None:
        pytest.skip("numba is not installed")
    before = _kernels.numba.get_num_threads()
    try:
        limit_threads(1)
        assert _kernels.numba.get_num_threads() == 1
        assert _kernels._n_chunks(10**8) == 1
    finally:
        _kernels.numba.set_num_threads(before)


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


def test_representations_refuse_an_implausible_sensor_size_before_allocating() -> None:
    """A size no sensor has is refused with a clear error, never a MemoryError in a kernel."""
    events = np.zeros(3, dtype=EVENT_DTYPE)
    events["t"] = [0, 1, 2]
    with pytest.raises(ValueError, match="1000000"):
        count_frames(events, (1_000_000, 1_000_000), n_frames=2)
