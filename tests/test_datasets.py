"""Dataset readers: class lists, the sample format, frame sampling, splits and the error policy.

Every layout is written as a tiny fixture tree in tmp_path, in the real file formats.
"""

from __future__ import annotations

import importlib
import io
import os
import struct

import numpy as np
import pytest
import torch
from PIL import Image

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
from evclip.datasets.frames import segment_positions
from evclip.datasets.ncaltech101 import centre_events
from evclip.io import EventStream, Frames, make_events

# -- fixture writers ------------------------------------------------------------------------------


def write_png(path, value: int, size=(12, 16)) -> None:
    """A solid image whose red channel encodes the frame (value) so tests can tell frames apart."""
    path.parent.mkdir(parents=True, exist_ok=True)
    h, w = size
    pixels = np.zeros((h, w, 3), dtype=np.uint8)
    pixels[..., 0] = value
    pixels[..., 1] = 255 - value
    Image.fromarray(pixels).save(path)


def write_frame_sample(root, class_dir: str, sample: str, n_dvs: int, n_aps: int) -> None:
    base = root / class_dir / sample
    for i in range(n_dvs):
        write_png(base / f"{sample}_dvs" / f"{i:08d}.png", 10 * i)
    for i in range(n_aps):
        write_png(base / f"{sample}_aps" / f"{i:08d}.png", 10 * i + 5)


def write_bin(path, x, y, t, p) -> None:
    """N-MNIST / N-Caltech101 5-byte records, written byte by byte."""
    path.parent.mkdir(parents=True, exist_ok=True)
    out = bytearray()
    for xi, yi, ti, pi in zip(x, y, t, p, strict=True):
        out += bytes([xi, yi, (int(pi) << 7) | ((ti >> 16) & 0x7F), (ti >> 8) & 0xFF, ti & 0xFF])
    path.write_bytes(bytes(out))


def write_aedat31(path, x, y, t, p) -> None:
    """AEDAT 3.1: text header, one polarity packet (28-byte header + 8-byte events)."""
    header = b"#!AER-DAT3.1\r\n#Format: RAW\r\n#Source 1: DVS128\r\n#!END-HEADER\r\n"
    n = len(x)
    packet = struct.pack("<hhiiiiii", 1, 1, 8, 4, 0, n, n, n)
    body = bytearray()
    for xi, yi, ti, pi in zip(x, y, t, p, strict=True):
        data = 1 | (int(pi) << 1) | (int(yi) << 2) | (int(xi) << 17)
        body += struct.pack("<II", data, int(ti))
    path.write_bytes(header + packet + bytes(body))


def random_events(rng, n, width, height, t_max=100_000):
    t = np.sort(rng.integers(0, t_max, n))
    return rng.integers(0, width, n), rng.integers(0, height, n), t, rng.integers(0, 2, n)


@pytest.fixture
def hardvs_root(tmp_path):
    root = tmp_path / "HARDVS"
    write_frame_sample(root, "action_001", "dvSave-2021_01_01_00_00_01", 10, 10)
    write_frame_sample(root, "action_001", "dvSave-2021_01_01_00_00_02", 4, 4)
    write_frame_sample(root, "action_002", "dvSave-2021_01_01_00_00_03", 7, 9)
    lines = [
        "action_001/dvSave-2021_01_01_00_00_01 10 0",
        "action_001/dvSave-2021_01_01_00_00_02 4 0",
        "action_002/dvSave-2021_01_01_00_00_03 7 1",
    ]
    (root / "train_label.txt").write_text("\r\n".join(lines) + "\r\n")
    (root / "test_label.txt").write_text(lines[2] + "\n")
    return root


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
    assert DATASETS.names() == [
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
    with pytest.raises(KeyError, match="unknown dataset"):
        get_dataset("nope")


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


# -- HARDVS ---------------------------------------------------------------------------------------


def test_hardvs_png_sample_format_and_eval_determinism(hardvs_root):
    ds = get_dataset("hardvs", root=hardvs_root, split="test", num_frames=3)
    assert len(ds) == 1 and not ds.train
    sample = ds[0]
    assert set(sample) == {"rgb", "events", "label", "class_name", "path"}
    for key in ("rgb", "events"):
        assert sample[key].dtype == torch.uint8 and sample[key].shape == (3, 3, 12, 16)
    assert sample["label"] == 1 and sample["class_name"] == "wink_ Blink an eye"
    assert sample["path"].endswith("action_002/dvSave-2021_01_01_00_00_03")
    # 7 event PNGs, centres of 3 segments -> frames 1, 3, 5; 9 RGB frames -> 1, 4, 7
    assert sample["events"][:, 0, 0, 0].tolist() == [10, 30, 50]
    assert sample["rgb"][:, 0, 0, 0].tolist() == [15, 45, 75]
    assert torch.equal(ds[0]["events"], sample["events"])


def test_hardvs_train_offsets_random_but_seeded_and_ordered(hardvs_root):
    def frames(seed, epoch):
        ds = get_dataset("hardvs", root=hardvs_root, split="train", num_frames=3, seed=seed)
        ds.set_epoch(epoch)
        return ds[0]["events"][:, 0, 0, 0].tolist()

    draws = {tuple(frames(0, epoch)) for epoch in range(8)}
    assert len(draws) > 1  # offsets change between epochs
    assert frames(0, 2) == frames(0, 2)  # and are reproducible
    for draw in draws:  # 10 frames in 3 segments: [0, 3.3), [3.3, 6.7), [6.7, 10)
        index = [v // 10 for v in draw]
        assert 0 <= index[0] <= 3 and 3 <= index[1] <= 6 and 6 <= index[2] <= 9


def test_hardvs_image_size_class_names_override_and_collate(hardvs_root):
    custom = [f"class {i}" for i in range(2)]
    ds = get_dataset(
        "hardvs", root=hardvs_root, split="train", num_frames=2, image_size=(8, 8),
        class_names=custom, with_rgb=False,
    )  # fmt: skip
    sample = ds[1]
    assert "rgb" not in sample and sample["events"].shape == (2, 3, 8, 8)
    assert sample["class_name"] == "class 0"
    loader = torch.utils.data.DataLoader(ds, batch_size=3, collate_fn=collate_samples)
    batch = next(iter(loader))
    assert batch["events"].shape == (3, 2, 3, 8, 8)
    assert batch["label"].tolist() == [0, 0, 1] and len(batch["path"]) == 3


def test_hardvs_list_errors_name_file_and_line(hardvs_root):
    with pytest.raises(DatasetError, match=r"val_label.txt: split file not found"):
        get_dataset("hardvs", root=hardvs_root, split="val")
    (hardvs_root / "val_label.txt").write_text("action_001/a 3 0\naction_001/b three 0\n")
    with pytest.raises(DatasetError, match=r"val_label.txt:2: .*integers"):
        get_dataset("hardvs", root=hardvs_root, split="val")
    (hardvs_root / "val_label.txt").write_text("action_001/a 3 0\n\naction_002/b 3 0\n")
    with pytest.raises(DatasetError, match=r"val_label.txt:3: label 0 disagrees .*action_002"):
        get_dataset("hardvs", root=hardvs_root, split="val")
    (hardvs_root / "val_label.txt").write_text("action_001/a 3 0 extra\n")
    with pytest.raises(DatasetError, match=r"val_label.txt:1: expected"):
        get_dataset("hardvs", root=hardvs_root, split="val")
    (hardvs_root / "val_label.txt").write_text("action_001/a 3 300\n")
    with pytest.raises(DatasetError, match=r"val_label.txt:1: label 300 outside"):
        get_dataset("hardvs", root=hardvs_root, split="val")
    with pytest.raises(DatasetError, match="dataset root not found"):
        get_dataset("hardvs", root=hardvs_root / "missing")


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


def test_hardvs_npz_at_both_depths_raw_stream(tmp_path):
    root = tmp_path / "HARDVS"
    rng = np.random.default_rng(0)
    shallow = root / "action_001" / "s1.npz"
    deep = root / "action_002" / "s2" / "s2.npz"
    for path in (shallow, deep):
        path.parent.mkdir(parents=True, exist_ok=True)
        x, y, t, p = random_events(rng, 50, 346, 260)
        np.savez(path, x=x.astype(np.uint16), y=y.astype(np.uint16), t=t, p=p.astype(np.int8))
    (root / "test_label.txt").write_text(
        "action_001/s1 0 0\naction_002/s2 0 1\naction_002/s3 0 1\n"
    )
    with pytest.raises(DatasetError, match=r"test_label.txt:3: names a sample .*action_002/s3"):
        get_dataset("hardvs", root=root, split="test", source="npz")
    ds = get_dataset(
        "hardvs", root=root, split="test", source="npz", representation=None, check_files=False
    )
    first, second = ds[0], ds[1]
    assert set(first) == {"stream", "label", "class_name", "path"}
    assert isinstance(first["stream"], EventStream) and first["stream"].sensor_size == (346, 260)
    assert len(first["stream"]) == 50 and second["label"] == 1
    assert np.array_equal(first["stream"].events["x"], np.load(shallow)["x"])
    with pytest.raises(SampleError, match=r"s3.*no event file.*listed at .*test_label.txt:3"):
        ds[2]
    with pytest.raises(ValueError, match="representation=None"):
        get_dataset("hardvs", root=root, split="test", representation=None)


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


def test_hardvs_npz_event_images(tmp_path):
    root = tmp_path / "H"
    (root / "action_001").mkdir(parents=True)
    x, y, t, p = random_events(np.random.default_rng(1), 400, 346, 260)
    np.savez(root / "action_001" / "s.npz", x=x, y=y, t=t, p=p)
    (root / "test_label.txt").write_text("action_001/s 0 0\n")
    sample = get_dataset("hardvs", root=root, split="test", source="npz", num_frames=4)[0]
    assert sample["events"].shape == (4, 3, 260, 346) and sample["events"].dtype == torch.uint8


# -- PokerEvent -----------------------------------------------------------------------------------


def test_poker_labels_are_positions_not_names(tmp_path):
    root = tmp_path / "Poker"
    write_frame_sample(root, "action_Poker082", "dvSave-1", 5, 5)
    write_frame_sample(root, "action_Poker035", "dvSave-2", 5, 5)
    (root / "test_label.txt").write_text(
        "action_Poker082/dvSave-1 5 81\naction_Poker035/dvSave-2 5 34\n"
    )
    ds = get_dataset("poker", root=root, split="test", num_frames=2)
    assert [ds[i]["label"] for i in range(2)] == [81, 34]
    assert ds[0]["class_name"] == ds[1]["class_name"] == "Jellyfish"
    assert ds[0]["rgb"].shape == (2, 3, 12, 16)


def test_poker_frames_are_taken_in_natural_file_order(tmp_path):
    root = tmp_path / "Poker"
    base = root / "action_Poker001" / "rec"
    for i in (1, 2, 10, 11, 3, 4, 5, 6, 7, 8, 9, 12):  # written out of order, not zero-padded
        write_png(base / "rec_dvs" / f"frame{i}.png", 10 * i)
        write_png(base / "rec_aps" / f"{i}.png", 10 * i + 5)
    (root / "test_label.txt").write_text("action_Poker001/rec 12 0\n")
    sample = get_dataset("poker", root=root, split="test", num_frames=4)[0]
    # 12 frames, 4 segment centres -> files 2, 5, 8, 11 (sorted as text: 11, 2, 5, 8)
    assert sample["events"][:, 0, 0, 0].tolist() == [20, 50, 80, 110]
    assert sample["rgb"][:, 0, 0, 0].tolist() == [25, 55, 85, 115]


def test_poker_aedat4_events_only(tmp_path):
    faery = importlib.import_module("faery")
    root = tmp_path / "Poker"
    (root / "action_Poker001").mkdir(parents=True)
    x, y, t, p = random_events(np.random.default_rng(2), 300, 346, 260)
    arr = np.zeros(300, dtype=faery.EVENTS_DTYPE)
    arr["t"], arr["x"], arr["y"], arr["on"] = t, x, y, p.astype(bool)
    path = root / "action_Poker001" / "rec.aedat4"
    faery.events_stream_from_array(arr, dimensions=(346, 260)).to_file(path, zero_t0=False)
    (root / "test_label.txt").write_text("action_Poker001/rec 0 0\n")
    ds = get_dataset(
        "poker", root=root, split="test", source="aedat4", with_rgb=False, representation=None
    )
    stream = ds[0]["stream"]
    assert len(stream) == 300 and np.array_equal(stream.events["t"], t)


def test_poker_aedat4_aligns_event_images_to_aps_frames(tmp_path, monkeypatch):
    import evclip.datasets.hardvs as hardvs_module

    root = tmp_path / "Poker"
    (root / "action_Poker001").mkdir(parents=True)
    (root / "action_Poker001" / "rec.aedat4").write_bytes(b"")
    (root / "test_label.txt").write_text("action_Poker001/rec 0 0\n")
    # 6 APS frames at 0, 100, ..., 500 us; frame k's window holds k+1 events at pixel (k, 0)
    xs, ts = [], []
    for k in range(6):
        xs += [k] * (k + 1)
        ts += [k * 100 + j for j in range(k + 1)]
    events = make_events(xs, np.zeros(len(xs)), ts, np.ones(len(xs)))
    images = np.stack([np.full((4, 8, 3), 40 * k, np.uint8) for k in range(6)])
    frames = Frames(np.arange(6, dtype=np.int64) * 100, images)
    monkeypatch.setattr(
        hardvs_module, "read_events", lambda path, **kw: EventStream(events, (8, 4), frames, path)
    )
    sample = get_dataset("poker", root=root, split="test", source="aedat4", num_frames=3)[0]
    assert sample["rgb"][:, 0, 0, 0].tolist() == [40, 120, 200]  # frames 1, 3, 5
    for k, column in enumerate((1, 3, 5)):
        image = sample["events"][k]  # [3, H, W]
        lit = (image != image[:, 3:4, 7:8]).any(0)  # pixels that differ from an empty one
        assert lit.nonzero().tolist() == [[0, column]]


# -- N-Caltech101 ---------------------------------------------------------------------------------


def test_centre_events_pads_both_sides_and_keeps_input():
    ev = make_events([0, 9], [0, 19], [0, 1], [1, 0])
    out = centre_events(ev, (20, 40))
    assert out["x"].tolist() == [5, 14] and out["y"].tolist() == [10, 29]
    assert ev["x"].tolist() == [0, 9]
    with pytest.raises(ValueError, match="wider"):
        centre_events(ev, (5, 40))


def test_ncaltech101_eventbind_list_pairs_bin_and_jpg(tmp_path):
    root = tmp_path / "nc"
    write_bin(
        root / "N_Caltech101/ant/image_0001.bin", [0, 99, 50], [0, 59, 30], [1, 5, 70000], [1, 0, 1]
    )
    jpg = root / "Caltech-101/ant/image_0001.jpg"
    jpg.parent.mkdir(parents=True)
    Image.fromarray(np.full((30, 40, 3), 200, np.uint8)).save(jpg)
    (root / "Caltech101_train.txt").write_text(
        "N_Caltech101/ant/image_0001.bin\tCaltech-101/ant/image_0001.jpg\n"
    )
    sample = get_dataset("ncaltech101", root=root, split="train", representation=None)[0]
    assert sample["label"] == class_names("ncaltech101").index("ant")
    assert sample["rgb"].shape == (1, 3, 30, 40)
    stream = sample["stream"]
    assert stream.sensor_size == (240, 180)
    assert stream.events["x"].tolist() == [70, 169, 120]  # 100 wide, centred on 240
    assert stream.events["y"].tolist() == [60, 119, 90]
    assert stream.events["t"].tolist() == [1, 5, 70000] and stream.events["p"].tolist() == [1, 0, 1]
    (root / "Caltech101_val.txt").write_text("N_Caltech101/antz/image_0001.bin\tx.jpg\n")
    with pytest.raises(DatasetError, match=r"Caltech101_val.txt:1: unknown class folder 'antz'"):
        get_dataset("ncaltech101", root=root, split="val")


def test_ncaltech101_eventbind_absolute_paths_are_rerooted(tmp_path):
    root, images = tmp_path / "nc", tmp_path / "caltech"
    write_bin(root / "Caltech101/ant/image_0002.bin", [0, 3], [0, 4], [1, 2], [1, 0])
    write_bin(root / "Caltech101/BACKGROUND_Google/image_0001.bin", [1], [1], [1], [1])
    jpg = images / "101_ObjectCategories/ant/image_0002.jpg"
    jpg.parent.mkdir(parents=True)
    Image.fromarray(np.full((20, 10, 3), 90, np.uint8)).save(jpg)
    bg = images / "101_ObjectCategories/BACKGROUND_Google/image_0001.jpg"
    bg.parent.mkdir(parents=True)
    Image.fromarray(np.full((8, 6, 3), 9, np.uint8)).save(bg)
    authors = "/hpc2hdd/home/someone/dataset"
    (root / "Caltech101_val.txt").write_text(
        f"{authors}/N-Caltech101/ant/image_0002.bin\t{authors}/Caltech101/ant/image_0002.jpg\n"
        f"{authors}/N-Caltech101/BACKGROUND_Google/image_0001.bin\t"
        f"{authors}/Caltech101/BACKGROUND_Google/image_0001.jpg\n"
    )
    ds = get_dataset("ncaltech101", root=root, split="val", image_root=images, num_frames=2)
    assert ds.labels == [class_names("ncaltech101").index("ant"), 0] and not ds.train
    assert ds.samples[0].path == str(root / "Caltech101/ant/image_0002.bin")
    sample = ds[0]
    assert sample["rgb"].shape == (1, 3, 20, 10) and sample["rgb"][0, 0, 0, 0] == 90
    assert sample["events"].shape == (2, 3, 180, 240)
    assert ds[1]["class_name"] == "BACKGROUND_Google"
    (root / "Caltech101_val.txt").write_text(
        f"{authors}/N-Caltech101/ant/image_0002.bin\t{authors}/Caltech101/ant/image_0002.jpg\n"
        f"{authors}/N-Caltech101/ant/image_0009.bin\t{authors}/Caltech101/ant/image_0009.jpg\n"
    )
    with pytest.raises(DatasetError, match=r"Caltech101_val.txt:2: names a sample .*image_0009"):
        get_dataset("ncaltech101", root=root, split="val", image_root=images)


def test_ncaltech101_est_npy_rerelease(tmp_path):
    root = tmp_path / "est"
    for split, cls, n in (("training", "ant", 2), ("validation", "ant", 1), ("testing", "emu", 1)):
        for i in range(n):
            path = root / split / cls / f"ant_{i}.npy"
            path.parent.mkdir(parents=True, exist_ok=True)
            # x, y, t in seconds, p in {-1, 1}
            np.save(path, np.array([[0, 0, 0.000010, 1], [9, 19, 0.250000, -1]], np.float32))
    train = get_dataset("ncaltech101", root=root, split="train", representation=None)
    assert len(train) == 2 and set(train.labels) == {class_names("ncaltech101").index("ant")}
    stream = train[0]["stream"]
    assert stream.events["t"].tolist() == [10, 250000] and stream.events["p"].tolist() == [1, 0]
    assert stream.events["x"].tolist() == [115, 124] and stream.events["y"].tolist() == [80, 99]
    assert get_dataset("ncaltech101", root=root, split="test")[0]["class_name"] == "emu"
    assert len(get_dataset("ncaltech101", root=root, split="val")) == 1


def test_ncaltech101_bin_folders_seeded_split(tmp_path):
    root = tmp_path / "nc"
    for cls in ("ant", "BACKGROUND_Google"):
        for i in range(5):
            write_bin(root / f"Caltech101/{cls}/image_{i:04d}.bin", [1], [1], [i], [1])
    train = get_dataset("ncaltech101", root=root, split="train")
    test = get_dataset("ncaltech101", root=root, split="test")
    train_paths = {s.path for s in train.samples}
    test_paths = {s.path for s in test.samples}
    assert len(train_paths) == 8 and len(test_paths) == 2 and not train_paths & test_paths
    assert sorted(set(test.labels)) == [0, class_names("ncaltech101").index("ant")]
    # the frame-offset seed does not move the split: no leakage between differently seeded runs
    other = get_dataset("ncaltech101", root=root, split="test", seed=7)
    assert {s.path for s in other.samples} == test_paths
    moved = get_dataset("ncaltech101", root=root, split="test", split_seed=5)
    assert len(moved) == 2


# -- N-MNIST --------------------------------------------------------------------------------------


def test_nmnist_reads_bin_with_fixed_sensor(tmp_path):
    root = tmp_path / "nmnist"
    write_bin(root / "Train/3/00001.bin", [0, 33, 5], [2, 33, 7], [10, 20, 300000], [0, 1, 1])
    write_bin(root / "Train/7/00002.bin", [1], [1], [5], [1])
    write_bin(root / "Test/0/00003.bin", [1], [1], [5], [0])
    ds = get_dataset("nmnist", root=root, split="train", representation=None)
    assert ds.labels == [3, 7] and len(get_dataset("nmnist", root=root, split="test")) == 1
    sample = ds[0]
    assert sample["class_name"] == "three" and sample["stream"].sensor_size == (34, 34)
    assert sample["stream"].events["t"].tolist() == [10, 20, 300000]
    with pytest.raises(ValueError, match="split"):
        get_dataset("nmnist", root=root, split="val")


# -- N-ImageNet -----------------------------------------------------------------------------------


def write_nimagenet_npz(path, rng, n=40) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = np.zeros(n, dtype=[("x", "<u2"), ("y", "<u2"), ("t", "<i8"), ("p", "u1")])
    x, y, t, p = random_events(rng, n, 640, 480)
    data["x"], data["y"], data["t"], data["p"] = x, y, t, p
    np.savez(path, event_data=data)


def test_nimagenet_list_reroot_labels_and_variants(tmp_path):
    rng = np.random.default_rng(4)
    root = tmp_path / "nin"
    write_nimagenet_npz(root / "extracted_train/n01443537/n01443537_1.npz", rng)
    write_nimagenet_npz(root / "extracted_train/n15075141/n15075141_2.npz", rng)
    write_nimagenet_npz(root / "extracted_val_brightness_5/n01440764/n01440764_3.npz", rng)
    (root / "train_list.txt").write_text(
        "/home/someone/N_Imagenet/extracted_train/n01443537/n01443537_1.npz\n"
        "/home/someone/N_Imagenet/extracted_train/n15075141/n15075141_2.npz\n"
    )
    ds = get_dataset("nimagenet", root=root, split="train", representation=None)
    assert ds.labels == [1, 999]
    sample = ds[0]
    assert sample["class_name"] == "goldfish" and sample["stream"].sensor_size == (640, 480)
    assert len(sample["stream"]) == 40
    val = get_dataset("nimagenet", root=root, split="val", variant="brightness_5")
    assert val.labels == [0] and val.samples[0].path.endswith("n01440764_3.npz")
    with pytest.raises(ValueError, match="variant"):
        get_dataset("nimagenet", root=root, split="val", variant="mode_2")
    for k in (1, 3, 5, 6, 7):
        write_nimagenet_npz(root / f"extracted_val_mode_{k}/n15075141/n15075141_9.npz", rng)
        mode = get_dataset("nimagenet", root=root, split="val", variant=f"mode_{k}")
        assert mode.labels == [999] and mode.class_names[999] == "toilet tissue"
    (root / "val_list.txt").write_text("extracted_val/n99999999/x.npz\n")
    with pytest.raises(DatasetError, match=r"val_list.txt:1: unknown wnid"):
        get_dataset("nimagenet", root=root, split="val")
    (root / "val_list.txt").write_text("\nextracted_val/n01440764/n01440764_8.npz\n")
    with pytest.raises(DatasetError, match=r"val_list.txt:2: names a sample .*n01440764_8.npz"):
        get_dataset("nimagenet", root=root, split="val")


# -- ASL-DVS --------------------------------------------------------------------------------------


def test_asl_dvs_mat_split_and_flip(tmp_path):
    scipy_io = importlib.import_module("scipy.io")
    root = tmp_path / "asl"
    for letter in ("a", "y"):
        (root / letter).mkdir(parents=True)
        for i in range(5):
            scipy_io.savemat(
                root / letter / f"{letter}_{i:04d}.mat",
                {
                    "ts": np.array([[10], [20]]),
                    "x": np.array([[3], [4]]),
                    "y": np.array([[0], [179]]),
                    "pol": np.array([[1], [0]]),
                },
            )
    train = get_dataset("asl_dvs", root=root, split="train", representation=None)
    test = get_dataset("asl_dvs", root=root, split="test", representation=None)
    assert len(train) == 8 and len(test) == 2 and sorted(test.labels) == [0, 23]
    assert not {s.path for s in train.samples} & {s.path for s in test.samples}
    # runs with another frame-offset seed keep the same split
    reseeded = get_dataset("asl_dvs", root=root, split="train", seed=9, representation=None)
    assert [s.path for s in reseeded.samples] == [s.path for s in train.samples]
    assert len(get_dataset("asl_dvs", root=root, split="all")) == 10
    sample = test[0]
    assert sample["stream"].events["y"].tolist() == [179, 0]
    assert sample["class_name"] in ("a", "y")


# -- DVS128 Gesture -------------------------------------------------------------------------------


def test_dvs_gesture_one_sample_per_interval(tmp_path):
    root = tmp_path / "DvsGesture"
    root.mkdir()
    t = np.arange(0, 3000, 10)
    x, y, p = t % 128, (t // 10) % 128, (t // 10) % 2
    write_aedat31(root / "user01_fluorescent.aedat", x, y, t, p)
    (root / "user01_fluorescent_labels.csv").write_text(
        "class,startTime_usec,endTime_usec\n1,0,1000\n11,1500,2500\n"
    )
    write_aedat31(root / "user24_led.aedat", x[:5], y[:5], t[:5], p[:5])
    (root / "user24_led_labels.csv").write_text("class,startTime_usec,endTime_usec\n4,0,50\n")
    (root / "trials_to_train.txt").write_text("user01_fluorescent.aedat\n")
    (root / "trials_to_test.txt").write_text("user24_led.aedat\n")
    train = get_dataset("dvs_gesture", root=tmp_path, split="train", representation=None)
    assert train.labels == [0, 10]
    first, second = train[0], train[1]
    assert first["class_name"] == "hand clapping" and second["class_name"] == "other gestures"
    assert first["stream"].events["t"].tolist() == list(range(0, 1000, 10))
    assert second["stream"].events["t"][0] == 1500 and second["stream"].events["t"][-1] == 2490
    assert np.array_equal(second["stream"].events["x"], x[150:250])
    assert second["stream"].sensor_size == (128, 128)
    test = get_dataset("dvs_gesture", root=root, split="test", representation=None)
    assert test.labels == [3] and test[0]["class_name"] == "right arm clockwise"
    (root / "user24_led_labels.csv").write_text("class,startTime_usec,endTime_usec\n12,0,50\n")
    with pytest.raises(DatasetError, match=r"user24_led_labels.csv:2: class 12 outside"):
        get_dataset("dvs_gesture", root=root, split="test")
    (root / "user24_led_labels.csv").write_text("class,startTime_usec,endTime_usec\n4,0,50\n")
    (root / "user25_led_labels.csv").write_text("class,startTime_usec,endTime_usec\n4,0,50\n")
    (root / "trials_to_test.txt").write_text("user24_led.aedat\nuser25_led.aedat\n")
    with pytest.raises(DatasetError, match=r"trials_to_test.txt:2: names a sample .*user25_led"):
        get_dataset("dvs_gesture", root=root, split="test")
    (root / "trials_to_test.txt").unlink()
    with pytest.raises(DatasetError, match="trials_to_test.txt: trial list not found"):
        get_dataset("dvs_gesture", root=root, split="test")


# -- generic folder -------------------------------------------------------------------------------


def test_generic_folder_frames_and_event_file(tmp_path):
    root = tmp_path / "mine"
    rng = np.random.default_rng(5)
    for cls, sample in (("cat", "s1"), ("dog", "s2")):
        base = root / "train" / cls / sample
        for i in range(6):
            write_png(base / "frames" / f"{i}.png", 10 * i)
        x, y, t, p = random_events(rng, 30, 16, 12)
        np.savez(base / "events.npz", x=x, y=y, t=t, p=p)
    x, y, t, p = random_events(rng, 30, 16, 12)
    np.savez(root / "train" / "dog" / "s3.npz", x=x, y=y, t=t, p=p)
    ds = get_dataset("folder", root=root, split="train", num_frames=3, representation=None)
    assert ds.class_names == ["cat", "dog"] and ds.labels == [0, 1, 1]
    sample = ds[0]
    assert sample["rgb"].shape == (3, 3, 12, 16) and len(sample["stream"]) == 30
    assert set(ds[2]) == {"stream", "label", "class_name", "path"}  # an event-file-only sample
    ds_eval = get_dataset("folder", root=root, split="train", num_frames=3, train=False)
    assert ds_eval.train is False
    with pytest.raises(DatasetError, match="not in class_names"):
        get_dataset("folder", root=root, split="train", class_names=["cat"])


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
