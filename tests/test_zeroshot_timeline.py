"""The timeline's windows (bounded-memory sliding over chunks) and its PNG strip; no CLIP here."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from evclip.io import EventStream, make_events
from evclip.zeroshot import LabelStrip, TimelineRow, count_windows, sliding_windows
from evclip.zeroshot.strip import CAPTION_HEIGHT, GAP


def _events(n: int = 400, seed: int = 0, t0: int = 1_000, span: int = 10_000) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.sort(rng.integers(t0, t0 + span, n))
    t[10:20] = t[10]  # a run of equal timestamps, so chunk boundaries fall inside one
    t = np.sort(t)
    return make_events(rng.integers(0, 16, n), rng.integers(0, 12, n), t, rng.integers(0, 2, n))


def _chunks(events: np.ndarray, size: int) -> list[EventStream]:
    return [EventStream(events[i : i + size], (16, 12)) for i in range(0, len(events), size)]


@pytest.mark.parametrize("chunk", [1, 7, 64, 10_000])
@pytest.mark.parametrize(("window", "stride"), [(1000, 1000), (1500, 400), (300, 1700)])
def test_windows_match_brute_force_for_any_chunking(chunk, window, stride):
    events = _events()
    t = events["t"].astype(np.int64)
    got = list(sliding_windows(_chunks(events, chunk), window, stride))
    span = int(t[-1] - t[0]) + 1
    assert len(got) == count_windows(span, window, stride) == (span - window) // stride + 1
    for i, w in enumerate(got):
        start = int(t[0]) + i * stride
        assert (w.index, w.start_us, w.end_us) == (i, start, start + window)
        assert w.end_us <= int(t[-1]) + 1
        expected = events[(t >= start) & (t < start + window)]
        np.testing.assert_array_equal(w.stream.events, expected)
        assert w.stream.sensor_size == (16, 12)
    # the windows cover every event once when they tile the recording exactly
    if window == stride and span % window == 0:
        assert sum(len(w.stream) for w in got) == len(events)


def test_window_as_long_as_the_recording_is_one_window():
    events = _events()
    span = int(events["t"][-1] - events["t"][0]) + 1
    got = list(sliding_windows(_chunks(events, 50), span, 10))
    assert len(got) == 1 and len(got[0].stream) == len(events)


def test_windows_keep_empty_gaps():
    events = make_events([0, 1, 2], [0, 0, 0], [0, 100, 10_000], [1, 0, 1])
    got = list(sliding_windows(_chunks(events, 2), 1000, 1000))
    assert len(got) == 10
    assert [len(w.stream) for w in got] == [2] + [0] * 9


@pytest.mark.parametrize(("window", "stride", "message"), [(0, 10, "window"), (10, -1, "stride")])
def test_non_positive_window_or_stride_is_refused(window, stride, message):
    with pytest.raises(ValueError, match=message):
        list(sliding_windows(_chunks(_events(), 10), window, stride))
    with pytest.raises(ValueError, match=message):
        count_windows(100, window, stride)


def test_recording_shorter_than_one_window_says_so():
    events = _events(span=500)
    span = int(events["t"][-1] - events["t"][0]) + 1
    with pytest.raises(ValueError, match=f"rec.npz: the recording lasts {span} us, shorter than"):
        list(sliding_windows(_chunks(events, 10), span + 1, 10, source="rec.npz"))


def test_recording_without_events_says_so():
    with pytest.raises(ValueError, match="no events"):
        list(sliding_windows([EventStream(make_events([], [], [], []), (4, 4))], 10, 10))


def _row(i: int, label: str | None = "walking", shape=(12, 16)) -> TimelineRow:
    image = np.full((*shape, 3), 255, np.uint8)
    image[: i % shape[0]] = 0
    return TimelineRow(i, 1000 * i, 1000 * i + 500, 5, label, 0.5 if label else None, image)


def test_strip_size_and_tiles(tmp_path):
    strip = LabelStrip(max_tiles=5, tile_height=48)
    for i in range(3):
        strip.add(_row(i, None if i == 1 else "walking"))
    width, height = strip.save(tmp_path / "s.png")
    tile_width = round(16 * 48 / 12)
    assert (width, height) == (3 * tile_width + 2 * GAP, 48 + CAPTION_HEIGHT)
    with Image.open(tmp_path / "s.png") as image:
        assert image.size == (width, height)
        pixels = np.asarray(image.convert("RGB"))
    # the first tile is the white event image, enlarged; the caption band holds dark text
    assert (pixels[:48, :tile_width] == 255).all()
    assert (pixels[48:, :tile_width] < 128).any()


def test_strip_thins_long_timelines_evenly_with_bounded_memory():
    strip = LabelStrip(max_tiles=4, tile_height=16)
    for i in range(1000):
        strip.add(_row(i))
        assert len(strip._tiles) <= 2 * strip.max_tiles + 1
    chosen = strip.chosen()
    assert len(chosen) == 4 and chosen[0] == 0 and chosen == sorted(chosen)
    assert chosen[-1] >= 1000 - 2 * strip.step
    assert strip.render().size == (4 * 21 + 3 * GAP, 16 + CAPTION_HEIGHT)


def test_strip_rejects_other_suffixes_and_empty(tmp_path):
    strip = LabelStrip()
    with pytest.raises(ValueError, match="no windows"):
        strip.render()
    strip.add(_row(0))
    with pytest.raises(ValueError, match="must be a .png"):
        strip.save(tmp_path / "s.jpg")


def test_windows_stream_lazily_from_an_endless_recording():
    """Windows come out while chunks keep arriving: the recording is never read whole."""
    import itertools

    pulled = []

    def endless():
        for i in itertools.count():
            pulled.append(i)
            t = 1000 * i + np.arange(10) * 100
            yield EventStream(make_events(t % 16, t % 12, t, t % 2), (16, 12))

    got = list(itertools.islice(sliding_windows(endless(), 2500, 1000), 5))
    assert [w.start_us for w in got] == [0, 1000, 2000, 3000, 4000]
    assert all(len(w.stream) == 25 for w in got)
    assert len(pulled) <= 8
