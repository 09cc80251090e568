"""Engine: exact resume after an interruption, atomic and corrupt checkpoints, NaN stops,
best-model choice and self-describing model folders."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from engine_helpers import TOY_CLASSES, ToyDataset, toy_config

from evclip.engine.checkpoint import (
    CheckpointError,
    load_checkpoint,
    read_pointer,
    save_checkpoint,
)
from evclip.engine.evaluate import predict_dataset
from evclip.engine.experiment import train_experiment
from evclip.engine.pretrained import load_pretrained
from evclip.engine.trainer import NonFiniteLossError, TrainingInterrupted
from evclip.models import from_pretrained

TESTS = Path(__file__).resolve().parent
# 12 samples, batch 4: 3 optimiser steps an epoch, 9 in all; dropout makes the RNG matter
RESUME = ["optim.epochs=3", "method.args={dropout: 0.3}", "optim.warmup_steps=2", "run.seed=3"]


def _final(out_dir: Path) -> dict[str, torch.Tensor]:
    return load_checkpoint(out_dir / "checkpoints").model


def _assert_equal(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> dict[str, torch.Tensor]:
    """Weights of an uninterrupted run."""
    out = tmp_path_factory.mktemp("reference")
    train_experiment(toy_config(out, *RESUME))
    return _final(out)


def _stop_at(step: int, action):
    def callback(trainer):
        if trainer.state.global_step == step:
            action()

    return callback


def _raise_interrupt():
    raise KeyboardInterrupt("test")


def test_interrupted_mid_epoch_and_resumed_equals_uninterrupted(tmp_path, reference):
    config = toy_config(tmp_path, *RESUME)
    with pytest.raises(TrainingInterrupted):
        train_experiment(config, callbacks=[_stop_at(4, _raise_interrupt)])
    assert read_pointer(tmp_path / "checkpoints")["dir"] == "step-00000004"
    assert load_checkpoint(tmp_path / "checkpoints").meta["batches_done"] == 1  # mid-epoch
    results = train_experiment(config, resume=True)
    assert results["status"] == "finished"
    assert read_pointer(tmp_path / "checkpoints")["dir"] == "step-00000009"
    _assert_equal(_final(tmp_path), reference)


def test_sigint_stops_after_the_step_and_resumes_exactly(tmp_path, reference):
    config = toy_config(tmp_path, *RESUME)
    send = _stop_at(5, lambda: os.kill(os.getpid(), signal.SIGINT))
    before = signal.getsignal(signal.SIGINT)  # SIG_IGN when the suite runs in the background
    with pytest.raises(TrainingInterrupted, match="step 5"):
        train_experiment(config, callbacks=[send])
    assert signal.getsignal(signal.SIGINT) is before  # handler restored
    train_experiment(config, resume=True)
    _assert_equal(_final(tmp_path), reference)


def test_max_steps_then_resume(tmp_path, reference):
    config = toy_config(tmp_path, *RESUME, "run.max_steps=2")
    assert train_experiment(config)["status"] == "max_steps"
    train_experiment(toy_config(tmp_path, *RESUME), resume=tmp_path / "checkpoints")
    _assert_equal(_final(tmp_path), reference)


KILL_SCRIPT = """
import os, signal, sys
from pathlib import Path
sys.path.insert(0, {tests!r})
from engine_helpers import toy_config
from evclip.engine.experiment import train_experiment

def kill(trainer):
    if trainer.state.global_step == 5:
        os.kill(os.getpid(), signal.SIGKILL)

train_experiment(toy_config(Path({out!r}), *{overrides!r}), callbacks=[kill])
"""


def test_sigkill_mid_run_then_resume_equals_uninterrupted(tmp_path, reference):
    overrides = [*RESUME, "run.save_every=1"]
    script = KILL_SCRIPT.format(tests=str(TESTS), out=str(tmp_path), overrides=overrides)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=120)
    assert proc.returncode == -signal.SIGKILL, proc.stderr.decode()[-2000:]
    assert read_pointer(tmp_path / "checkpoints")["dir"] == "step-00000004"
    train_experiment(toy_config(tmp_path, *overrides), resume=True)
    _assert_equal(_final(tmp_path), reference)


def test_nan_loss_stops_naming_the_step_and_keeps_the_last_good_checkpoint(tmp_path):
    nan = "method.args={nan_after: 5}"
    config = toy_config(tmp_path, "run.save_every=2", "optim.epochs=3", nan)
    with pytest.raises(NonFiniteLossError) as info:
        train_experiment(config)
    message = str(info.value)
    assert "optimiser step 6" in message and "step-00000004" in message
    assert read_pointer(tmp_path / "checkpoints")["dir"] == "step-00000004"
    good = load_checkpoint(tmp_path / "checkpoints").model
    assert all(torch.isfinite(v).all() for v in good.values())
    errors = [json.loads(line) for line in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert errors[-1]["kind"] == "error" and "step 6" in errors[-1]["message"]


# -- atomic writes, corrupt files, wrong models ------------------------------------------------

PARTIAL_WRITE = """
import os, signal, sys, torch
from evclip.engine.checkpoint import save_checkpoint

def half_then_die(state, path):
    with open(path, "wb") as f:
        f.write(b"partial" * 100)
        f.flush()
        os.fsync(f.fileno())
    os.kill(os.getpid(), signal.SIGKILL)

save_checkpoint({root!r}, "step-2", {{"w": torch.ones(3)}}, {{}}, {{}}, write_weights=half_then_die)
"""


def test_kill_or_full_disk_while_writing_keeps_the_previous_checkpoint(tmp_path):
    root = tmp_path / "checkpoints"
    save_checkpoint(root, "step-1", {"w": torch.zeros(3)}, {"step": 1}, {"method": "x"})
    proc = subprocess.run([sys.executable, "-c", PARTIAL_WRITE.format(root=str(root))], timeout=60)
    assert proc.returncode == -signal.SIGKILL
    assert torch.equal(load_checkpoint(root).model["w"], torch.zeros(3))

    def disk_full(state, path):
        Path(path).write_bytes(b"x")
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError, match="No space"):
        save_checkpoint(root, "step-3", {"w": torch.ones(3)}, {}, {}, write_weights=disk_full)
    assert read_pointer(root)["dir"] == "step-1"
    assert torch.equal(load_checkpoint(root).model["w"], torch.zeros(3))
    assert sorted(p.name for p in root.iterdir()) == ["latest.json", "step-1"]  # no leftovers


def test_corrupt_or_missing_checkpoint_files_name_the_file(tmp_path):
    folder = save_checkpoint(tmp_path, "step-1", {"w": torch.ones(2)}, {"a": 1}, {})
    (folder / "model.safetensors").write_bytes(b"\x00" * 12)
    with pytest.raises(CheckpointError, match=r"model\.safetensors: corrupt"):
        load_checkpoint(tmp_path)
    folder = save_checkpoint(tmp_path, "step-2", {"w": torch.ones(2)}, {"a": 1}, {})
    data = (folder / "state.pt").read_bytes()
    (folder / "state.pt").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match=r"state\.pt: corrupt"):
        load_checkpoint(folder)
    with pytest.raises(CheckpointError, match="checkpoint not found"):
        load_checkpoint(tmp_path / "nowhere")
    (tmp_path / "latest.json").write_text("{not json")
    with pytest.raises(CheckpointError, match=r"latest\.json: corrupt JSON"):
        load_checkpoint(tmp_path)


def test_checkpoint_of_another_model_is_a_clear_error(tmp_path):
    train_experiment(toy_config(tmp_path, "optim.epochs=1", "data.test_split=null"))
    other = toy_config(tmp_path, "optim.epochs=2", "method.args={hidden: 5}")
    with pytest.raises(CheckpointError) as info:
        train_experiment(other, resume=True)
    assert "does not fit ToyMethod" in str(info.value) and "shape mismatch" in str(info.value)
    assert "model.safetensors" in str(info.value)
    renamed = toy_config(tmp_path, "optim.epochs=2", "method.name=engine_toy_other")
    from evclip.models import METHODS

    if "engine_toy_other" not in METHODS:
        METHODS.register("engine_toy_other")(METHODS.get("engine_toy"))
    with pytest.raises(CheckpointError, match="written by method 'engine_toy'"):
        train_experiment(renamed, resume=True)


# -- choosing and exporting the model ----------------------------------------------------------


def test_best_is_chosen_on_validation_and_kept_by_pruning(tmp_path):
    results = train_experiment(toy_config(tmp_path, "optim.epochs=3", "run.keep_last=1"))
    best = read_pointer(tmp_path / "checkpoints", "best")
    vals = [json.loads(line) for line in (tmp_path / "log.jsonl").read_text().splitlines()]
    vals = [r for r in vals if r["kind"] == "val"]
    assert len(vals) == 3
    top = max(r["top1"] for r in vals)
    first_best = next(r for r in vals if r["top1"] == top)
    assert best["value"] == pytest.approx(top) and best["epoch"] == first_best["epoch"]
    assert (tmp_path / "checkpoints" / best["dir"]).is_dir()  # survived keep_last=1
    assert results["checkpoint"].endswith(best["dir"])


def test_without_validation_the_last_checkpoint_is_kept(tmp_path, capsys):
    results = train_experiment(toy_config(tmp_path, "data.val_split=null"))
    assert "no validation split" in capsys.readouterr().err
    assert read_pointer(tmp_path / "checkpoints", "best") is None
    assert results["checkpoint"].endswith("step-00000006")


def test_model_folder_loads_without_the_original_config(tmp_path):
    arch = tmp_path / "arch_in.json"
    arch.write_text(json.dumps({"hidden": 6}))
    config = toy_config(
        tmp_path / "run", "optim.epochs=1", f"method.args={{hidden: 6, config_file: {arch}}}"
    )
    results = train_experiment(config)
    arch.unlink()  # the builder's file now comes from the model folder
    (tmp_path / "run" / "config.yaml").unlink()
    loaded = load_pretrained(results["model_dir"])
    assert loaded.class_names == TOY_CLASSES
    assert loaded.preprocessing["num_frames"] == 2
    assert loaded.preprocessing["modalities"] == ["events", "rgb"]
    model = from_pretrained(results["model_dir"])
    assert not model.training
    trained = load_checkpoint(results["checkpoint"]).model
    for key, value in model.state_dict().items():
        assert torch.equal(value, trained[key])
    test = ToyDataset(str(tmp_path), "test", size=5)
    got = predict_dataset(model, test, batch_size=2)
    assert got.logits.shape == (5, 3)
    assert json.loads((Path(results["model_dir"]) / "metrics.json").read_text())["test"]["top1"]


def test_not_a_model_folder(tmp_path):
    with pytest.raises(CheckpointError, match="not a model folder"):
        load_pretrained(tmp_path)
    with pytest.raises(CheckpointError, match="model folder not found"):
        load_pretrained(tmp_path / "missing" / "deeper")
