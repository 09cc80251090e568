"""One training run end to end: data, method, feature cache, training, test, plots, export.

:func:`train_experiment` is what ``evclip train`` calls. Output folder (``run.out_dir``)::

    config.yaml        the resolved experiment
    log.jsonl, tb/     training and validation records
    checkpoints/       step checkpoints, latest.json, best.json
    model/             the chosen model as a self-describing folder (see evclip.engine.pretrained)
    metrics.json       validation and test results; per_class.md the per-class test table
    plots/             curves.png, confusion.png, tsne.png, predictions.png

The model is chosen on the validation split (``data.val_split``) by ``run.metric``; without a
validation split the last checkpoint is the model. The test split is never used to choose.
"""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import Dataset

from evclip.engine import distributed as D
from evclip.engine.build import autocast_factory, build_method, seed_everything, set_deterministic
from evclip.engine.cache import (
    CachedDataset,
    FeatureCache,
    cache_folder,
    dataset_is_deterministic,
    default_cache_dir,
    method_cache_key,
    sample_paths,
)
from evclip.engine.checkpoint import (
    MODEL_FILE,
    atomic_write_text,
    load_model_state,
    load_weights,
    read_pointer,
    resolve_checkpoint,
)
from evclip.engine.config import (
    ConfigError,
    ExperimentConfig,
    config_differences,
    config_from_dict,
    load_yaml,
    save_config,
    validate,
)
from evclip.engine.data import IndexedDataset, build_dataset, class_names_of
from evclip.engine.evaluate import Predictions, evaluate_dataset
from evclip.engine.metrics import per_class_table, summary
from evclip.engine.pretrained import export_pretrained, preprocessing_of
from evclip.engine.sinks import RunLog, read_log
from evclip.engine.trainer import Callback, Trainer


@dataclass
class Splits:
    """The raw datasets of a run and the class names they share."""

    train: Dataset
    val: Dataset | None
    test: Dataset | None
    class_names: list[str]


def load_splits(config: ExperimentConfig, *, with_train: bool = True) -> Splits:
    """Build the configured splits; every split must have the training split's class names."""
    data, seed = config.data, config.run.seed
    train = build_dataset(data, data.train_split, train=True, seed=seed) if with_train else None
    val = build_dataset(data, data.val_split, train=False, seed=seed) if data.val_split else None
    test = build_dataset(data, data.test_split, train=False, seed=seed) if data.test_split else None
    reference = train if train is not None else (val or test)
    if reference is None:
        raise ConfigError("no split to read: set data.train_split, val_split or test_split")
    names = class_names_of(reference)
    for split, dataset in (("val_split", val), ("test_split", test)):
        if dataset is not None and class_names_of(dataset) != names:
            raise ConfigError(
                f"data.{split}: its {len(class_names_of(dataset))} class names differ from the "
                f"training split's {len(names)}"
            )
    return Splits(train, val, test, names)  # type: ignore[arg-type]


def code_identity() -> dict[str, str]:
    """evclip's version and a digest of its source files (``.py`` and shipped ``.yaml``): two
    runs with the same digest ran the same evclip code."""
    import evclip

    return {"evclip": evclip.__version__, "source": _source_digest()}


@functools.cache
def _source_digest() -> str:
    """Once per process: the files a running program imported do not change under it."""
    import hashlib

    import evclip

    package = Path(evclip.__file__).parent
    digest = hashlib.sha256()
    for path in sorted(package.rglob("*")):
        if path.suffix in (".py", ".yaml") and "__pycache__" not in path.parts:
            digest.update(path.relative_to(package).as_posix().encode() + b"\0")
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def build_experiment_method(config: ExperimentConfig, class_names: list[str]) -> nn.Module:
    """The config's method, its frames and classes taken from the data when the config does
    not set them, with ``class_names`` set."""
    method = build_method(
        config.method.name,
        config.method.args,
        defaults={"num_frames": config.data.num_frames, "class_names": class_names},
    )
    method.set_classes(class_names)
    return method


def use_feature_cache(
    config: ExperimentConfig, method: nn.Module, train: Dataset
) -> tuple[bool, bool]:
    """(cache the training split, cache the evaluation splits) under ``run.feature_cache``."""
    mode = config.run.feature_cache
    if mode == "off":
        return False, False
    key = method_cache_key(method)
    if key is None:
        if mode == "on":
            raise ConfigError(
                f"run.feature_cache=on but {type(method).__name__} offers no feature cache key "
                "now (no feature_cache_key/extract_features hooks, or its backbone trains)"
            )
        return False, False
    deterministic = dataset_is_deterministic(train)
    if mode == "on" and not deterministic:
        raise ConfigError(
            "run.feature_cache=on needs deterministic training inputs: set "
            "data.random_frames=false (random frame offsets change the features every epoch)"
        )
    return deterministic, True


def prepare_split(
    dataset: Dataset, method: nn.Module, config: ExperimentConfig, ctx: D.DistContext, cached: bool
) -> Dataset:
    """The dataset the engine iterates: cached features, or the files with ``"index"`` added."""
    if not cached:
        return IndexedDataset(dataset)
    key = method_cache_key(method)
    root = Path(config.run.cache_dir) if config.run.cache_dir else default_cache_dir()
    cache = FeatureCache(cache_folder(root, dataset, str(key)))
    cache.fill(
        method,
        dataset,
        batch_size=config.data.eval_batch_size or config.data.batch_size,
        num_workers=config.data.num_workers,
        device=ctx.device,
        autocast=autocast_factory(config.optim.amp, ctx.device),
        progress=ctx.is_main and config.run.progress,
    )
    return CachedDataset(cache, class_names_of(dataset), sample_paths(dataset))


def _check_resume_config(config: ExperimentConfig, out_dir: Path) -> None:
    saved_path = out_dir / "config.yaml"
    if not saved_path.is_file():
        return
    saved = config_from_dict(load_yaml(saved_path.read_text()))
    changed = config_differences(saved, config)
    if changed:
        print(
            f"warning: resuming with a config that differs from {saved_path} in: "
            f"{', '.join(changed)}",
            file=sys.stderr,
        )


def _resume_target(resume: str | Path | bool | None, out_dir: Path) -> Path | None:
    if resume is None or resume is False:
        return None
    if resume is True:
        return resolve_checkpoint(out_dir / "checkpoints")
    return resolve_checkpoint(resume)


def train_experiment(
    config: ExperimentConfig,
    *,
    resume: str | Path | bool | None = None,
    callbacks: Sequence[Callback] = (),
) -> dict[str, Any]:
    """Train, choose, test, plot and export as the module docstring describes.

    Args:
        config: the experiment.
        resume: True for ``run.out_dir``'s latest checkpoint, or a checkpoint path.
        callbacks: called after every optimiser step with the :class:`Trainer`.

    Returns:
        ``{"status", "out_dir", "model_dir", "val", "test", "best"}``.
    """
    validate(config)
    started_here = not D.get_world_size() > 1
    ctx = D.init_distributed(config.run.device)
    try:
        return _train(config, ctx, resume, callbacks)
    finally:
        if started_here and ctx.distributed:
            D.close_distributed()


def _train(config, ctx, resume, callbacks) -> dict[str, Any]:
    set_deterministic(config.run.deterministic)
    seed_everything(config.run.seed)
    out_dir = Path(config.run.out_dir)
    target = _resume_target(resume, out_dir)
    if ctx.is_main:
        out_dir.mkdir(parents=True, exist_ok=True)
        if target is not None:
            _check_resume_config(config, out_dir)
        save_config(config, out_dir / "config.yaml")
    splits = load_splits(config)
    method = build_experiment_method(config, splits.class_names).to(ctx.device)
    cache_train, cache_eval = use_feature_cache(config, method, splits.train)
    train_data = prepare_split(splits.train, method, config, ctx, cache_train)
    val_data = prepare_split(splits.val, method, config, ctx, cache_eval) if splits.val else None
    seed_everything(config.run.seed + ctx.rank)  # distinct dropout per rank, same every run
    log = RunLog(out_dir, enabled=ctx.is_main, tensorboard=config.run.tensorboard)
    try:
        evaluate = None
        if val_data is not None:
            evaluate = _split_evaluator(val_data, splits.class_names, config, ctx)
        elif ctx.is_main:
            print(
                "no validation split (data.val_split): the last checkpoint becomes the model; "
                "the test split is never used to choose",
                file=sys.stderr,
            )
        trainer = Trainer(
            method, train_data, config, ctx, log=log, evaluate=evaluate, callbacks=callbacks,
            class_names=splits.class_names,
        )  # fmt: skip
        status = trainer.fit(target)
        chosen = _load_chosen(method, out_dir / "checkpoints")
        results = {
            "status": status,
            "out_dir": str(out_dir),
            "best": trainer.state.best,
            "checkpoint": str(chosen),
            "val": summary(trainer.last_metrics),
        }
        test_metrics, predictions = None, None
        if splits.test is not None:
            test_data = prepare_split(splits.test, method, config, ctx, cache_eval)
            test_metrics, predictions = _evaluate_test(method, test_data, splits, config, ctx)
            results["test"] = summary(test_metrics)
        if ctx.is_main:
            results["model_dir"] = str(
                _finish(method, config, splits, out_dir, results, test_metrics, predictions, log)
            )
        D.barrier()
        return results
    finally:
        log.close()


def _split_evaluator(data: Dataset, names: list[str], config: ExperimentConfig, ctx):
    def evaluate(method: nn.Module) -> dict[str, Any]:
        metrics, _ = evaluate_dataset(
            method,
            data,
            names,
            batch_size=config.data.eval_batch_size or config.data.batch_size,
            num_workers=config.data.num_workers,
            device=ctx.device,
            autocast=autocast_factory(config.optim.amp, ctx.device),
            indexed=True,
        )
        return summary(metrics)

    return evaluate


def _load_chosen(method: nn.Module, checkpoints: Path) -> Path:
    """Load the best checkpoint's weights (the latest when there is no best); returns it."""
    pointer = read_pointer(checkpoints, "best") or read_pointer(checkpoints, "latest")
    if pointer is None:
        raise RuntimeError(f"{checkpoints}: training wrote no checkpoint")
    folder = checkpoints / str(pointer["dir"])
    load_model_state(method, load_weights(folder / MODEL_FILE), folder / MODEL_FILE)
    return folder


def _evaluate_test(method, data, splits: Splits, config: ExperimentConfig, ctx):
    embed = config.run.plots and config.run.tsne and hasattr(method, "embed")
    kwargs = dict(
        batch_size=config.data.eval_batch_size or config.data.batch_size,
        num_workers=config.data.num_workers,
        device=ctx.device,
        autocast=autocast_factory(config.optim.amp, ctx.device),
        indexed=True,
        progress=ctx.is_main and config.run.progress,
    )
    try:
        return evaluate_dataset(method, data, splits.class_names, embed=embed, **kwargs)
    except NotImplementedError:  # embed() not offered: evaluate without embeddings
        return evaluate_dataset(method, data, splits.class_names, **kwargs)


def modalities_of(dataset: Dataset) -> list[str]:
    """Which of ``rgb`` / ``events`` the dataset's samples carry (one sample is loaded)."""
    sample = dataset[0]
    return [key for key in ("rgb", "events") if key in sample]


def _finish(
    method, config, splits: Splits, out_dir: Path, results, test_metrics, predictions, log: RunLog
) -> Path:
    """Main process: metrics.json, per-class table, plots, the exported model folder."""
    log.flush()
    metrics = {"val": results["val"], "best": results["best"], "status": results["status"]}
    metrics["code"] = code_identity()
    if test_metrics is not None:
        metrics["test"] = test_metrics
        (out_dir / "per_class.md").write_text(per_class_table(test_metrics) + "\n")
    atomic_write_text(out_dir / "metrics.json", json.dumps(metrics, indent=1))
    if config.run.plots:
        write_plots(
            out_dir / "plots",
            out_dir / "log.jsonl",
            test_metrics,
            predictions,
            splits.test,
            splits.class_names,
            seed=config.run.seed,
        )
    preprocessing = preprocessing_of(config, splits.train, modalities_of(splits.train))
    summary_metrics = {k: v for k, v in metrics.items() if k != "test"}
    if test_metrics is not None:
        summary_metrics["test"] = summary(test_metrics)
    return export_pretrained(
        method,
        config,
        splits.class_names,
        preprocessing,
        out_dir / "model",
        metrics=summary_metrics,
    )


def write_plots(
    folder: Path,
    log_path: Path | None,
    metrics: dict[str, Any] | None,
    predictions: Predictions | None,
    dataset: Dataset | None,
    class_names: list[str],
    *,
    seed: int = 0,
    grid_samples: int = 6,
) -> list[Path]:
    """Every plot that the available records allow; returns the files written."""
    from evclip.engine import plots

    written = []
    if log_path is not None and read_log(log_path, "train"):
        written.append(
            plots.plot_training_curves(
                read_log(log_path, "train"), read_log(log_path, "val"), folder / "curves.png"
            )
        )
    if metrics is not None:
        written.append(
            plots.plot_confusion(
                np.asarray(metrics["confusion"]), class_names, folder / "confusion.png"
            )
        )
    if predictions is not None and predictions.embeddings is not None:
        path = plots.plot_tsne(
            predictions.embeddings, predictions.labels, class_names, folder / "tsne.png", seed=seed
        )
        written += [path] if path is not None else []
    if predictions is not None and dataset is not None and len(predictions.indices):
        n = len(predictions.indices)
        chosen = np.linspace(0, n - 1, min(grid_samples, n)).round().astype(int)
        rows = [int(i) for i in np.unique(chosen)]
        probs = torch.from_numpy(predictions.logits[rows]).float().softmax(-1).numpy()
        best = [np.argsort(-p, kind="stable")[:5] for p in probs]
        top = [[(class_names[c], float(p[c])) for c in b] for p, b in zip(probs, best, strict=True)]
        samples = [dataset[int(predictions.indices[r])] for r in rows]
        written.append(plots.plot_prediction_grid(samples, top, folder / "predictions.png"))
    return written
