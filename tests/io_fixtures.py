"""Fixture writers for the simple event formats (.bin, .npz, .npy, .h5, .mat).

Each writer follows the format's own description, so a test can read the file back through
``evclip.io.read_events`` and compare it exactly with the events it encodes.
"""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import scipy.io

from evclip.io import EVENT_DTYPE, EventStream, make_events


def bin_record(x: int, y: int, p: int, t23: int) -> bytes:
    """One 5-byte N-MNIST record, straight from the format description."""
    return bytes([x, y, (p << 7) | (t23 >> 16), (t23 >> 8) & 0xFF, t23 & 0xFF])


OVERFLOW = bin_record(0, 240, 0, 0)

# records and the events they must decode to: the overflow marker adds 2**13 to later events
BIN_RECORDS = [
    bin_record(1, 2, 1, 100),
    bin_record(33, 0, 0, 0x7FFF),
    OVERFLOW,
    bin_record(5, 6, 1, 0x7F0000 >> 8),
    bin_record(255, 239, 0, 40_000),
    OVERFLOW,
    OVERFLOW,
    bin_record(0, 0, 1, 30_000),
]
BIN_EVENTS = [
    (1, 2, 100, 1),
    (33, 0, 0x7FFF, 0),
    (5, 6, (0x7F0000 >> 8) + 8192, 1),
    (255, 239, 40_000 + 8192, 0),
    (0, 0, 30_000 + 3 * 8192, 1),
]


def events_of(rows: list[tuple[int, int, int, int]]) -> np.ndarray:
    cols = np.array(rows, dtype=np.int64).reshape(-1, 4)
    return make_events(cols[:, 0], cols[:, 1], cols[:, 2], cols[:, 3])


def random_events(n: int, size: tuple[int, int] = (64, 48), seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.sort(rng.integers(0, 50_000, n))
    return make_events(
        rng.integers(0, size[0], n), rng.integers(0, size[1], n), t, rng.integers(0, 2, n)
    )


def write_dsec(path: Path, events: np.ndarray, t_offset: int = 0, **attrs) -> Path:
    """A DSEC-style file: uint32 relative t, uint8 p, as DSEC itself stores them."""
    with h5py.File(path, "w") as f:
        f.create_dataset("events/x", data=events["x"].astype(np.uint16))
        f.create_dataset("events/y", data=events["y"].astype(np.uint16))
        f.create_dataset("events/t", data=(events["t"] - t_offset).astype(np.uint32))
        f.create_dataset("events/p", data=events["p"].astype(np.uint8))
        f.create_dataset("t_offset", data=np.int64(t_offset))
        f.attrs.update(attrs)
    return path


def assert_same(stream: EventStream, expected: np.ndarray) -> None:
    assert stream.events.dtype == EVENT_DTYPE
    np.testing.assert_array_equal(stream.events, expected)


def write_format_fixture(kind: str, folder: Path, events: np.ndarray) -> Path:
    """``events`` written as a ``kind`` file ("bin", "npz", "npy", "mat" or "h5") in ``folder``."""
    if kind == "bin":
        path = folder / "e.bin"
        path.write_bytes(
            b"".join(bin_record(int(e["x"]), int(e["y"]), int(e["p"]), int(e["t"])) for e in events)
        )
    elif kind == "npz":
        path = folder / "e.npz"
        np.savez(path, x=events["x"], y=events["y"], t=events["t"], p=events["p"])
    elif kind == "npy":
        path = folder / "e.npy"
        np.save(path, events)
    elif kind == "mat":
        path = folder / "e.mat"
        scipy.io.savemat(
            path,
            {
                "ts": events["t"].reshape(-1, 1),
                "x": events["x"].reshape(-1, 1),
                "y": events["y"].reshape(-1, 1),
                "pol": events["p"].reshape(-1, 1),
            },
        )
    else:
        path = write_dsec(folder / "e.h5", events)
    return path
