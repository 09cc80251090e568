"""Images and videos to events: a DVS simulator, camera motions and dataset-scale synthesis.

The simulator and the motions need torch; they are imported on first use, so that importing a
light part of the package (the configuration, the worker pool) does not load torch.
"""

from __future__ import annotations

import importlib
from typing import Any

from evclip.simulate.config import MOTIONS, SimulatorConfig

# public name -> the submodule defining it, imported on first access
_LAZY = {
    "random_affine_motion": "motion",
    "saccade_motion": "motion",
    "simulate_image": "motion",
    "EventColumns": "simulator",
    "EventSimulator": "simulator",
    "columns_to_events": "simulator",
    "simulate_batch": "simulator",
    "simulate_frames": "simulator",
}

__all__ = ["MOTIONS", "SimulatorConfig", *_LAZY]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})
