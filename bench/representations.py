"""Benchmark: evclip representations against tonic on 5 million events.

5 M random events on a 346x260 sensor over 1 s (sorted t, seeded). Times evclip's count frames
(8 time bins) and voxel grid (5 bins) against tonic's ``ToFrame(n_time_bins=8)`` and
``ToVoxelGrid(n_time_bins=5)`` in the same run, checks the outputs agree, and prints millions of
events per second (median of ``--repeats`` runs after a warm-up that compiles numba) for the
numba and numpy paths, plus AFE and event-image timings.

Run: .venv/bin/python bench/representations.py [--events 5000000] [--repeats 5]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import numpy as np

from evclip.io.events import EVENT_DTYPE
from evclip.representations import _kernels, afe_frames, count_frames, event_images, voxel_grid

WIDTH, HEIGHT = 346, 260


def random_events(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    events = np.empty(n, EVENT_DTYPE)
    events["x"] = rng.integers(0, WIDTH, n)
    events["y"] = rng.integers(0, HEIGHT, n)
    events["t"] = np.sort(rng.integers(0, 1_000_000, n))
    events["p"] = rng.integers(0, 2, n)
    return events


def median_seconds(fn: Callable[[], object], repeats: int) -> tuple[float, object]:
    result = fn()  # warm-up: compiles (or loads cached) numba kernels
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=5_000_000)
    parser.add_argument("--repeats", type=int, default=11)
    args = parser.parse_args()
    from tonic.transforms import ToFrame
    from tonic.transforms import ToVoxelGrid as TonicVoxelGrid

    events = random_events(args.events)
    before = events.copy()
    # tonic's voxel kernel sets p = -1 in the array it is given (its ToVoxelGrid copies first,
    # but not every version does): each tonic transform gets its own copy, made once, untimed
    tonic_frame_events = events.copy()
    tonic_voxel_events = events.copy()
    n = len(events)
    size = (WIDTH, HEIGHT)
    rows = []

    def frames() -> np.ndarray:
        return count_frames(events, size, 8)

    def voxels() -> np.ndarray:
        return voxel_grid(events, size, 5)  # tonic's formula is the default

    tonic_frames_s, tonic_frames = median_seconds(
        lambda: ToFrame(sensor_size=(WIDTH, HEIGHT, 2), n_time_bins=8)(tonic_frame_events),
        args.repeats,
    )
    tonic_voxels_s, tonic_voxels = median_seconds(
        lambda: TonicVoxelGrid(sensor_size=(WIDTH, HEIGHT, 2), n_time_bins=5)(tonic_voxel_events),
        args.repeats,
    )
    for path, use_numba in (("numba", True), ("numpy", False)):
        if use_numba and _kernels.numba is None:
            continue
        _kernels.USE_NUMBA = use_numba
        seconds, ours = median_seconds(frames, args.repeats)
        assert np.array_equal(ours, tonic_frames), "count frames differ from tonic"
        rows.append((f"count frames x8 ({path})", seconds, tonic_frames_s))
        seconds, ours = median_seconds(voxels, args.repeats)
        # tonic accumulates in float64 in event order, evclip in float32 per thread
        error = float(np.abs(ours - tonic_voxels[:, 0]).max())
        assert error < 1e-3, f"voxel grid differs from tonic by {error}"
        rows.append((f"voxel grid x5 ({path}, max |diff| {error:.1e})", seconds, tonic_voxels_s))
    _kernels.USE_NUMBA = _kernels.numba is not None
    assert np.array_equal(events, before), "a representation modified its input"
    rows.append(("tonic ToFrame n_time_bins=8", tonic_frames_s, None))
    rows.append(("tonic ToVoxelGrid n_time_bins=5", tonic_voxels_s, None))
    seconds, leaves = median_seconds(
        lambda: afe_frames(events, size, min_events=n // 64, threshold=0.0), args.repeats
    )
    rows.append((f"AFE slices ({len(leaves)} leaves)", seconds, None))
    for mode in ("eclip_rgb", "ezsr"):
        seconds, _ = median_seconds(
            lambda mode=mode: event_images(events, size, 5, mode=mode), args.repeats
        )
        rows.append((f"event_images x5 {mode}", seconds, None))

    print(f"{n / 1e6:.1f} M events, {WIDTH}x{HEIGHT}, median of {args.repeats} runs")
    print(f"{'representation':<46} {'ms':>9} {'M events/s':>11} {'vs tonic':>9}")
    for name, seconds, tonic_s in rows:
        ratio = f"{tonic_s / seconds:8.1f}x" if tonic_s else ""
        print(f"{name:<46} {seconds * 1e3:9.2f} {n / seconds / 1e6:11.1f} {ratio:>9}")


if __name__ == "__main__":
    main()
