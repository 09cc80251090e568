"""Tests of the linear probe on frozen features (evclip.engine.probe, ``evclip probe``)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from evclip.engine.probe import DEFAULT_CS, POOLINGS, fit_probe, pool_features, split_arrays


def _ordered_clips(n: int, seed: int):
    """Two classes that hold the same two frames in opposite order (a motion and its reverse):
    only the order of the frames tells them apart."""
    rng = np.random.default_rng(seed)
    a, b = rng.normal(size=(n, 1, 4)), rng.normal(size=(n, 1, 4)) + 3.0
    labels = rng.integers(0, 2, size=n)
    first = np.where(labels[:, None, None] == 0, a, b)
    second = np.where(labels[:, None, None] == 0, b, a)
    clips = np.stack([first, second], axis=1)  # (n, T=2, N=1, D=4)
    return [
        {"features": {"event_tokens": torch.from_numpy(c).float()}, "label": int(y)}
        for c, y in zip(clips, labels, strict=True)
    ]


def test_frame_order_is_what_separates_a_motion_from_its_reverse():
    splits = {name: _ordered_clips(120, seed) for seed, name in enumerate(("train", "val", "test"))}
    results = {}
    for pooling in POOLINGS:
        arrays = {name: split_arrays(data, pooling) for name, data in splits.items()}
        results[pooling] = fit_probe(
            arrays["train"], arrays["val"], arrays["test"], pooling=pooling
        )
    assert results["frames"].features == 2 * 4 and results["mean"].features == 4
    assert results["frames"].test_top1 >= 0.95  # the order is in the features
    assert results["mean"].test_top1 <= 0.7  # averaged over frames, the two classes coincide
    assert results["frames"].test_top5 == 1.0  # two classes: both are in the top 5
    assert set(results["frames"].val_top1) == set(DEFAULT_CS)
    best = max(results["frames"].val_top1.values())
    assert results["frames"].val_top1[results["frames"].chosen_c] == best


def test_pooling_reads_modalities_in_name_order_and_rejects_bad_input():
    feats = {
        "rgb_tokens": torch.arange(6.0).reshape(2, 1, 3),
        "event_tokens": torch.full((2, 1, 3), -1.0),
    }
    frames = pool_features(feats, "frames")
    assert frames.tolist() == [-1.0] * 6 + [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]
    assert pool_features(feats, "mean").tolist() == [-1.0] * 3 + [1.5, 2.5, 3.5]
    with pytest.raises(ValueError, match="pooling must be one of"):
        pool_features(feats, "max")
    with pytest.raises(ValueError, match=r"not \[T, N, D\]"):
        pool_features({"rgb_tokens": torch.zeros(3)}, "frames")
    with pytest.raises(ValueError, match="empty"):
        split_arrays([], "frames")


def test_cli_choices_are_the_engines():
    from evclip.cli import probe

    assert probe.POOLINGS == POOLINGS and probe.DEFAULT_CS == DEFAULT_CS


def test_probe_needs_a_validation_split_and_fixed_features():
    from evclip.engine.config import ConfigError, load_config
    from evclip.engine.probe import linear_probe

    config = load_config("demo_safe", ["data.root=/nonexistent", "data.val_split=null"])
    with pytest.raises(ConfigError, match="val_split"):
        linear_probe(config)
