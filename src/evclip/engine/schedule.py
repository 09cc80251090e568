"""AdamW with separate backbone / head learning rates, and warmup + cosine decay per step.

Parameter groups come from an optional method hook::

    def parameter_groups(self) -> dict[str, list[nn.Parameter]]:
        return {"backbone": list(self.clip.parameters()), "head": [...]}

Parameters it does not list (or every parameter, without the hook) are ``"head"``. The
``"backbone"`` group trains at ``optim.backbone_lr``, the rest at ``optim.lr``. One-dimensional
parameters (biases, norms, temperature scales) get no weight decay. Frozen parameters
(``requires_grad=False``) are left out.

The schedule is a function of the optimiser step (not the epoch), stepped once per optimiser
step: linear warmup from ``lr / warmup`` up to ``lr`` over ``warmup`` steps, then a half cosine
from ``lr`` down to ``lr * min_lr_ratio`` at the last step.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch
from torch import nn

from evclip.engine.config import OptimConfig

GROUP_NAMES = ("backbone", "head")


def split_parameters(method: nn.Module) -> dict[str, list[nn.Parameter]]:
    """Trainable parameters by group name (see the module docstring)."""
    trainable = [p for p in method.parameters() if p.requires_grad]
    hook = getattr(method, "parameter_groups", None)
    groups: dict[str, list[nn.Parameter]] = {name: [] for name in GROUP_NAMES}
    if hook is None:
        groups["head"] = trainable
        return groups
    declared = hook()
    unknown = sorted(set(declared) - set(GROUP_NAMES))
    if unknown:
        raise ValueError(
            f"{type(method).__name__}.parameter_groups() returned group {unknown[0]!r}; "
            f"allowed: {', '.join(GROUP_NAMES)}"
        )
    seen: set[int] = set()
    for name in GROUP_NAMES:
        for param in declared.get(name, []):
            if id(param) in seen:
                raise ValueError(
                    f"{type(method).__name__}.parameter_groups() lists a parameter twice"
                )
            seen.add(id(param))
            if param.requires_grad:
                groups[name].append(param)
    groups["head"] += [p for p in trainable if id(p) not in seen]
    return groups


def build_optimizer(method: nn.Module, config: OptimConfig) -> torch.optim.AdamW:
    """AdamW over the method's trainable parameters, four groups at most.

    Each group records ``"name"`` (``backbone``/``head`` + ``/decay``/``/no_decay``) and
    ``"base_lr"``.
    """
    rates = {"backbone": config.backbone_lr if config.backbone_lr is not None else config.lr}
    rates["head"] = config.lr
    param_groups = []
    for name, params in split_parameters(method).items():
        decay = [p for p in params if p.ndim >= 2]
        no_decay = [p for p in params if p.ndim < 2]
        parts = (("decay", decay, config.weight_decay), ("no_decay", no_decay, 0.0))
        for suffix, members, wd in parts:
            if members:
                param_groups.append(
                    {
                        "params": members,
                        "lr": rates[name],
                        "base_lr": rates[name],
                        "weight_decay": wd,
                        "name": f"{name}/{suffix}",
                    }
                )
    if not param_groups:
        raise ValueError(f"{type(method).__name__} has no trainable parameters")
    return torch.optim.AdamW(param_groups, lr=config.lr, betas=tuple(config.betas), eps=config.eps)


def lr_factor(
    step: int,
    total_steps: int,
    *,
    warmup_steps: int = 0,
    schedule: str = "cosine",
    min_lr_ratio: float = 0.0,
) -> float:
    """Multiplier of the base learning rate at optimiser step ``step`` (0-based)."""
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    if schedule == "constant":
        return 1.0
    if schedule != "cosine":
        raise ValueError(f"schedule must be 'cosine' or 'constant', got {schedule!r}")
    span = max(total_steps - warmup_steps, 1)
    progress = min((step - warmup_steps) / span, 1.0)
    return min_lr_ratio + (1.0 - min_lr_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))


def warmup_steps_of(config: OptimConfig, steps_per_epoch: int) -> int:
    """Warmup length in optimiser steps from ``warmup_steps`` or ``warmup_epochs``."""
    if config.warmup_steps:
        return config.warmup_steps
    return int(round(config.warmup_epochs * steps_per_epoch))


def build_scheduler(
    optimizer: torch.optim.Optimizer,
    config: OptimConfig,
    total_steps: int,
    steps_per_epoch: int,
) -> torch.optim.lr_scheduler.LambdaLR:
    """Per-optimiser-step warmup + cosine (or constant) schedule."""
    warmup = warmup_steps_of(config, steps_per_epoch)

    def factor(step: int) -> float:
        return lr_factor(
            step,
            total_steps,
            warmup_steps=warmup,
            schedule=config.schedule,
            min_lr_ratio=config.min_lr_ratio,
        )

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def current_lrs(optimizer: torch.optim.Optimizer) -> dict[str, float]:
    """Learning rate of each group family (``backbone``, ``head``) now."""
    out: dict[str, float] = {}
    for group in optimizer.param_groups:
        out[str(group.get("name", "head")).split("/")[0]] = float(group["lr"])
    return out


def clip_gradients(parameters: Iterable[nn.Parameter], max_norm: float | None) -> float | None:
    """Clip the global gradient norm to ``max_norm``; returns the norm before clipping."""
    if max_norm is None or max_norm <= 0:
        return None
    norm = torch.nn.utils.clip_grad_norm_(list(parameters), max_norm)
    return float(norm)
