"""Experiment configuration: dataclasses, YAML files and ``key.sub=value`` overrides.

An experiment file has four sections::

    method: {name: safe, args: {clip: openai/clip-vit-base-patch16, num_frames: 5}}
    data:   {dataset: poker, root: /data/PokerEvent, num_frames: 5, batch_size: 16}
    optim:  {lr: 8.0e-6, weight_decay: 1.0e-4, epochs: 50, schedule: cosine}
    run:    {out_dir: runs/safe_poker, seed: 0, metric: top1}

A file may start with ``inherit: other.yaml`` (a path beside it or a shipped name) and then
only say what differs. ``method.args`` go to the method's builder as keyword arguments and
``data.options`` to the dataset reader; every other key is checked here, so a misspelt key or a
value of the wrong type is an error naming the key and what is allowed. Values given on the
command line are parsed as YAML (``optim.lr=1e-4``, ``run.max_steps=10``,
``data.image_size=[224,224]``, ``optim.grad_clip=null``).
"""

from __future__ import annotations

import copy
import dataclasses
import re
import types
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml

AMP_MODES = ("none", "bf16", "fp16")
METRICS = ("top1", "top5", "mean_per_class")


class ConfigError(ValueError):
    """A configuration key or value is wrong; the message names the key and what is allowed."""


@dataclass
class MethodConfig:
    """Which registered method to build and the keyword arguments of its builder."""

    name: str = ""
    args: dict[str, Any] = field(default_factory=dict)


@dataclass
class DataConfig:
    """Dataset, splits and loader settings.

    ``representation``, ``slicing``, ``events_per_window`` and ``image_size`` are passed to the
    reader only when set (None keeps the reader's default); ``options`` holds anything else the
    reader takes (``source``, ``with_rgb``, ``sensor_size``, ...). ``random_frames`` chooses
    random points inside the T segments when training (False: segment centres, deterministic
    inputs, which lets the feature cache serve training too).
    """

    dataset: str = ""
    root: str | None = None
    train_split: str = "train"
    val_split: str | None = None
    test_split: str | None = "test"
    num_frames: int = 5
    image_size: list[int] | None = None
    representation: str | None = None
    slicing: str | None = None
    events_per_window: int | None = None
    random_frames: bool = True
    batch_size: int = 16
    eval_batch_size: int | None = None
    num_workers: int = 0
    options: dict[str, Any] = field(default_factory=dict)


@dataclass
class OptimConfig:
    """AdamW, warmup + cosine decay per optimiser step, clipping, accumulation, AMP.

    ``backbone_lr`` applies to the parameters a method lists under ``"backbone"`` in
    ``parameter_groups()`` (None: same as ``lr``). Warmup is ``warmup_steps`` optimiser steps,
    or ``warmup_epochs`` epochs' worth when ``warmup_steps`` is 0.
    """

    lr: float = 1e-4
    backbone_lr: float | None = None
    weight_decay: float = 0.0
    betas: list[float] = field(default_factory=lambda: [0.9, 0.999])
    eps: float = 1e-8
    epochs: int = 1
    schedule: Literal["cosine", "constant"] = "cosine"
    warmup_steps: int = 0
    warmup_epochs: float = 0.0
    min_lr_ratio: float = 0.0
    grad_clip: float | None = None
    accumulate: int = 1
    amp: Literal["none", "bf16", "fp16"] = "none"


@dataclass
class RunConfig:
    """Where results go, seeding, evaluation, checkpoints, logging.

    ``save_every`` is in optimiser steps (0: at the end of each epoch only); ``eval_every`` in
    epochs (0: only after the last). ``metric`` picks the best checkpoint on the validation
    split. ``feature_cache``: ``auto`` uses it when the method can be cached and training inputs
    are deterministic, ``on`` insists, ``off`` never.
    """

    out_dir: str = "runs/default"
    seed: int = 0
    device: str = "auto"
    eval_every: int = 1
    save_every: int = 0
    keep_last: int = 2
    metric: Literal["top1", "top5", "mean_per_class"] = "top1"
    log_every: int = 10
    max_steps: int | None = None
    feature_cache: Literal["auto", "on", "off"] = "auto"
    cache_dir: str | None = None
    plots: bool = True
    tsne: bool = True
    tensorboard: bool = True
    progress: bool = True
    deterministic: bool = True
    find_unused_parameters: bool = False


@dataclass
class ExperimentConfig:
    """One experiment: the four sections above."""

    method: MethodConfig = field(default_factory=MethodConfig)
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    run: RunConfig = field(default_factory=RunConfig)


# keys whose values are free-form dictionaries (checked by the builder / dataset reader)
FREE_KEYS = {("method", "args"), ("data", "options")}


def shipped_configs() -> list[str]:
    """Names of the experiment files shipped in ``evclip/configs`` (without ``.yaml``)."""
    folder = resources.files("evclip") / "configs"
    if not folder.is_dir():
        return []
    return sorted(p.name[: -len(".yaml")] for p in folder.iterdir() if p.name.endswith(".yaml"))


def resolve_config_path(source: str | Path, beside: Path | None = None) -> Path:
    """A config file path from a path, a path beside another config, or a shipped name."""
    path = Path(source)
    candidates = [path] if beside is None else [beside / path, path]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    name = path.name[: -len(".yaml")] if path.name.endswith(".yaml") else path.name
    shipped = resources.files("evclip") / "configs" / f"{name}.yaml"
    if shipped.is_file():
        return Path(str(shipped))
    known = ", ".join(shipped_configs()) or "none"
    raise FileNotFoundError(f"{source}: no such config file or shipped config (shipped: {known})")


def read_yaml_config(path: Path, _seen: tuple[Path, ...] = ()) -> dict[str, Any]:
    """Read an experiment file, following ``inherit:``; returns the merged raw dictionary."""
    if path.resolve() in _seen:
        raise ConfigError(f"{path}: 'inherit' loops back on itself")
    try:
        raw = load_yaml(path.read_text()) or {}
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML: {err}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping of sections, got {type(raw).__name__}")
    parent = raw.pop("inherit", None)
    if parent is None:
        return raw
    base_path = resolve_config_path(str(parent), beside=path.parent)
    base = read_yaml_config(base_path, (*_seen, path.resolve()))
    return deep_merge(base, raw)


def deep_merge(base: Mapping[str, Any], update: Mapping[str, Any]) -> dict[str, Any]:
    """A new dict: ``base`` with ``update`` merged in, recursing into nested mappings."""
    out = copy.deepcopy(dict(base))
    for key, value in update.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def parse_override(text: str) -> tuple[list[str], Any]:
    """``"optim.lr=1e-4"`` -> (["optim", "lr"], 0.0001); the value is parsed as YAML."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"override {text!r} is not of the form key.sub=value")
    parts = key.strip().split(".")
    if any(not p for p in parts):
        raise ConfigError(f"override {text!r}: empty part in key {key!r}")
    try:
        parsed = load_yaml(value) if value.strip() else ""
    except yaml.YAMLError as err:
        raise ConfigError(f"override {text!r}: value is not valid YAML: {err}") from None
    return parts, parsed


class _Loader(yaml.SafeLoader):
    """YAML's safe loader with YAML 1.2's plain scalars: ``1e-4`` (no dot) is a float, as people
    write it, and only true/false are booleans (``on``/``off``/``yes``/``no`` stay strings, so
    ``run.feature_cache=off`` means "off")."""


_BOOL = "tag:yaml.org,2002:bool"
_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != _BOOL]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    _BOOL, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)[eE][-+]?[0-9]+$"),
    list("-+0123456789."),
)


def load_yaml(text: str) -> Any:
    """Parse YAML text safely (plain data only), reading ``1e-4`` as a float."""
    return yaml.load(text, Loader=_Loader)  # noqa: S506 - a SafeLoader subclass


def apply_overrides(raw: dict[str, Any], overrides: Sequence[str]) -> dict[str, Any]:
    """A copy of ``raw`` with every ``key.sub=value`` override set."""
    out = copy.deepcopy(raw)
    for text in overrides:
        parts, value = parse_override(text)
        node = out
        for part in parts[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ConfigError(f"override {text!r}: {part!r} is a value, not a section")
            node = child
        node[parts[-1]] = value
    return out


def load_config(source: str | Path | None, overrides: Sequence[str] = ()) -> ExperimentConfig:
    """Read an experiment file (path or shipped name) and apply overrides.

    Args:
        source: a YAML path, the name of a shipped config, or None for the defaults.
        overrides: ``key.sub=value`` strings.

    Raises:
        FileNotFoundError: no such file or shipped config.
        ConfigError: an unknown key or a value of the wrong type.
    """
    raw = {} if source is None else read_yaml_config(resolve_config_path(source))
    return config_from_dict(apply_overrides(raw, overrides))


def config_from_dict(raw: Mapping[str, Any]) -> ExperimentConfig:
    """Build and check an :class:`ExperimentConfig` from a raw dictionary."""
    return _build(ExperimentConfig, raw, ())


def config_to_dict(config: ExperimentConfig) -> dict[str, Any]:
    """Plain dictionary of a config (what :func:`save_config` writes)."""
    return dataclasses.asdict(config)


def save_config(config: ExperimentConfig, path: str | Path) -> None:
    """Write the resolved config as YAML."""
    text = yaml.safe_dump(config_to_dict(config), sort_keys=False)
    Path(path).write_text(text)


def config_differences(a: ExperimentConfig, b: ExperimentConfig) -> list[str]:
    """Dotted keys whose values differ between two configs."""
    return _diff(config_to_dict(a), config_to_dict(b), "")


def _diff(a: Any, b: Any, prefix: str) -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        out: list[str] = []
        for key in sorted(set(a) | set(b), key=str):
            out += _diff(a.get(key), b.get(key), f"{prefix}{key}.")
        return out
    return [] if a == b else [prefix.rstrip(".")]


def _build(cls: type, raw: Mapping[str, Any] | None, path: tuple[str, ...]) -> Any:
    """Instantiate dataclass ``cls`` from ``raw``, checking every key and value."""
    where = ".".join(path) or "config"
    if raw is None:
        raw = {}
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{where}: expected a mapping, got {raw!r}")
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    unknown = [k for k in raw if k not in names]
    if unknown:
        prefix = f"{where}." if path else ""
        raise ConfigError(
            f"unknown config key {prefix}{unknown[0]}; allowed keys of {where}: {', '.join(names)}"
        )
    values = {}
    for name in names:
        if name not in raw:
            continue
        key = (*path, name)
        hint = hints[name]
        if dataclasses.is_dataclass(hint):
            values[name] = _build(hint, raw[name], key)
        else:
            values[name] = check_value(".".join(key), raw[name], hint, free=key in FREE_KEYS)
    return cls(**values)


def check_value(key: str, value: Any, hint: Any, *, free: bool = False) -> Any:
    """Return ``value`` converted to type ``hint``, or raise a :class:`ConfigError` naming ``key``.

    Understands ``int``, ``float`` (ints accepted), ``bool``, ``str``, ``X | None``,
    ``list[X]``, ``dict[str, Any]`` and ``Literal[...]``.
    """
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return check_value(key, value, inner[0], free=free)
    if origin is Literal:
        if value not in args:
            allowed = ", ".join(repr(a) for a in args)
            raise ConfigError(f"config key {key}: {value!r} is not allowed; allowed: {allowed}")
        return value
    if origin is list:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            value = [value]  # image_size: 224 -> [224]
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"config key {key}: expected a list, got {value!r}")
        return [check_value(f"{key}[{i}]", v, args[0]) for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, Mapping):
            raise ConfigError(f"config key {key}: expected a mapping, got {value!r}")
        return copy.deepcopy(dict(value))
    return _check_scalar(key, value, hint)


def _check_scalar(key: str, value: Any, hint: Any) -> Any:
    if hint is Any:
        return value
    if hint is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"config key {key}: expected true or false, got {value!r}")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"config key {key}: expected an integer, got {value!r}")
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"config key {key}: expected a number, got {value!r}")
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            raise ConfigError(f"config key {key}: expected a string, got {value!r}")
        return value
    raise TypeError(f"config key {key}: unsupported annotation {hint!r}")


def validate(config: ExperimentConfig) -> None:
    """Cross-field checks that types alone cannot express; raises :class:`ConfigError`."""
    checks = [
        (config.method.name, "method.name is required (a registered method, e.g. safe)"),
        (config.data.dataset, "data.dataset is required (a registered dataset name)"),
        (config.data.batch_size >= 1, "data.batch_size must be at least 1"),
        (config.data.num_frames >= 1, "data.num_frames must be at least 1"),
        (config.data.num_workers >= 0, "data.num_workers must be 0 or more"),
        (config.optim.epochs >= 1, "optim.epochs must be at least 1"),
        (config.optim.accumulate >= 1, "optim.accumulate must be at least 1"),
        (config.optim.lr > 0, "optim.lr must be positive"),
        (len(config.optim.betas) == 2, "optim.betas must be two numbers"),
        (0.0 <= config.optim.min_lr_ratio <= 1.0, "optim.min_lr_ratio must be in [0, 1]"),
        (config.optim.warmup_steps >= 0, "optim.warmup_steps must be 0 or more"),
        (
            not (config.optim.warmup_steps and config.optim.warmup_epochs),
            "give optim.warmup_steps or optim.warmup_epochs, not both",
        ),
        (config.run.keep_last >= 1, "run.keep_last must be at least 1"),
        (config.run.device in ("auto", "cpu", "cuda"), "run.device must be auto, cpu or cuda"),
    ]
    for ok, message in checks:
        if not ok:
            raise ConfigError(message)
    size = config.data.image_size
    if size is not None and (len(size) not in (1, 2) or min(size) < 1):
        raise ConfigError(f"data.image_size must be [size] or [height, width], got {size}")


def image_size_of(config: DataConfig) -> tuple[int, int] | None:
    """``data.image_size`` as (height, width), or None."""
    size = config.image_size
    if size is None:
        return None
    return (size[0], size[0]) if len(size) == 1 else (size[0], size[1])
