"""EventCLIP's stream preparation: re-centring, K deterministic windows, label checks (no CLIP)."""

from __future__ import annotations

import numpy as np
import pytest

from evclip.io import EventStream, make_events
from evclip.models.eventclip import check_labels, recentre_events, window_event_images
from evclip.representations import event_image, event_images


def _corner_events(n: int = 300, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return make_events(
        rng.integers(2, 9, n), rng.integers(1, 5, n), np.arange(n) * 10, rng.integers(0, 2, n)
    )


def test_recentre_centres_the_bounding_box_and_keeps_the_input():
    events = _corner_events()
    before = events.copy()
    out = recentre_events(events, (40, 30))
    np.testing.assert_array_equal(events, before)
    for name, size in (("x", 40), ("y", 30)):
        low, high = int(out[name].min()), int(out[name].max())
        # centre of the box [low, high + 1) within half a pixel of the sensor centre
        assert abs((low + high + 1) / 2 - size / 2) <= 0.5
        assert high - low == int(events[name].max()) - int(events[name].min())
    np.testing.assert_array_equal(out["t"], events["t"])
    np.testing.assert_array_equal(out["p"], events["p"])
    assert out.dtype == events.dtype


def test_recentre_matches_eventclip_rule_and_stays_inside():
    rng = np.random.default_rng(3)
    for _ in range(50):
        width, height = rng.integers(1, 20, 2)
        n = int(rng.integers(1, 30))
        x, y = rng.integers(0, width, n), rng.integers(0, height, n)
        events = make_events(x, y, np.arange(n), np.ones(n, int))
        out = recentre_events(events, (width, height))
        # EventCLIP: shift = floor((min + max + 1 - size) / 2), subtracted
        shift_x = (x.min() + x.max() + 1 - width) // 2
        np.testing.assert_array_equal(out["x"], x - shift_x)
        assert out["x"].max() < width and out["y"].max() < height


def test_recentre_empty_stream():
    empty = make_events([], [], [], [])
    assert len(recentre_events(empty, (4, 4))) == 0


def test_windows_are_equal_count_eventclip_images():
    events = _corner_events(301)
    stream = EventStream(events, (40, 30))
    images = window_event_images(stream, 3, recentre=False)
    assert images.shape == (3, 30, 40, 3) and images.dtype == np.uint8
    expected = event_images(events, (40, 30), 3, mode="eventclip_grey", slicing="count")
    np.testing.assert_array_equal(images, expected)
    # equal counts: window i holds events [100 i, 100 i + 100)
    from evclip.representations import count_slices

    counts = count_slices(events, (40, 30), np.array([[100, 200]]))
    np.testing.assert_array_equal(images[1], event_image(counts[0], "eventclip_grey"))
    # grey on white: every pixel grey, background white
    assert (images[..., 0] == images[..., 2]).all() and images.max() == 255


def test_windows_are_deterministic_and_recentred():
    stream = EventStream(_corner_events(), (40, 30))
    first = window_event_images(stream, 2)
    np.testing.assert_array_equal(first, window_event_images(stream, 2))
    # the corner object now sits around the centre: its dark pixels are there
    dark = np.argwhere(first[0, :, :, 0] < 255)
    assert abs(dark[:, 1].mean() - 20) < 4 and abs(dark[:, 0].mean() - 15) < 4
    with pytest.raises(ValueError, match="at least 1"):
        window_event_images(stream, 0)


def test_class_names_cleaned_and_checked():
    assert check_labels(["  walking ", "running  fast"]) == ["walking", "running fast"]
    with pytest.raises(ValueError, match="label 2 of 3 is empty"):
        check_labels(["a", "  ", "b"])
    with pytest.raises(ValueError, match="duplicate label 'Walking'"):
        check_labels(["walking", "running", "Walking"])
    with pytest.raises(ValueError, match="at least two labels"):
        check_labels(["walking"])
    with pytest.raises(ValueError, match="list of strings"):
        check_labels("walking, running")
