"""Timing helpers shared by the benchmarks in bench/ (not part of the evclip package).

The scripts run as ``python bench/<name>.py``, so this folder is on ``sys.path`` and they import
this module as ``_common``.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import torch
from torch.utils.flop_counter import FlopCounterMode, sdpa_backward_flop_count, sdpa_flop_count


def synchronize(device: str | torch.device) -> None:
    """Waits for queued GPU work, so that a timer sees the whole call."""
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)


def interleaved_medians(
    runs: dict[str, Callable[[], Any]],
    repeats: int,
    device: str | torch.device = "cpu",
    warmup: int = 1,
) -> dict[str, tuple[float, Any]]:
    """Median seconds and last result of each run, timed in alternating rounds.

    Each round times every run once, so on a shared machine a burst of load from other jobs
    falls on all of them rather than on whichever happened to be running.
    """
    results: dict[str, Any] = {}
    for _ in range(warmup):
        for name, fn in runs.items():
            results[name] = fn()
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(max(1, repeats)):
        for name, fn in runs.items():
            synchronize(device)
            start = time.perf_counter()
            results[name] = fn()
            synchronize(device)
            times[name].append(time.perf_counter() - start)
    return {name: (statistics.median(times[name]), results[name]) for name in runs}


def machine_note(threads: int) -> str:
    """One line saying where the numbers come from (cores, load, torch threads)."""
    try:
        load = f"{os.getloadavg()[0]:.1f}"
    except OSError:
        load = "unknown"
    cores = os.cpu_count()
    return (
        f"machine: {cores} CPU cores, 1-min load average {load} at start, {threads} torch "
        f"thread(s); a shared machine: other jobs run at the same time, so treat the absolute "
        f"numbers as indicative and the ratio (both measured in the same run) as the result"
    )


def fail(message: str) -> None:
    """Prints ``message`` to stderr and exits with status 1 (outputs disagree)."""
    print(f"FAILED: {message}", file=sys.stderr)
    raise SystemExit(1)


def _cpu_attention_flops(query, key, value, *args, out_shape=None, **kwargs) -> int:
    return sdpa_flop_count(query, key, value)


def _cpu_attention_backward_flops(grad, query, key, value, *args, out_shape=None, **kwargs) -> int:
    return sdpa_backward_flop_count(grad, query, key, value)


#: Attention kernels the flop counter has no formula for (the CPU's fused one, both ways).
CPU_ATTENTION_FLOPS = {
    torch.ops.aten._scaled_dot_product_flash_attention_for_cpu: _cpu_attention_flops,
    torch.ops.aten._scaled_dot_product_flash_attention_for_cpu_backward: (
        _cpu_attention_backward_flops
    ),
}


def flop_counter(**kwargs: Any) -> FlopCounterMode:
    """torch's ``FlopCounterMode`` (no table printed) that also counts the CPU's fused
    attention, which it has no formula for; a multiply-add counts as 2 FLOPs."""
    return FlopCounterMode(display=False, custom_mapping=CPU_ATTENTION_FLOPS, **kwargs)
