"""Shared values for the representation tests: a small sensor and seeded random events.

The ``kernel_path`` fixture that runs a test on both kernel paths lives in ``conftest.py``.
"""

from __future__ import annotations

import numpy as np

from evclip.io.events import EVENT_DTYPE

WIDTH, HEIGHT = 34, 26
SIZE = (WIDTH, HEIGHT)


def random_events(n: int, seed: int = 0, duration: int = 100_000) -> np.ndarray:
    rng = np.random.default_rng(seed)
    events = np.empty(n, EVENT_DTYPE)
    events["x"] = rng.integers(0, WIDTH, n)
    events["y"] = rng.integers(0, HEIGHT, n)
    events["t"] = np.sort(rng.integers(0, duration, n))
    events["p"] = rng.integers(0, 2, n)
    return events
