"""Self-describing model folders: what a finished run exports and what ``from_pretrained`` reads.

A model folder holds everything needed to rebuild and use the model without the original
config file::

    config.yaml          the experiment (method name and builder arguments, data settings)
    class_names.json     the class names, indexed by logit
    preprocessing.json   frames, image size, event representation and slicing, modalities
    model.safetensors    the method's state_dict
    metrics.json         (optional) the run's validation/test results

A method whose builder needs files to rebuild its architecture offline (for example a CLIP
configuration) may define ``export_pretrained(folder) -> dict[str, str]``: it writes those files
into ``folder`` and returns builder arguments whose values are paths relative to ``folder``;
they replace the original arguments and are resolved against the folder when loading.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from evclip.engine.build import build_method
from evclip.engine.checkpoint import (
    CheckpointError,
    fsync_dir,
    load_model_state,
    load_weights,
    read_json,
    save_weights,
)
from evclip.engine.config import (
    ExperimentConfig,
    config_from_dict,
    config_to_dict,
    image_size_of,
    load_yaml,
)

FORMAT = 1
REQUIRED = ("config.yaml", "class_names.json", "preprocessing.json", "model.safetensors")


@dataclass
class Pretrained:
    """A loaded model folder: the ready method plus what describes its inputs and outputs."""

    method: nn.Module
    config: ExperimentConfig
    class_names: list[str]
    preprocessing: dict[str, Any]
    folder: Path


def preprocessing_of(config: ExperimentConfig, dataset: Any, modalities: list[str]) -> dict:
    """What turns raw files into this model's inputs (``preprocessing.json``)."""
    data = config.data
    sensor = getattr(dataset, "sensor_size", None)
    return {
        "format": FORMAT,
        "dataset": data.dataset,
        "num_frames": data.num_frames,
        "image_size": image_size_of(data),
        "representation": getattr(dataset, "representation", data.representation),
        "slicing": getattr(dataset, "slicing", data.slicing),
        "events_per_window": getattr(dataset, "events_per_window", data.events_per_window),
        "sensor_size": list(sensor) if sensor is not None else None,
        "modalities": sorted(modalities),
        "dataset_options": data.options,
    }


def is_pretrained_folder(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is a model folder written by :func:`export_pretrained`."""
    return all((Path(path) / name).is_file() for name in REQUIRED)


def export_pretrained(
    method: nn.Module,
    config: ExperimentConfig,
    class_names: list[str],
    preprocessing: dict[str, Any],
    folder: str | os.PathLike[str],
    *,
    metrics: dict[str, Any] | None = None,
) -> Path:
    """Write a model folder atomically (a temporary folder renamed into place)."""
    import yaml

    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = folder.with_name(f".tmp-{folder.name}-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        raw = config_to_dict(config)
        hook = getattr(method, "export_pretrained", None)
        relative = dict(hook(tmp)) if hook is not None else {}
        raw["method"]["args"].update(relative)
        (tmp / "config.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
        (tmp / "pretrained.json").write_text(
            json.dumps({"format": FORMAT, "relative_args": sorted(relative)}, indent=1)
        )
        (tmp / "class_names.json").write_text(json.dumps(list(class_names), indent=1))
        (tmp / "preprocessing.json").write_text(json.dumps(preprocessing, indent=1))
        if metrics is not None:
            (tmp / "metrics.json").write_text(json.dumps(metrics, indent=1))
        save_weights(method.state_dict(), tmp / "model.safetensors")
        fsync_dir(tmp)
        if folder.exists():
            old = folder.with_name(f".old-{folder.name}-{os.getpid()}")
            os.replace(folder, old)
            os.replace(tmp, folder)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, folder)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return folder


def _local_folder(path_or_hub_id: str | os.PathLike[str]) -> Path:
    """A local model folder: ``path`` itself, or a Hugging Face Hub snapshot of a repo id."""
    path = Path(path_or_hub_id)
    if path.exists():
        if not path.is_dir():
            raise CheckpointError(f"{path}: a model folder is expected, not a file")
        return path
    text = str(path_or_hub_id)
    if text.count("/") != 1 or text.startswith((".", "/")):
        raise CheckpointError(f"{path}: model folder not found")
    try:
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(repo_id=text))
    except Exception as err:  # offline, unknown repo, no permission: all the same to the user
        raise CheckpointError(
            f"{text}: not a local folder and could not be fetched from the Hugging Face Hub "
            f"({type(err).__name__}: {err})"
        ) from None


def load_pretrained(
    path_or_hub_id: str | os.PathLike[str], *, device: str | torch.device | None = None
) -> Pretrained:
    """Rebuild the method of a model folder, set its classes and load its weights.

    Raises:
        CheckpointError: not a model folder, a file missing or corrupt, or weights that do not
            fit the rebuilt method.
    """
    folder = _local_folder(path_or_hub_id)
    missing = [name for name in REQUIRED if not (folder / name).is_file()]
    if missing:
        raise CheckpointError(f"{folder}: not a model folder (missing {', '.join(missing)})")
    try:
        raw = load_yaml((folder / "config.yaml").read_text())
    except Exception as err:
        raise CheckpointError(f"{folder / 'config.yaml'}: unreadable: {err}") from None
    config = config_from_dict(raw)
    info = read_json(folder / "pretrained.json") if (folder / "pretrained.json").exists() else {}
    args = dict(config.method.args)
    for key in info.get("relative_args", []):
        args[key] = str(folder / str(args[key]))
    names = _read_names(folder / "class_names.json")
    preprocessing = read_json(folder / "preprocessing.json")
    defaults = {"num_frames": config.data.num_frames, "class_names": names}
    method = build_method(config.method.name, args, defaults=defaults)
    method.set_classes(names)
    weights = folder / "model.safetensors"
    load_model_state(method, load_weights(weights), weights)
    if device is not None:
        method.to(device)
    method.eval()
    return Pretrained(method, config, names, preprocessing, folder)


def from_pretrained(
    path_or_hub_id: str | os.PathLike[str], *, device: str | torch.device | None = None
) -> nn.Module:
    """The ready-to-use method of a model folder (or Hub repo id), in eval mode.

    >>> model = from_pretrained("runs/safe_poker/model")  # doctest: +SKIP
    >>> logits = model.predict(batch)  # doctest: +SKIP
    """
    return load_pretrained(path_or_hub_id, device=device).method


def _read_names(path: Path) -> list[str]:
    if not path.is_file():
        raise CheckpointError(f"{path}: not found")
    try:
        names = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise CheckpointError(f"{path}: corrupt JSON: {err}") from None
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise CheckpointError(f"{path}: expected a JSON list of class names")
    return names
