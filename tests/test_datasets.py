"""Dataset readers: class lists, frame and event-window sampling, splits and the error policy.

The layouts themselves are tested in test_datasets_frames.py (PNG frame folders) and
test_datasets_events.py (event files); the fixture writers live in dataset_fixtures.py.
"""

from __future__ import annotations

import gc
import io
import os
import warnings

import numpy as np
import pytest
import torch
from dataset_fixtures import write_bin, write_tiny_benchmark

from evclip.datasets import (
    DATASETS,
    DatasetError,
    SampleError,
    class_names,
    collate_samples,
    get_dataset,
    nimagenet_wnids,
    parse_hardvs_classes,
    readable,
    sample_indices,
    stratified_split,
)
from evclip.datasets.frames import segment_positions, stream_event_images, stream_windows
from evclip.io import EventStream, make_events
from evclip.representations import event_images
from evclip.representations.slicing import count_bin_slices, fixed_count_slices, time_bin_slices

# -- class names ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("dataset", "length"),
    [
        ("hardvs", 300),
        ("poker", 114),
        ("ncaltech101", 101),
        ("nimagenet", 1000),
        ("asl_dvs", 24),
        ("dvs_gesture", 11),
        ("nmnist", 10),
    ],
)
def test_class_list_lengths(dataset, length):
    assert len(class_names(dataset)) == length


def test_poker_repeats_sit_at_their_positions():
    names = class_names("poker")
    repeats = {n: [i for i, m in enumerate(names) if m == n] for n in set(names)}
    repeats = {n: pos for n, pos in repeats.items() if len(pos) > 1}
    assert repeats == {
        "Jellyfish": [34, 81],
        "Nautilus": [41, 88],
        "Snailfish": [56, 105],
        "Starfish": [60, 107],
        "Whale": [65, 112],
    }
    assert names[:14] == ["A", "2", "3", "4", "5", "6", "7", "8", "9", "10", "J", "Q", "K", "JOKER"]


def test_shipped_lists_facts():
    hardvs = class_names("hardvs")
    assert len(set(hardvs)) == 300
    assert hardvs[0] == "L type clamp back" and hardvs[1] == "wink_ Blink an eye"
    assert hardvs[115] == "jumping jack" and hardvs[-1] == "Mobile Card 3"
    caltech = class_names("ncaltech101")
    assert caltech == sorted(caltech) and "BACKGROUND_Google" in caltech
    wnids = nimagenet_wnids()
    assert wnids == sorted(wnids) and len(set(wnids)) == 1000 and wnids[0] == "n01440764"
    assert class_names("nimagenet")[0] == "tench"
    assert "j" not in class_names("asl_dvs") and class_names("asl_dvs")[-1] == "y"
    assert class_names("dvs_gesture")[3] == "right arm clockwise"
    names = class_names("poker")
    names.append("x")  # a copy: the shipped list is not changed
    assert len(class_names("poker")) == 114


def test_readable_forms():
    assert readable("right_arm_clockwise") == "right arm clockwise"
    assert readable("wink_ Blink an eye") == "wink Blink an eye"
    assert readable("BACKGROUND_Google") == "background Google"
    assert readable("Faces_easy") == "Faces easy"
    assert readable("CD player") == "CD player"
    assert readable("JOKER") == "joker"
    assert readable("  trailing__ ") == "trailing"


def test_parse_hardvs_separators_and_errors():
    text = "Action001-L type\r\nAction002 wink_ Blink\r\nAction003- Stretch\r\nAction004 - jump\r\n"
    assert parse_hardvs_classes(text) == ["L type", "wink_ Blink", "Stretch", "jump"]
    with pytest.raises(DatasetError, match=r"names.txt:2: .*out of order"):
        parse_hardvs_classes("Action001 a\nAction003 b\n", "names.txt")
    with pytest.raises(DatasetError, match=r"names.txt:1: expected"):
        parse_hardvs_classes("hello\n", "names.txt")


def test_registry_lists_every_reader():
    # Other test modules may register toy datasets of their own (tests/engine_helpers.py).
    builtin = [name for name in DATASETS.names() if not name.startswith("engine_")]
    assert builtin == [
        "asl_dvs",
        "dvs_gesture",
        "folder",
        "hardvs",
        "ncaltech101",
        "nimagenet",
        "nmnist",
        "poker",
        "synthetic",
    ]
    with pytest.raises(DatasetError, match="unknown dataset 'nope'; known: asl_dvs, .*, synthetic"):
        get_dataset("nope")


def test_synthetic_on_a_folder_that_is_no_benchmark_raises_dataset_errors(tmp_path):
    with pytest.raises(DatasetError, match=r"absent: dataset root not found"):
        get_dataset("synthetic", root=tmp_path / "absent")
    with pytest.raises(DatasetError, match=r"classnames.txt: missing; is .* a benchmark"):
        get_dataset("synthetic", root=tmp_path)
    root = write_tiny_benchmark(tmp_path / "bench", n_samples=2, size=8)
    (root / "manifest.json").write_text('{"config": {}}')
    with pytest.raises(DatasetError, match=r"manifest.json: unreadable manifest \(KeyError"):
        get_dataset("synthetic", root=root)


def test_skipping_a_corrupt_npz_closes_it_and_reports_under_its_own_name(tmp_path):
    root = write_tiny_benchmark(tmp_path / "bench", n_samples=3, size=8)
    npz = root / "action_001/sample_00000/sample_00000.npz"
    npz.write_bytes(npz.read_bytes()[:200])  # a zip cut before its central directory
    ds = get_dataset(
        "synthetic", root=root, split="train", source="npz", with_rgb=False, on_error="skip"
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert ds[0]["path"].endswith("sample_00001")
        gc.collect()  # an unclosed file warns when it is collected
    messages = [f"{w.category.__name__}: {w.message}" for w in caught]
    assert len(messages) == 1 and messages[0].startswith("RuntimeWarning: skipping sample 0")
    out = io.StringIO()
    assert ds.report_skips(out) == 1
    assert out.getvalue().startswith("SyntheticBenchmark: 1 bad sample(s)")
    assert "corrupt .npz archive" in out.getvalue()


# -- frame sampling -------------------------------------------------------------------------------


def test_segment_sampling_centres_and_random_offsets():
    assert sample_indices(10, 5, train=False).tolist() == [1, 3, 5, 7, 9]
    assert sample_indices(3, 5, train=False).tolist() == [0, 0, 1, 2, 2]
    rng = np.random.default_rng(0)
    for _ in range(50):
        idx = sample_indices(20, 4, train=True, rng=rng)
        assert np.all(np.diff(idx) >= 0)
        assert [int(i) // 5 for i in idx] == [0, 1, 2, 3]  # one per segment
    pos = segment_positions(4, train=True, rng=np.random.default_rng(1))
    assert np.all((pos >= 0) & (pos < 1)) and np.all(np.diff(pos) > 0)
    with pytest.raises(ValueError):
        segment_positions(3, train=True)


def _stream(n: int, t_max: int, seed: int = 0) -> EventStream:
    rng = np.random.default_rng(seed)
    t = np.sort(rng.integers(0, t_max, n))
    events = make_events(rng.integers(0, 20, n), rng.integers(0, 10, n), t, rng.integers(0, 2, n))
    return EventStream(events, (20, 10))


@pytest.mark.parametrize(
    ("n", "t_max"), [(500, 100_000), (0, 1), (1, 5), (3, 100_000), (40, 4), (7, 1_000)]
)
@pytest.mark.parametrize(
    ("slicing", "per_window"), [("time", None), ("count", None), ("count", 30), ("count", 400)]
)
def test_event_windows_at_segment_centres_are_the_representations(n, t_max, slicing, per_window):
    # evaluation keeps the representation's own windows (tonic's rules), edge cases included
    stream = _stream(n, t_max)
    ours = stream_event_images(
        stream, 5, "eclip_rgb", slicing=slicing, events_per_window=per_window
    )
    theirs = event_images(stream.events, (20, 10), 5, slicing=slicing, events_per_window=per_window)
    assert np.array_equal(ours, theirs)
    t = stream.events["t"]
    centred = stream_windows(t, segment_positions(5, train=False), slicing=slicing,
                             events_per_window=per_window)  # fmt: skip
    if slicing == "time":
        assert np.array_equal(centred, time_bin_slices(t, 5))
    elif per_window is None:
        assert np.array_equal(centred, count_bin_slices(n, 5))
    else:
        assert np.array_equal(centred, fixed_count_slices(n, per_window, 5))


def test_training_time_windows_move_within_their_segments_keeping_length_and_order():
    t = np.arange(0, 400_001, 10, dtype=np.int64)  # an event every 10 us; segments of 100 ms
    length = 100_000
    rng = np.random.default_rng(0)
    seen = set()
    for _ in range(40):
        positions = segment_positions(4, train=True, rng=rng)
        windows = stream_windows(t, positions, slicing="time")
        assert np.all(np.diff(windows[:, 0]) >= 0)
        for i, (start, stop) in enumerate(windows):
            inside = t[start:stop]
            assert len(inside) == length // 10  # every window as long as a segment
            centre = positions[i] * 4 * length  # the window is centred on its random point ...
            expected = min(max(centre - length / 2, 0), 3 * length)  # ... moved into the clip
            assert abs(inside[0] - expected) <= 10
            assert i * length - length / 2 <= inside[0] <= i * length + length / 2
        seen.add(tuple(windows[:, 0]))
    assert len(seen) == 40  # a new cut every draw


def test_training_count_windows_keep_their_size():
    t = np.arange(1000, dtype=np.int64)
    rng = np.random.default_rng(1)
    for per_window in (None, 100):
        starts = set()
        for _ in range(20):
            positions = segment_positions(5, train=True, rng=rng)
            windows = stream_windows(t, positions, slicing="count", events_per_window=per_window)
            size = 200 if per_window is None else 100
            assert np.all(windows[:, 1] - windows[:, 0] == size)
            assert np.all(np.diff(windows[:, 0]) >= 0) and windows[-1, 1] <= 5 * size
            starts.add(tuple(windows[:, 0]))
        assert len(starts) > 15
    with pytest.raises(ValueError, match="slicing"):
        stream_windows(t, segment_positions(2, train=False), slicing="afe")


def test_afe_leaves_are_picked_at_the_positions():
    stream = _stream(4000, 1_000_000, seed=5)
    rng = np.random.default_rng(2)
    draws = {
        stream_event_images(
            stream, 3, "eclip_rgb", slicing="afe",
            positions=segment_positions(3, train=True, rng=rng),
        ).tobytes()
        for _ in range(10)
    }  # fmt: skip
    assert len(draws) > 1
    centred = stream_event_images(stream, 3, "eclip_rgb", slicing="afe")
    assert centred.shape == (3, 10, 20, 3)
    with pytest.raises(ValueError, match="slicing"):
        stream_event_images(stream, 3, "eclip_rgb", slicing="voxel")
    with pytest.raises(ValueError, match="2 positions for 3 frames"):
        stream_event_images(stream, 3, "eclip_rgb", positions=np.array([0.2, 0.7]))


def test_stratified_split_is_disjoint_seeded_and_covers_all():
    labels = [0] * 10 + [1] * 5 + [2] * 2
    train = stratified_split(labels, "train", train_fraction=0.8, seed=3)
    test = stratified_split(labels, "test", train_fraction=0.8, seed=3)
    assert sorted(train + test) == list(range(len(labels)))
    assert not set(train) & set(test)
    assert [labels[i] for i in test].count(0) == 2 and [labels[i] for i in test].count(2) == 1
    assert stratified_split(labels, "train", train_fraction=0.8, seed=3) == train
    assert stratified_split(labels, "train", train_fraction=0.8, seed=4) != train
    # a class's split does not depend on which other classes are present (partial downloads)
    without_first = stratified_split(labels[10:], "train", train_fraction=0.8, seed=3)
    assert [i + 10 for i in without_first] == [i for i in train if i >= 10]


# -- error policy ----------------------------------------------------------------------------------


def test_skip_policy_reports_corrupt_sample(hardvs_root, capsys):
    bad = hardvs_root / "action_001/dvSave-2021_01_01_00_00_02/dvSave-2021_01_01_00_00_02_dvs"
    (bad / "00000001.png").write_bytes(b"not a png at all")
    strict = get_dataset("hardvs", root=hardvs_root, split="train", num_frames=4, with_rgb=False)
    with pytest.raises(SampleError, match=r"dvSave-2021_01_01_00_00_02.*sample 1") as info:
        strict[1]
    assert info.value.index == 1
    lenient = get_dataset(
        "hardvs", root=hardvs_root, split="train", num_frames=4, with_rgb=False, on_error="skip"
    )
    with pytest.warns(RuntimeWarning, match="skipping sample 1"):
        sample = lenient[1]
    assert sample["path"].endswith("00_00_03")  # the next valid sample
    assert lenient[1]["path"].endswith("00_00_03")
    assert lenient.num_skipped == 2
    summary = lenient.skip_summary()
    assert list(summary) == [str(hardvs_root / "action_001/dvSave-2021_01_01_00_00_02")]
    assert lenient.report_skips() == 1
    err = capsys.readouterr().err
    assert "1 bad sample(s), 2 request(s) skipped" in err and "00_00_02" in err


def test_listed_missing_sample_is_skipped_with_its_line(hardvs_root):
    (hardvs_root / "val_label.txt").write_text(
        "action_001/dvSave-2021_01_01_00_00_01 10 0\naction_001/gone 3 0\n"
    )
    with pytest.raises(DatasetError, match=r"val_label.txt:2: names a sample .*action_001/gone"):
        get_dataset("hardvs", root=hardvs_root, split="val")
    ds = get_dataset("hardvs", root=hardvs_root, split="val", on_error="skip", num_frames=2)
    with pytest.warns(RuntimeWarning, match=r"val_label.txt:2"):
        assert ds[1]["path"].endswith("00_00_01")
    (reason,) = ds.skip_summary().values()
    assert "folder not found" in reason and "val_label.txt:2" in reason


def _read_all(loader):
    return [path for batch in loader for path in batch["path"]]


def test_skips_in_dataloader_workers_reach_the_summary(hardvs_root):
    bad = hardvs_root / "action_001/dvSave-2021_01_01_00_00_02/dvSave-2021_01_01_00_00_02_dvs"
    (bad / "00000001.png").write_bytes(b"not a png at all")
    ds = get_dataset(
        "hardvs", root=hardvs_root, split="train", num_frames=4, with_rgb=False, on_error="skip",
        train=False,
    )  # fmt: skip
    loader = torch.utils.data.DataLoader(
        ds, batch_size=1, num_workers=2, collate_fn=collate_samples,
        multiprocessing_context="fork",
    )  # fmt: skip
    paths = _read_all(loader)  # the workers warn on their own stderr
    assert len(paths) == 3 and sum(p.endswith("00_00_02") for p in paths) == 0
    # the skip happened in a worker, yet the main process's summary has it
    assert list(ds.skip_summary()) == [str(bad.parent)]
    assert ds.num_skipped == 1


def test_dataloader_workers_run_numba_kernels_on_one_thread(hardvs_root):
    numba = pytest.importorskip("numba")
    ds = get_dataset(
        "hardvs", root=hardvs_root, split="train", num_frames=2, with_rgb=False, train=False,
        transform=lambda sample: {**sample, "threads": numba.get_num_threads()},
    )  # fmt: skip
    loader = torch.utils.data.DataLoader(
        ds, batch_size=None, num_workers=1, multiprocessing_context="fork"
    )
    assert {sample["threads"] for sample in loader} == {1}
    assert ds[0]["threads"] == numba.get_num_threads()  # the main process keeps its threads


def test_skip_summary_is_printed_at_the_end_once(hardvs_root, capsys):
    import gc

    bad = hardvs_root / "action_001/dvSave-2021_01_01_00_00_02/dvSave-2021_01_01_00_00_02_dvs"
    (bad / "00000001.png").write_bytes(b"not a png at all")

    def make():
        return get_dataset(
            "hardvs", root=hardvs_root, split="train", num_frames=4, with_rgb=False,
            on_error="skip",
        )  # fmt: skip

    ds = make()
    with pytest.warns(RuntimeWarning):
        ds[1]
    log_file = ds._skips.file
    del ds
    gc.collect()  # the end of the dataset's life: an unreported summary is printed
    err = capsys.readouterr().err
    assert "HARDVS: 1 bad sample(s), 1 request(s) skipped" in err and "00_00_02" in err
    assert not os.path.exists(log_file)
    ds = make()
    with pytest.warns(RuntimeWarning):
        ds[1]
    assert ds.report_skips() == 1
    capsys.readouterr()
    del ds
    gc.collect()
    assert capsys.readouterr().err == ""  # already reported: not printed twice


def test_corrupt_event_file_is_reported_with_its_path(tmp_path):
    root = tmp_path / "nmnist"
    write_bin(root / "Train/1/good.bin", [1], [1], [5], [1])
    (root / "Train/1/bad.bin").write_bytes(b"\x01\x02\x03")  # not a whole 5-byte record
    ds = get_dataset("nmnist", root=root, split="train", representation=None, on_error="skip")
    with pytest.warns(RuntimeWarning, match="bad.bin"):
        assert ds[0]["path"].endswith("good.bin")
    assert list(ds.skip_summary()) == [str(root / "Train/1/bad.bin")]
    buffer = io.StringIO()
    assert ds.report_skips(buffer) == 1 and "bad.bin" in buffer.getvalue()
