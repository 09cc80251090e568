"""Chunked reads hold bounded memory: ``iter_events`` never keeps a whole file's events."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from io_camera_fixtures import (
    DAVIS_HEADER,
    aedat2_bytes,
    camera_events,
    dat_file,
    davis_addresses,
    faery_array,
    write_file,
)
from io_fixtures import random_events

from evclip.io import EVENT_DTYPE, EventStream, iter_events, write_events

N_BIG = 300_000


def _big_simple_fixture(kind: str, folder: Path) -> Path:
    """A file of N_BIG events written with vectorised numpy (no per-event loop)."""
    events = random_events(N_BIG, size=(34, 34), seed=13)
    events["t"] = np.sort(np.random.default_rng(1).integers(0, 1 << 23, N_BIG))
    if kind == "bin":
        raw = np.zeros((N_BIG, 5), np.uint8)
        t = events["t"]
        raw[:, 0], raw[:, 1] = events["x"], events["y"]
        raw[:, 2] = (events["p"].astype(np.uint8) << 7) | (t >> 16).astype(np.uint8)
        raw[:, 3], raw[:, 4] = (t >> 8) & 0xFF, t & 0xFF
        path = folder / "big.bin"
        path.write_bytes(raw.tobytes())
        return path
    if kind == "npz_deflated":
        path = folder / "big.npz"
        np.savez_compressed(path, x=events["x"], y=events["y"], t=events["t"], p=events["p"])
        return path
    if kind == "npy":
        path = folder / "big.npy"
        np.save(path, events)
        return path
    path = folder / f"big.{kind}"
    write_events(path, EventStream(events, (34, 34)))
    return path


def _big_camera_fixture(name: str, folder: Path) -> Path:
    """A file of N_BIG events: numpy-encoded AEDAT 2 / .dat, faery-written EVT and AEDAT 4."""
    events = camera_events(N_BIG, 320, 240)
    events["t"] = np.arange(N_BIG) * 3  # strictly increasing: one EVT 3.0 event per address
    if name == "aedat2":
        davis = camera_events(N_BIG, 346, 260)
        return write_file(
            folder, "big.aedat", aedat2_bytes(DAVIS_HEADER, davis_addresses(davis), davis["t"])
        )
    if name == "dat":
        return write_file(folder, "big.dat", dat_file(events, 320, 240))
    faery, array = faery_array(events)
    path = folder / {"evt2": "big2.raw", "evt3": "big3.raw", "aedat4": "big.aedat4"}[name]
    version = {"evt2": "evt2", "evt3": "evt3"}.get(name)
    stream = faery.events_stream_from_array(array, (320, 240))
    stream.to_file(path, **({"version": version} if version else {}))
    return path


SIMPLE_KINDS = ["bin", "npz", "npz_deflated", "npy", "h5"]
CAMERA_KINDS = ["aedat2", "dat", "evt2", "evt3", "aedat4"]


@pytest.mark.parametrize("kind", SIMPLE_KINDS + CAMERA_KINDS)
def test_iter_events_memory_is_bounded(tmp_path, kind):
    """A chunked read never holds the file's events: peak memory is far below their size."""
    if kind in SIMPLE_KINDS:
        path = _big_simple_fixture(kind, tmp_path)
    else:
        path = _big_camera_fixture(kind, tmp_path)
    tracemalloc.start()
    try:
        total = sum(len(chunk) for chunk in iter_events(path, chunk_size=4096))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert total == N_BIG
    assert peak < N_BIG * EVENT_DTYPE.itemsize / 4, f"peak {peak} bytes"
