"""Event images (every mode and slicing) and adaptive event slicing (AFE)."""

from __future__ import annotations

import numpy as np
import pytest
from representation_helpers import HEIGHT, SIZE, WIDTH, random_events

from evclip.io.events import EVENT_DTYPE, make_events
from evclip.representations import (
    EVENT_IMAGE_MODES,
    afe_frames,
    count_frames,
    event_image,
    event_image_from_events,
    event_images,
)


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
