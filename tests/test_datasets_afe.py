"""AFE (adaptive fine-grained event frames) and the other slicings in the dataset readers that
carry RGB too: PokerEvent's .aedat4 recordings and HARDVS's .npz files.

The fixture streams have an uneven event rate: a dot sweeping along the top rows makes 80% of
the events in the first fifth of the clip, a still blob in the bottom rows the rest. AFE's
frames follow the events, so most of them show the sweep, while one event image per APS frame
(frames at a steady rate) mostly shows the blob.
"""

from __future__ import annotations

import importlib

import numpy as np
import pytest
import torch
from dataset_fixtures import write_npz_events, write_png

import evclip.datasets.hardvs as hardvs_module
from evclip.datasets import get_dataset
from evclip.datasets.frames import (
    aligned_event_images,
    positions_to_indices,
    segment_positions,
    to_tensor,
)
from evclip.engine.config import load_config
from evclip.engine.data import build_dataset
from evclip.io import EventStream, Frames, make_events, read_events
from evclip.representations import afe_frames, count_slices, event_image, event_images
from evclip.representations.afe import afe_windows, default_min_events, pick_leaves

SENSOR = (32, 16)  # (width, height)
BUSY_ROWS, STILL_ROWS = slice(0, 4), slice(10, 14)
N_APS = 10  # APS frames at 0, 100 000, ..., 900 000 us
T = 5


def uneven_events(seed: int = 0) -> np.ndarray:
    """4000 events sweeping the top rows in [0, 200 ms), 1000 still ones in [200 ms, 1 s)."""
    rng = np.random.default_rng(seed)
    n_busy, n_still = 4000, 1000
    x_busy = np.arange(n_busy) * SENSOR[0] // n_busy
    x_still = rng.integers(14, 18, n_still)
    t_busy = np.sort(rng.integers(0, 200_000, n_busy))
    t = np.concatenate([t_busy, np.sort(rng.integers(200_000, 1_000_000, n_still))])
    y = np.concatenate([rng.integers(0, 4, n_busy), rng.integers(10, 14, n_still)])
    p = rng.integers(0, 2, n_busy + n_still)
    return make_events(np.concatenate([x_busy, x_still]), y, t, p)


def aps_frames() -> Frames:
    """``N_APS`` frames at a steady rate; frame k is a flat image of value 20 * k."""
    images = np.stack([np.full((SENSOR[1], SENSOR[0], 3), 20 * k, np.uint8) for k in range(N_APS)])
    return Frames(np.arange(N_APS, dtype=np.int64) * 100_000, images)


def shows(image: torch.Tensor, rows: slice) -> bool:
    """Whether an eclip_rgb event image [3, H, W] has events in ``rows`` (white is empty)."""
    return bool((image[:, rows] != 255).any())


def as_tensor(images: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(images).permute(0, 3, 1, 2)


@pytest.fixture
def poker_root(tmp_path, monkeypatch):
    """A PokerEvent tree with one real .aedat4 recording of :func:`uneven_events`.

    faery writes the events; it cannot write APS frames, so the reader's result gets
    :func:`aps_frames` attached (the file is still read and decoded for real).
    """
    faery = importlib.import_module("faery")
    root = tmp_path / "Poker"
    (root / "action_Poker001").mkdir(parents=True)
    events = uneven_events()
    arr = np.zeros(len(events), dtype=faery.EVENTS_DTYPE)
    arr["t"], arr["x"], arr["y"], arr["on"] = events["t"], events["x"], events["y"], events["p"]
    path = root / "action_Poker001" / "rec.aedat4"
    faery.events_stream_from_array(arr, dimensions=SENSOR).to_file(path, zero_t0=False)
    (root / "test_label.txt").write_text("action_Poker001/rec 10 0\n")
    (root / "train_label.txt").write_text("action_Poker001/rec 10 0\n")

    def with_frames(path, **kwargs):
        stream = read_events(path, **kwargs)
        return EventStream(stream.events, stream.sensor_size, aps_frames(), stream.path)

    monkeypatch.setattr(hardvs_module, "read_events", with_frames)
    return root


def poker(root, **kwargs):
    kwargs.setdefault("split", "test")
    return get_dataset("poker", root=root, source="aedat4", num_frames=T, sensor_size=SENSOR,
                       **kwargs)  # fmt: skip


# -- the one leaf rule ---------------------------------------------------------------------------


def test_pick_leaves_is_event_images_rule_at_segment_centres():
    for n_leaves in range(1, 70):
        for n_frames in range(1, 9):
            expected = np.round(np.linspace(0, n_leaves - 1, n_frames)).astype(np.int64)
            centres = segment_positions(n_frames, train=False)
            assert np.array_equal(pick_leaves(n_leaves, n_frames), expected)
            assert np.array_equal(pick_leaves(n_leaves, n_frames, centres), expected)
    # a random point in each segment stays within half a spacing of the segment's own pick
    rng = np.random.default_rng(0)
    centre = pick_leaves(40, T)
    draws = set()
    for _ in range(50):
        picks = pick_leaves(40, T, segment_positions(T, train=True, rng=rng))
        assert np.all(np.diff(picks) >= 0) and picks.min() >= 0 and picks.max() <= 39
        assert np.all(np.abs(picks - centre) <= 39 / (T - 1) / 2 + 0.5)
        draws.add(tuple(picks))
    assert len(draws) > 10
    with pytest.raises(ValueError, match="2 positions for 3 frames"):
        pick_leaves(5, 3, np.array([0.1, 0.5]))
    with pytest.raises(ValueError, match="at least one leaf"):
        pick_leaves(0, 3)


def test_afe_windows_are_event_images_frames():
    events = uneven_events(1)
    windows = afe_windows(events, SENSOR, T)
    leaves = afe_frames(events, SENSOR, min_events=default_min_events(len(events), T), threshold=0)
    assert windows.tolist() == [list(leaves[i]) for i in pick_leaves(len(leaves), T)]
    images = np.stack([event_image(c) for c in count_slices(events, SENSOR, windows)])
    assert np.array_equal(images, event_images(events, SENSOR, T, slicing="afe"))
    assert afe_windows(events[:0], SENSOR, 3).tolist() == [[0, 0]] * 3


# -- PokerEvent .aedat4 --------------------------------------------------------------------------


def test_poker_afe_frames_are_event_images_and_differ_from_per_aps_frames(poker_root):
    afe = poker(poker_root, slicing="afe")[0]
    per_frame = poker(poker_root)[0]  # slicing="time": one event image per APS frame
    stream = poker(poker_root, representation=None)[0]["stream"]
    assert len(stream) == 5000 and stream.sensor_size == SENSOR
    # the RGB frames stay as sampled (segment centres of 10 frames: 1, 3, 5, 7, 9)
    assert afe["rgb"][:, 0, 0, 0].tolist() == [20, 60, 100, 140, 180]
    assert torch.equal(afe["rgb"], per_frame["rgb"])
    # the event images are event_images' AFE frames, not the APS windows
    expected = event_images(stream.events, SENSOR, T, slicing="afe")
    assert torch.equal(afe["events"], as_tensor(expected))
    aligned = aligned_event_images(stream, stream.frames.t, np.array([1, 3, 5, 7, 9]), "eclip_rgb")
    assert torch.equal(per_frame["events"], as_tensor(aligned))
    assert not torch.equal(afe["events"], per_frame["events"])
    # AFE follows the events: most frames in the busy fifth, where only one APS window lies
    assert sum(shows(image, BUSY_ROWS) for image in afe["events"]) >= 3
    assert sum(shows(image, BUSY_ROWS) for image in per_frame["events"]) == 1
    assert sum(shows(image, STILL_ROWS) for image in per_frame["events"]) == 4


def test_poker_afe_without_rgb_and_count_slicing_cut_the_whole_stream(poker_root):
    events = poker(poker_root, representation=None)[0]["stream"].events
    alone = poker(poker_root, slicing="afe", with_rgb=False)[0]
    assert "rgb" not in alone
    assert torch.equal(alone["events"], as_tensor(event_images(events, SENSOR, T, slicing="afe")))
    for per_window in (None, 300):
        sample = poker(poker_root, slicing="count", events_per_window=per_window)[0]
        expected = event_images(events, SENSOR, T, slicing="count", events_per_window=per_window)
        assert torch.equal(sample["events"], as_tensor(expected))
        assert sample["rgb"][:, 0, 0, 0].tolist() == [20, 60, 100, 140, 180]


def test_poker_afe_training_moves_rgb_and_leaves_with_the_same_positions(poker_root):
    events = poker(poker_root, representation=None)[0]["stream"].events
    leaves = afe_frames(events, SENSOR, min_events=default_min_events(len(events), T), threshold=0)
    leaf_images = np.stack(
        [event_image(c) for c in count_slices(events, SENSOR, np.array(leaves))]
    )  # [L, H, W, 3]
    ds = poker(poker_root, split="train", slicing="afe", seed=3)
    seen = set()
    for epoch in range(6):
        ds.set_epoch(epoch)
        sample = ds[0]
        positions = segment_positions(T, train=True, rng=np.random.default_rng((3, epoch, 0)))
        frames = positions_to_indices(positions, N_APS)
        assert sample["rgb"][:, 0, 0, 0].tolist() == (20 * frames).tolist()
        picks = pick_leaves(len(leaves), T, positions)
        assert torch.equal(sample["events"], as_tensor(leaf_images[picks]))
        seen.add(tuple(picks))
    assert len(seen) > 1
    ds.set_epoch(2)
    again = ds[0]["events"]
    ds.set_epoch(2)
    assert torch.equal(ds[0]["events"], again)


def test_shipped_poker_afe_config_reaches_the_afe_reader(poker_root):
    config = load_config("safe_vitb16_poker_afe", [f"data.root={poker_root}"])
    ds = build_dataset(config.data, config.data.test_split, train=False)
    sample = ds[0]
    assert sample["rgb"].shape == sample["events"].shape == (T, 3, 224, 224)
    events = read_events(poker_root / "action_Poker001" / "rec.aedat4").events
    expected = event_images(events, hardvs_module.HARDVS_SENSOR, T, slicing="afe")
    assert torch.equal(sample["events"], to_tensor(expected, (224, 224)))


# -- HARDVS .npz ---------------------------------------------------------------------------------


def test_hardvs_npz_afe_with_rgb_folder(tmp_path):
    root = tmp_path / "H"
    events = uneven_events(2)
    write_npz_events(root / "action_001" / "s1.npz", events["x"], events["y"], events["t"],
                     events["p"])  # fmt: skip
    for i in range(8):
        write_png(root / "action_001" / "s1" / "s1_aps" / f"{i:08d}.png", 10 * i + 5)
    (root / "test_label.txt").write_text("action_001/s1 8 0\n")
    sample = get_dataset("hardvs", root=root, split="test", source="npz", slicing="afe",
                         num_frames=T, sensor_size=SENSOR)[0]  # fmt: skip
    assert sample["rgb"][:, 0, 0, 0].tolist() == [5, 25, 45, 55, 75]  # frames 0, 2, 4, 5, 7
    expected = event_images(events, SENSOR, T, slicing="afe")
    assert torch.equal(sample["events"], as_tensor(expected))
    assert sum(shows(image, BUSY_ROWS) for image in sample["events"]) >= 3
    timed = get_dataset("hardvs", root=root, split="test", source="npz", num_frames=T,
                        sensor_size=SENSOR)[0]  # fmt: skip
    assert not torch.equal(timed["events"], sample["events"])


@pytest.mark.parametrize(("name", "source"), [("hardvs", "npz"), ("poker", "aedat4")])
def test_png_source_refuses_event_file_slicing(tmp_path, name, source):
    (tmp_path / "test_label.txt").write_text("action_001/s1 8 0\n")
    for options in ({"slicing": "afe"}, {"slicing": "count"}, {"events_per_window": 100}):
        with pytest.raises(ValueError, match=rf"cuts the event files: pass source='{source}'"):
            get_dataset(name, root=tmp_path, split="test", check_files=False, **options)
    ds = get_dataset(name, root=tmp_path, split="test", check_files=False, slicing="time")
    assert ds.slicing == "time"
