"""Wiring configs to builders: methods from ``METHODS`` by name, AMP contexts, seeding.

The engine never looks at a method's name beyond ``METHODS.get(name)``: the builder's keyword
arguments come from ``method.args``, checked against its signature so that a misspelt argument
is an error naming it and every argument the builder accepts.
"""

from __future__ import annotations

import inspect
import random
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager, nullcontext
from functools import partial
from typing import Any

import numpy as np
import torch
from torch import nn

from evclip.engine.config import ConfigError


def method_builder(name: str) -> Callable[..., nn.Module]:
    """The registered builder of method ``name``; a :class:`ConfigError` listing known names."""
    from evclip.models import METHODS

    if name not in METHODS:
        known = ", ".join(METHODS.names()) or "none"
        raise ConfigError(f"method.name: unknown method {name!r}; known: {known}")
    return METHODS.get(name)


def builder_arguments(builder: Callable[..., Any]) -> tuple[list[str], bool]:
    """(names of the builder's keyword arguments, whether it also takes ``**kwargs``)."""
    params = inspect.signature(builder).parameters.values()
    names = [
        p.name
        for p in params
        if p.kind in (inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    ]
    return names, any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params)


def build_method(
    name: str, args: Mapping[str, Any], *, defaults: Mapping[str, Any] | None = None
) -> nn.Module:
    """``METHODS.get(name)(**args)``, with ``defaults`` filled in where the builder takes them.

    Args:
        name: a registered method.
        args: builder keyword arguments (``method.args``).
        defaults: values for arguments the builder accepts but ``args`` does not give (the
            engine passes ``num_frames`` from the data section).

    Raises:
        ConfigError: unknown method or an argument the builder does not accept.
    """
    builder = method_builder(name)
    accepted, takes_any = builder_arguments(builder)
    if not takes_any:
        unknown = sorted(set(args) - set(accepted))
        if unknown:
            raise ConfigError(
                f"method.args.{unknown[0]}: method {name!r} has no argument {unknown[0]!r}; "
                f"accepted: {', '.join(accepted) or 'none'}"
            )
    kwargs = dict(args)
    for key, value in (defaults or {}).items():
        if key not in kwargs and key in accepted:
            kwargs[key] = value
    method = builder(**kwargs)
    missing = [h for h in ("training_step", "predict", "set_classes") if not hasattr(method, h)]
    if missing:
        raise TypeError(f"method {name!r} built a {type(method).__name__} without {missing}")
    return method


def autocast_factory(amp: str, device: torch.device) -> Callable[[], AbstractContextManager]:
    """A zero-argument callable returning the autocast context of ``optim.amp``.

    Raises:
        ConfigError: fp16 on a CPU (use bf16 there), or an unknown mode.
    """
    if amp == "none":
        return nullcontext
    if amp not in ("bf16", "fp16"):
        raise ConfigError(f"optim.amp: {amp!r} is not allowed; allowed: none, bf16, fp16")
    if amp == "fp16" and device.type != "cuda":
        raise ConfigError("optim.amp=fp16 needs a CUDA device; use optim.amp=bf16 on a CPU")
    dtype = torch.bfloat16 if amp == "bf16" else torch.float16
    return partial(torch.autocast, device_type=device.type, dtype=dtype)


def seed_everything(seed: int) -> None:
    """Seed Python, numpy and torch (all devices)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)  # noqa: NPY002 - code that uses the global generator
    torch.manual_seed(seed)


def set_deterministic(enabled: bool) -> None:
    """Deterministic kernels where torch has them (warn, not fail, where it has none)."""
    torch.use_deterministic_algorithms(enabled, warn_only=True)
    if torch.backends.cudnn.is_available():
        torch.backends.cudnn.benchmark = not enabled
        torch.backends.cudnn.deterministic = enabled
