"""``evclip train``, ``evclip eval`` and ``evclip predict`` end to end (tiny toy model)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from dataset_fixtures import write_tiny_benchmark
from engine_helpers import TOY_CLASSES  # also registers the toy method and dataset

from evclip.cli.main import main
from evclip.engine.inference import load_model

TOY = {
    "method": {"name": "engine_toy", "args": {"hidden": 8}},
    "data": {"dataset": "engine_toy", "num_frames": 2, "batch_size": 4, "val_split": "val",
             "options": {"size": 9}},
    "optim": {"lr": 0.05, "epochs": 2},
    "run": {"plots": True, "tsne": False, "tensorboard": True, "progress": False},
}  # fmt: skip


def _write_config(path: Path, raw: dict) -> Path:
    path.write_text(yaml.safe_dump(raw))
    return path


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory) -> Path:
    """A finished CLI run of the toy method (plots, TensorBoard, model folder)."""
    tmp = tmp_path_factory.mktemp("cli")
    config = _write_config(tmp / "toy.yaml", TOY)
    assert main(["train", str(config), f"data.root={tmp}", "--out", str(tmp / "run")]) == 0
    return tmp / "run"


def test_train_writes_the_run_folder(trained_run, capsys):
    for name in ("config.yaml", "log.jsonl", "metrics.json", "per_class.md"):
        assert (trained_run / name).is_file(), name
    for name in ("curves", "confusion", "predictions"):
        assert (trained_run / "plots" / f"{name}.png").stat().st_size > 1000, name
    assert any((trained_run / "tb").iterdir())
    metrics = json.loads((trained_run / "metrics.json").read_text())
    assert metrics["test"]["num_samples"] == 9 and len(metrics["test"]["confusion"]) == 3
    assert metrics["best"]["metric"] == "top1"
    model = trained_run / "model"
    assert sorted(p.name for p in model.iterdir()) == [
        "class_names.json", "config.yaml", "metrics.json", "model.safetensors",
        "preprocessing.json", "pretrained.json",
    ]  # fmt: skip


def test_tsne_plot(tmp_path):
    from evclip.engine.plots import plot_tsne

    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(3), 4)
    points = rng.normal(size=(12, 6)) + labels[:, None] * 5
    assert plot_tsne(points, labels, TOY_CLASSES, tmp_path / "t.png").stat().st_size > 1000
    assert plot_tsne(points[:4], labels[:4], TOY_CLASSES, tmp_path / "u.png") is None


def test_eval_a_run_a_model_folder_and_a_config_with_a_checkpoint(trained_run, tmp_path, capsys):
    expected = json.loads((trained_run / "metrics.json").read_text())["test"]["top1"]
    capsys.readouterr()
    assert main(["eval", str(trained_run), "--quiet"]) == 0
    by_run = json.loads(capsys.readouterr().out)
    assert by_run["top1"] == expected and by_run["num_samples"] == 9 and by_run["split"] == "test"
    assert main(["eval", str(trained_run / "model"), "--out", str(tmp_path / "ev")]) == 0
    assert json.loads(capsys.readouterr().out)["top1"] == expected
    assert (tmp_path / "ev" / "confusion.png").stat().st_size > 1000
    assert json.loads((tmp_path / "ev" / "metrics.json").read_text())["metrics"]["confusion"]
    best = json.loads((trained_run / "checkpoints" / "best.json").read_text())["dir"]
    checkpoint = trained_run / "checkpoints" / best
    config = trained_run / "config.yaml"
    assert main(["eval", str(config), "--checkpoint", str(checkpoint), "--quiet"]) == 0
    assert json.loads(capsys.readouterr().out)["top1"] == expected
    # a checkpoint alone finds its run's config; other splits and data overrides work too
    assert main(["eval", "--checkpoint", str(checkpoint), "--split", "val", "--quiet"]) == 0
    assert json.loads(capsys.readouterr().out)["split"] == "val"


def test_eval_a_training_free_method_with_builder_arguments(tmp_path, capsys):
    argv = ["eval", "--method", "engine_toy", "--dataset", "engine_toy", "--root", str(tmp_path),
            "hidden=5", "data.options={size: 7}", "--quiet"]  # fmt: skip
    assert main(argv) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["num_samples"] == 7 and result["model"] == "method engine_toy"
    assert main([*argv[:-1], "hiden=5"]) == 2
    assert "has no argument 'hiden'" in capsys.readouterr().err
    assert main(["eval", "--method", "engine_toy", "--model", "x", "--dataset", "engine_toy",
                 "--root", str(tmp_path)]) == 2  # fmt: skip
    assert "takes none of model, clip, backbone" in capsys.readouterr().err


def test_predict_matches_the_dataset_sample(tmp_path, capsys):
    """A model trained on event files: predict on a sample's frames folder and event file
    gives the probabilities the model gives the dataset's evaluation sample."""
    root = write_tiny_benchmark(tmp_path / "bench", n_samples=6, size=24, n_frames=4)
    shutil.copy(root / "train_label.txt", root / "test_label.txt")
    raw = {**TOY, "data": {"dataset": "synthetic", "root": str(root), "num_frames": 3,
                           "batch_size": 3, "options": {"source": "npz"}},
           "optim": {"lr": 0.05, "epochs": 1}, "run": {"plots": False, "progress": False,
                                                       "tensorboard": False}}  # fmt: skip
    config = _write_config(tmp_path / "syn.yaml", raw)
    assert main(["train", str(config), "--out", str(tmp_path / "run")]) == 0
    capsys.readouterr()
    sample = root / "action_002" / "sample_00003"
    argv = [
        "predict",
        "--checkpoint",
        str(tmp_path / "run"),
        "--rgb",
        str(sample / "sample_00003_aps"),
        "--events",
        str(sample / "sample_00003.npz"),
    ]
    assert main(argv) == 0
    top = json.loads(capsys.readouterr().out)["top"]
    assert len(top) == 2 and sum(t["probability"] for t in top) == pytest.approx(1.0)
    assert top[0]["probability"] >= top[1]["probability"]
    from evclip.datasets import get_dataset

    dataset = get_dataset("synthetic", root=root, split="test", num_frames=3, source="npz")
    item = dataset[3]
    assert item["path"] == str(sample)
    model = load_model(str(tmp_path / "run"), None).method
    batch = {"rgb": item["rgb"][None], "events": item["events"][None]}
    with torch.no_grad():
        probs = model.predict(batch)[0].softmax(-1)
    for entry in top:
        assert entry["probability"] == pytest.approx(float(probs[entry["class"]]), abs=1e-6)
    # a model that reads both modalities needs both
    assert main(argv[:3] + ["--events", argv[-1]]) == 2
    assert "pass --rgb PATH" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["train", "no_such_config"], "shipped: "),
        (["train", "{cfg}", "optim.lrr=1"], "unknown config key optim.lrr"),
        (["train", "{cfg}", "method.args.hiden=3"], "method.args.hiden"),
        (["train", "{cfg}", "data.dataset=nope"], "unknown dataset 'nope'"),
        (["train", "{cfg}", "data.dataset=synthetic"], "{root}/classnames.txt: missing"),
        (["train", "{cfg}", "data.root=null"], "data.root is required"),
        (["eval", "{root}/missing"], "no such run or model folder"),
        (["eval", "{cfg}", "--checkpoint", "{root}/nope"], "checkpoint not found"),
        (["eval", "{root}"], "not a model or run folder"),
        (["predict", "--checkpoint", "{root}", "--events", "x"], "not a checkpoint"),
    ],
)
def test_clear_errors(tmp_path, capsys, argv, needle):
    config = _write_config(tmp_path / "toy.yaml", TOY)
    fill = {"cfg": str(config), "root": str(tmp_path)}
    argv = [a.format(**fill) for a in argv]
    if argv[0] == "train" and not any(a.startswith("data.root") for a in argv):
        argv.append(f"data.root={tmp_path}")
    assert main(argv) == 2
    assert needle.format(**fill) in capsys.readouterr().err


def test_train_resume_through_the_cli(tmp_path, capsys):
    config = _write_config(tmp_path / "toy.yaml", {**TOY, "run": {"progress": False,
                                                                  "plots": False}})  # fmt: skip
    common = ["train", str(config), f"data.root={tmp_path}"]
    assert main([*common, "run.max_steps=2", "--out", str(tmp_path / "r")]) == 0
    assert json.loads(capsys.readouterr().out)["status"] == "max_steps"
    # --resume takes an optional path: a key=value after it is still an override
    assert main([*common, "--out", str(tmp_path / "r"), "--resume", "run.log_every=2"]) == 0
    assert json.loads(capsys.readouterr().out)["status"] == "finished"
    log = (tmp_path / "r" / "log.jsonl").read_text().splitlines()
    steps = [json.loads(line)["step"] for line in log]
    assert max(steps) == 6
    config_used = yaml.safe_load((tmp_path / "r" / "config.yaml").read_text())
    assert config_used["run"]["log_every"] == 2


def test_train_nan_loss_exit_status(tmp_path, capsys):
    config = _write_config(tmp_path / "toy.yaml", {**TOY, "run": {"progress": False}})
    argv = ["train", str(config), f"data.root={tmp_path}", "method.args.nan_after=2"]
    assert main([*argv, "--out", str(tmp_path / "r")]) == 1
    assert "non-finite loss at optimiser step 3" in capsys.readouterr().err
