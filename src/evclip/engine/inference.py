"""Using a trained (or training-free) model: evaluate a split, predict one recording.

What ``evclip eval`` and ``evclip predict`` call. A model comes from

- a model folder (``<run>/model``, or a run folder holding one): rebuilt from its own
  config, no original config file needed;
- a config plus a checkpoint (a checkpoint folder, a run's ``checkpoints`` folder, or a run
  folder; a run's best checkpoint is preferred to its latest);
- a method name and builder arguments, for training-free methods.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from evclip.engine import distributed as D
from evclip.engine.build import autocast_factory, build_method, builder_arguments, method_builder
from evclip.engine.checkpoint import (
    MODEL_FILE,
    CheckpointError,
    load_model_state,
    load_weights,
    read_json,
    read_pointer,
    resolve_checkpoint,
)
from evclip.engine.config import (
    ConfigError,
    ExperimentConfig,
    apply_overrides,
    config_from_dict,
    config_to_dict,
    load_config,
    load_yaml,
    validate,
)
from evclip.engine.data import build_dataset, class_names_of
from evclip.engine.evaluate import Predictions, evaluate_dataset
from evclip.engine.pretrained import is_pretrained_folder, load_pretrained

MODEL_ARGUMENT_NAMES = ("model", "clip", "backbone")


@dataclass
class LoadedModel:
    """A ready method and what describes it."""

    method: nn.Module
    config: ExperimentConfig
    class_names: list[str] | None  # None: take the evaluated dataset's classes
    preprocessing: dict[str, Any] | None
    source: str


def _model_folder(path: Path) -> Path | None:
    """``path`` or ``path/model`` when it is a model folder."""
    for candidate in (path, path / "model"):
        if is_pretrained_folder(candidate):
            return candidate
    return None


def _run_checkpoint(path: Path) -> Path:
    """A checkpoint folder from ``path``; a run's best checkpoint before its latest."""
    for root in (path, path / "checkpoints"):
        best = read_pointer(root, "best") if root.is_dir() else None
        if best is not None:
            return resolve_checkpoint(root, "best")
    return resolve_checkpoint(path)


def _run_config_of(checkpoint: Path) -> Path:
    """The ``config.yaml`` of the run a checkpoint folder belongs to."""
    for folder in (checkpoint, *checkpoint.parents[:3]):
        if (folder / "config.yaml").is_file():
            return folder / "config.yaml"
    raise CheckpointError(f"{checkpoint}: no config.yaml in its run folder; pass a config")


def load_model(
    source: str | None,
    checkpoint: str | None,
    overrides: Sequence[str] = (),
    *,
    device: torch.device | str = "cpu",
) -> LoadedModel:
    """A trained model from a model/run folder, or from a config plus a checkpoint.

    Raises:
        CheckpointError: nothing usable at the given paths, or weights that do not fit.
        ConfigError: a bad config or override.
    """
    target = Path(checkpoint if checkpoint is not None else str(source))
    folder = _model_folder(target) if target.exists() else None
    if folder is not None and (checkpoint is None or source is None):
        loaded = load_pretrained(folder, device=device)
        config = config_from_dict(apply_overrides(config_to_dict(loaded.config), overrides))
        return LoadedModel(
            loaded.method, config, loaded.class_names, loaded.preprocessing, str(folder)
        )
    if checkpoint is None:
        if not target.exists():
            raise CheckpointError(f"{target}: no such run or model folder")
        raise CheckpointError(f"{source}: not a model or run folder; pass --checkpoint PATH")
    ckpt_dir = _run_checkpoint(Path(checkpoint)) if folder is None else folder
    if source is not None:
        config = load_config(source, overrides)
    else:
        raw = load_yaml(_run_config_of(ckpt_dir).read_text())
        config = config_from_dict(apply_overrides(raw, overrides))
    validate(config)
    names = _checkpoint_class_names(ckpt_dir)
    if names is None:
        names = class_names_of(
            build_dataset(config.data, config.data.train_split, train=False, seed=config.run.seed)
        )
    defaults = {"num_frames": config.data.num_frames, "class_names": names}
    method = build_method(config.method.name, config.method.args, defaults=defaults)
    method.set_classes(names)
    weights = ckpt_dir / MODEL_FILE
    load_model_state(method, load_weights(weights), weights)
    method.to(device).eval()
    return LoadedModel(method, config, names, None, str(ckpt_dir))


def _checkpoint_class_names(folder: Path) -> list[str] | None:
    """Class names recorded with a checkpoint (``meta.json``) or a model folder."""
    import json

    if (folder / "class_names.json").is_file():
        try:
            return [str(n) for n in json.loads((folder / "class_names.json").read_text())]
        except (json.JSONDecodeError, TypeError) as err:
            raise CheckpointError(f"{folder / 'class_names.json'}: corrupt: {err}") from None
    if (folder / "meta.json").is_file():
        names = read_json(folder / "meta.json").get("class_names")
        return [str(n) for n in names] if names else None
    return None


def training_free_model(
    method: str,
    args: dict[str, Any],
    *,
    model: str | None = None,
    class_names: Sequence[str] | None = None,
    device: torch.device | str = "cpu",
) -> nn.Module:
    """Build a method that needs no training; ``model`` goes to its backbone argument
    (the first of ``model``, ``clip``, ``backbone`` that its builder takes), ``class_names``
    to a builder that takes them."""
    args = dict(args)
    if model is not None:
        accepted, _ = builder_arguments(method_builder(method))
        name = next((n for n in MODEL_ARGUMENT_NAMES if n in accepted), None)
        if name is None:
            raise ConfigError(
                f"--model: method {method!r} takes none of {', '.join(MODEL_ARGUMENT_NAMES)}"
            )
        args[name] = model
    defaults = {"class_names": list(class_names)} if class_names is not None else {}
    built = build_method(method, args, defaults=defaults)
    return built.to(device).eval()


def split_overrides(pairs: Sequence[str]) -> tuple[dict[str, Any], list[str]]:
    """``key=value`` pairs: plain keys are method arguments, dotted keys config overrides."""
    from evclip.engine.config import parse_override

    args: dict[str, Any] = {}
    overrides: list[str] = []
    for pair in pairs:
        keys, value = parse_override(pair)
        if len(keys) == 1:
            args[keys[0]] = value
        else:
            overrides.append(pair)
    return args, overrides


def evaluate_split(
    method: nn.Module,
    config: ExperimentConfig,
    split: str,
    *,
    class_names: list[str] | None = None,
    embed: bool = False,
    progress: bool = False,
    dataset: Any = None,
) -> tuple[dict[str, Any], Predictions, Any]:
    """Evaluate ``method`` on ``split`` of the configured dataset (sharded under torchrun).

    With ``class_names`` the dataset must have the same classes; without, the method is set to
    the dataset's classes (training-free methods). ``dataset`` skips building the split.
    Returns (metrics, predictions, dataset).
    """
    ctx = D.init_distributed(config.run.device)
    method.to(ctx.device)
    if dataset is None:
        dataset = build_dataset(config.data, split, train=False, seed=config.run.seed)
    names = class_names_of(dataset)
    if class_names is None:
        method.set_classes(names)
    elif names != list(class_names):
        raise ConfigError(
            f"the {split} split of {config.data.dataset} has {len(names)} classes that differ "
            f"from the model's {len(class_names)}; evaluate on data with the model's classes"
        )
    metrics, predictions = evaluate_dataset(
        method,
        dataset,
        names,
        batch_size=config.data.eval_batch_size or config.data.batch_size,
        num_workers=config.data.num_workers,
        device=ctx.device,
        autocast=autocast_factory(config.optim.amp, ctx.device),
        embed=embed,
        progress=progress and ctx.is_main,
    )
    return metrics, predictions, dataset


# -- one recording -----------------------------------------------------------------------------


def load_recording(
    preprocessing: dict[str, Any],
    *,
    rgb: str | Path | None = None,
    events: str | Path | None = None,
) -> dict[str, Any]:
    """One sample as a batch of one, made the way the datasets make evaluation samples.

    Args:
        preprocessing: a model folder's ``preprocessing.json``.
        rgb: a folder of RGB frames (PNG/JPG, sorted naturally).
        events: an event file (any format of ``evclip.io``), or a folder of event images.

    Returns:
        ``{"rgb"?: uint8 [1, T, 3, H, W], "events"?: uint8 [1, T, 3, H, W], "path": [...]}``.
    """
    from evclip.datasets.frames import (
        image_files,
        load_frames,
        positions_to_indices,
        segment_positions,
        stream_event_images,
        to_tensor,
    )

    needed = _needed_modalities(preprocessing, {"rgb": rgb, "events": events})
    frames = int(preprocessing["num_frames"])
    size = preprocessing.get("image_size")
    size = tuple(size) if size else None
    positions = segment_positions(frames, train=False)
    batch: dict[str, Any] = {"path": [str(events or rgb)]}

    def folder_frames(folder: Path) -> torch.Tensor:
        files = image_files(folder)
        return to_tensor(load_frames(files, positions_to_indices(positions, len(files))), size)

    if "rgb" in needed:
        folder = Path(rgb)  # type: ignore[arg-type]
        if not folder.is_dir():
            raise FileNotFoundError(f"{folder}: RGB frames folder not found")
        batch["rgb"] = folder_frames(folder)[None]
    if "events" in needed:
        path = Path(events)  # type: ignore[arg-type]
        if path.is_dir():
            batch["events"] = folder_frames(path)[None]
        else:
            images = stream_event_images(
                _read_stream(path, preprocessing.get("sensor_size")),
                frames,
                preprocessing.get("representation") or "eclip_rgb",
                slicing=preprocessing.get("slicing") or "time",
                events_per_window=preprocessing.get("events_per_window"),
                positions=positions,
            )
            batch["events"] = to_tensor(images, size)[None]
    return batch


def _needed_modalities(preprocessing: dict[str, Any], given: dict[str, Any]) -> set[str]:
    """The modalities the model reads; an error when one is not given, a warning for extras."""
    needed = set(preprocessing.get("modalities") or ["rgb", "events"])
    missing = sorted(m for m in needed if given[m] is None)
    if missing:
        flags = " and ".join(f"--{m} PATH" for m in missing)
        raise ValueError(f"this model reads {' and '.join(sorted(needed))}; pass {flags}")
    for name in sorted(set(given) - needed):
        if given[name] is not None:
            print(f"warning: this model does not read {name}; ignoring {given[name]}",
                  file=sys.stderr)  # fmt: skip
    return needed


def _read_stream(path: Path, sensor_size: Sequence[int] | None):
    from evclip.io import read_events

    if sensor_size is None:
        return read_events(path)
    try:
        return read_events(path, sensor_size=(int(sensor_size[0]), int(sensor_size[1])))
    except ValueError:
        return read_events(path)  # the file's own size when the model's does not fit it


def top_classes(logits: torch.Tensor, names: Sequence[str], k: int = 5) -> list[dict[str, Any]]:
    """The ``k`` most likely classes of one row of logits, with softmax probabilities."""
    probs = logits.detach().float().reshape(-1).softmax(-1).cpu().numpy()
    order = np.argsort(-probs, kind="stable")[: min(k, len(names))]
    return [{"class": int(c), "name": names[c], "probability": float(probs[c])} for c in order]


def preprocessing_for(loaded: LoadedModel) -> dict[str, Any]:
    """The model folder's preprocessing, or one rebuilt from the config of a checkpoint."""
    if loaded.preprocessing is not None:
        return loaded.preprocessing
    from evclip.engine.config import image_size_of

    data = loaded.config.data
    return {
        "num_frames": data.num_frames,
        "image_size": image_size_of(data),
        "representation": data.representation,
        "slicing": data.slicing,
        "events_per_window": data.events_per_window,
        "sensor_size": data.options.get("sensor_size"),
        "modalities": None,
    }


def read_preprocessing(folder: Path) -> dict[str, Any]:
    """``preprocessing.json`` of a model folder."""
    return read_json(folder / "preprocessing.json")
