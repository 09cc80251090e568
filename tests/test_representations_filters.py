"""Event filters: the background-activity denoiser and hot-pixel removal."""

from __future__ import annotations

import numpy as np
import pytest
from representation_helpers import HEIGHT, SIZE, WIDTH, random_events

from evclip.io.events import make_events
from evclip.representations import denoise, hot_pixel_mask, remove_hot_pixels


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
