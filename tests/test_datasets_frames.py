"""Dataset readers of PNG frame-folder layouts: HARDVS and PokerEvent PNGs, the generic folder.

Every layout is written as a tiny fixture tree in tmp_path (see dataset_fixtures.py).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from dataset_fixtures import random_events, write_frame_sample, write_png, write_tiny_benchmark

from evclip.datasets import DatasetError, collate_samples, get_dataset

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


def test_default_frame_count_takes_each_stored_benchmark_frame_once(tmp_path, hardvs_root):
    bench = write_tiny_benchmark(tmp_path / "bench", n_samples=2, size=8)  # 5 frames per clip
    for train in (False, True):
        sample = get_dataset("synthetic", root=bench, split="train", train=train)[0]
        assert sample["events"][:, 0, 0, 0].tolist() == [0, 10, 20, 30, 40]
        assert sample["rgb"][:, 0, 0, 0].tolist() == [5, 15, 25, 35, 45]
    assert get_dataset("hardvs", root=hardvs_root, split="train").num_frames == 5
    three = write_tiny_benchmark(tmp_path / "three", n_samples=2, size=8, n_frames=3)
    assert get_dataset("synthetic", root=three, split="train").num_frames == 3  # its manifest
    assert get_dataset("synthetic", root=three, split="train", num_frames=2).num_frames == 2


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
