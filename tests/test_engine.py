"""Engine: configs, optimiser groups, the per-step schedule, accumulation, AMP, metrics."""

from __future__ import annotations

import importlib
import math

import numpy as np
import pytest
import torch
from engine_helpers import ToyMethod, toy_config

from evclip.engine.build import build_method, builder_arguments, method_builder
from evclip.engine.checkpoint import load_checkpoint
from evclip.engine.config import (
    ConfigError,
    config_differences,
    load_config,
    parse_override,
    shipped_configs,
)
from evclip.engine.experiment import train_experiment
from evclip.engine.metrics import classification_metrics, confusion_matrix, topk_accuracy
from evclip.engine.schedule import build_optimizer, lr_factor

# -- configs -----------------------------------------------------------------------------------


def test_overrides_are_typed():
    config = load_config(
        None,
        [
            "optim.lr=1e-4",
            "optim.epochs=3",
            "optim.grad_clip=null",
            "run.tsne=false",
            "data.image_size=[32,48]",
            "method.args.depth=2",
            "method.args.names=[a, b]",
        ],
    )
    assert config.optim.lr == pytest.approx(1e-4) and isinstance(config.optim.lr, float)
    assert config.optim.epochs == 3 and config.optim.grad_clip is None
    assert config.run.tsne is False
    assert config.data.image_size == [32, 48]
    assert config.method.args == {"depth": 2, "names": ["a", "b"]}
    assert parse_override("a.b=8e-6") == (["a", "b"], 8e-6)


@pytest.mark.parametrize(
    ("override", "needles"),
    [
        ("optim.lrr=1", ["optim.lrr", "lr, backbone_lr"]),
        ("optim.amp=fp32", ["optim.amp", "'none', 'bf16', 'fp16'"]),
        ("optim.epochs=1.5", ["optim.epochs", "integer"]),
        ("trainer.x=1", ["trainer", "method, data, optim, run"]),
        ("run.metric=top3", ["run.metric", "'top1', 'top5', 'mean_per_class'"]),
        ("run.plots=maybe", ["run.plots", "true or false"]),
        ("optim", ["key.sub=value"]),
    ],
)
def test_bad_keys_and_values_name_the_key_and_what_is_allowed(override, needles):
    with pytest.raises(ConfigError) as info:
        load_config(None, [override])
    for needle in needles:
        assert needle in str(info.value)


def test_inherit_and_differences(tmp_path):
    (tmp_path / "base.yaml").write_text("optim: {lr: 1e-3, epochs: 4}\nrun: {seed: 3}\n")
    (tmp_path / "child.yaml").write_text("inherit: base.yaml\noptim: {epochs: 9}\n")
    config = load_config(tmp_path / "child.yaml")
    assert (config.optim.lr, config.optim.epochs, config.run.seed) == (1e-3, 9, 3)
    assert config_differences(config, load_config(tmp_path / "base.yaml")) == ["optim.epochs"]
    (tmp_path / "loop.yaml").write_text("inherit: loop.yaml\n")
    with pytest.raises(ConfigError, match="loops"):
        load_config(tmp_path / "loop.yaml")


def test_missing_config_lists_shipped_ones():
    with pytest.raises(FileNotFoundError) as info:
        load_config("no_such_experiment")
    assert "safe_vitb16_poker" in str(info.value)


def test_shipped_configs_load_with_paper_settings():
    names = shipped_configs()
    for name in ("safe_vitb16_poker", "safe_vitb16_hardvs"):
        assert name in names and f"{name}_afe" in names
    assert "safe_test_tiny" in names
    importlib.import_module("evclip.models.safe")  # registers "safe" (models may not import it yet)
    for name in names:  # every shipped file is valid and names only arguments its builder takes
        config = load_config(name)
        accepted, _ = builder_arguments(method_builder(config.method.name))
        assert set(config.method.args) <= set(accepted), name
    paper = load_config("safe_vitb16_poker")
    assert (paper.optim.lr, paper.optim.weight_decay, paper.optim.epochs) == (8e-6, 1e-4, 50)
    assert (paper.data.batch_size, paper.data.num_frames, paper.optim.schedule) == (16, 5, "cosine")
    assert paper.data.image_size == [224, 224]
    assert paper.method.args["clip"] == "openai/clip-vit-base-patch16"
    afe = load_config("safe_vitb16_hardvs_afe")
    assert afe.data.slicing == "afe" and afe.optim.lr == 8e-6


def test_method_arguments_are_checked_against_the_builder():
    with pytest.raises(ConfigError) as info:
        build_method("engine_toy_strict", {"hiden": 4})
    assert "hiden" in str(info.value) and "hidden" in str(info.value)
    with pytest.raises(ConfigError, match="unknown method 'nope'"):
        build_method("nope", {})


# a builder with a real signature (the registered toy takes **kwargs)
def _strict_builder(*, hidden: int = 8, num_frames: int = 2) -> ToyMethod:
    return ToyMethod(hidden=hidden, num_frames=num_frames)


def setup_module(module):
    from evclip.models import METHODS

    if "engine_toy_strict" not in METHODS:
        METHODS.register("engine_toy_strict")(_strict_builder)


def test_num_frames_default_reaches_builders_that_take_it():
    method = build_method("engine_toy_strict", {}, defaults={"num_frames": 7, "other": 1})
    assert method.num_frames == 7


# -- optimiser and schedule --------------------------------------------------------------------


def test_parameter_groups_backbone_lr_and_no_decay_on_1d():
    method = ToyMethod()
    method.set_classes(["a", "b"])
    config = load_config(None, ["optim.lr=0.1", "optim.backbone_lr=0.01", "optim.weight_decay=0.5"])
    optimizer = build_optimizer(method, config.optim)
    groups = {g["name"]: g for g in optimizer.param_groups}
    assert set(groups) == {"backbone/decay", "backbone/no_decay", "head/decay", "head/no_decay"}
    assert groups["backbone/decay"]["lr"] == 0.01 and groups["head/decay"]["lr"] == 0.1
    assert groups["head/no_decay"]["weight_decay"] == 0.0
    assert groups["head/decay"]["weight_decay"] == 0.5
    assert all(p.ndim == 1 for g in groups.values() if "no_decay" in g["name"] for p in g["params"])
    assert sum(len(g["params"]) for g in groups.values()) == 4


def test_frozen_parameters_are_left_out():
    method = ToyMethod(frozen_backbone=True)
    method.set_classes(["a", "b"])
    optimizer = build_optimizer(method, load_config(None).optim)
    assert {g["name"] for g in optimizer.param_groups} == {"head/decay", "head/no_decay"}


def test_lr_factor_warmup_then_cosine():
    total, warmup = 10, 3
    factors = [lr_factor(s, total, warmup_steps=warmup, min_lr_ratio=0.1) for s in range(total)]
    assert factors[:3] == pytest.approx([1 / 3, 2 / 3, 1.0])
    assert factors[3] == pytest.approx(1.0)
    assert factors[-1] == pytest.approx(0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * 6 / 7)))
    assert all(a >= b for a, b in zip(factors[3:], factors[4:], strict=False))


def test_lr_follows_the_curve_per_optimiser_step(tmp_path):
    """12 samples, batch 2, accumulate 2: 3 optimiser steps an epoch, 9 in all."""
    seen = []
    config = toy_config(
        tmp_path,
        "data.batch_size=2",
        "optim.accumulate=2",
        "optim.epochs=3",
        "optim.warmup_steps=2",
        "optim.lr=0.1",
        "optim.backbone_lr=0.01",
        "data.val_split=null",
        "data.test_split=null",
    )
    train_experiment(config, callbacks=[lambda t: seen.append((t.state.global_step, t.last_lrs))])
    steps = [s for s, _ in seen]
    assert steps == list(range(1, 10))
    expected = [lr_factor(s, 9, warmup_steps=2) for s in range(9)]
    assert [lrs["head"] for _, lrs in seen] == pytest.approx([0.1 * f for f in expected])
    assert [lrs["backbone"] for _, lrs in seen] == pytest.approx([0.01 * f for f in expected])


def test_accumulation_matches_one_big_batch(tmp_path):
    common = ["data.val_split=null", "data.test_split=null", "optim.epochs=1", "run.seed=5"]
    big = toy_config(tmp_path / "big", *common, "data.batch_size=4")
    small = toy_config(tmp_path / "small", *common, "data.batch_size=2", "optim.accumulate=2")
    plain = toy_config(tmp_path / "plain", *common, "data.batch_size=2")
    for config in (big, small, plain):  # same sample order: shuffled by (seed, epoch) only
        train_experiment(config)
    a, b, c = (
        load_checkpoint(tmp_path / n / "checkpoints").model for n in ["big", "small", "plain"]
    )
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=1e-5, atol=1e-6)
    assert not torch.allclose(a["head.weight"], c["head.weight"], rtol=1e-3)  # 6 steps, not 3


def test_seeded_runs_are_identical_and_seeds_matter(tmp_path):
    common = ["data.test_split=null", "optim.epochs=1", "method.args={dropout: 0.5}"]
    for name, seed in (("a", 1), ("b", 1), ("c", 2)):
        train_experiment(toy_config(tmp_path / name, *common, f"run.seed={seed}"))
    weights = {n: load_checkpoint(tmp_path / n / "checkpoints").model for n in "abc"}
    assert all(torch.equal(weights["a"][k], weights["b"][k]) for k in weights["a"])
    assert not torch.equal(weights["a"]["head.weight"], weights["c"]["head.weight"])


def test_bf16_autocast_on_cpu_and_fp16_refused(tmp_path):
    results = train_experiment(toy_config(tmp_path / "bf16", "optim.amp=bf16", "optim.epochs=1"))
    assert results["status"] == "finished" and 0 <= results["test"]["top1"] <= 1
    with pytest.raises(ConfigError, match="bf16 on a CPU"):
        train_experiment(toy_config(tmp_path / "fp16", "optim.amp=fp16", "run.device=cpu"))


def test_gradient_clipping_and_training_records(tmp_path):
    from evclip.engine.schedule import clip_gradients
    from evclip.engine.sinks import read_log

    param = torch.nn.Parameter(torch.zeros(4))
    param.grad = torch.full((4,), 3.0)
    assert clip_gradients([param], 1.5) == pytest.approx(6.0)
    assert float(param.grad.norm()) == pytest.approx(1.5)
    train_experiment(
        toy_config(tmp_path, "optim.grad_clip=0.5", "optim.epochs=1", "data.test_split=null")
    )
    records = read_log(tmp_path / "log.jsonl", "train")
    assert len(records) == 3 and all(r["grad_norm"] > 0 for r in records)
    assert all(r["samples_per_s"] > 0 and r["lr"] > 0 and "lr_backbone" in r for r in records)
    assert [r["step"] for r in records] == [1, 2, 3]


# -- metrics -----------------------------------------------------------------------------------


def test_metrics_by_hand():
    logits = np.array(
        [[3, 2, 1, 0], [0, 3, 2, 1], [3, 0, 1, 2], [0, 1, 3, 2], [1, 2, 0, 3]], dtype=np.float32
    )
    labels = np.array([0, 2, 0, 3, 3])  # predictions 0, 1, 0, 2, 3
    metrics = classification_metrics(logits, labels, ["a", "b", "c", "d"])
    assert metrics["top1"] == pytest.approx(3 / 5)
    assert topk_accuracy(logits, labels, 2) == pytest.approx(5 / 5)
    # per class: a 2/2, c 0/1, d 1/2; b has no samples and is not averaged
    assert metrics["mean_per_class"] == pytest.approx((1 + 0 + 0.5) / 3)
    assert metrics["per_class"][1]["accuracy"] is None
    assert metrics["confusion"][3] == [0, 0, 1, 1]
    assert metrics["top5"] == 1.0  # top-min(5, C)
    assert confusion_matrix([1, 1], [0, 1], 2).tolist() == [[0, 1], [0, 1]]
    with pytest.raises(ValueError, match="3 classes"):
        classification_metrics(logits, labels, ["a", "b", "c"])


def test_worker_processes_follow_the_epoch(tmp_path):
    """Training samples change every epoch ((seed, epoch, index) jitter): a persistent worker
    process must load each epoch's samples, not the epoch it was started in."""
    from engine_helpers import ToyDataset

    from evclip.engine.data import EpochKeys, IndexedDataset, make_loader
    from evclip.engine.distributed import TrainSampler

    dataset = ToyDataset(str(tmp_path), "train", size=4)
    keys = EpochKeys(TrainSampler(4, shuffle=False))
    loader = make_loader(IndexedDataset(dataset), batch_size=4, sampler=keys, num_workers=1)
    for epoch in (0, 1, 2):
        keys.set_epoch(epoch)
        (batch,) = list(loader)
        dataset.set_epoch(epoch)
        expected = torch.stack([dataset[i]["events"] for i in range(4)])
        assert torch.equal(batch["events"], expected), epoch
        assert batch["index"].tolist() == [0, 1, 2, 3]
    dataset.set_epoch(0)
    assert not torch.equal(batch["events"][0], dataset[0]["events"])  # epochs do differ
