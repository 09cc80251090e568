"""AFE: adaptive fine-grained event frames (ExACT, CVPR 2024; reused by SAFE).

A stretch of events is halved by event count; the two halves' count images are compared, and
when they differ by more than a threshold and both halves hold more than a minimum number of
events, each half is split again. The leaves, in time order, are the frames: fast-changing
moments get many short frames, static stretches few long ones.
"""

from __future__ import annotations

import numpy as np

from evclip.representations.functional import count_slices


def halves_difference(counts: np.ndarray) -> float:
    """Normalised L1 difference of two count images.

    Args:
        counts: [2, ...] the two halves' count images (any trailing shape).

    Returns:
        ``sum |A - B| / (sum A + sum B)`` in [0, 1]: 0 for identical images, 1 for images with
        no pixel in common; 0 when both are empty.
    """
    first = counts[0].astype(np.int64)
    second = counts[1].astype(np.int64)
    total = int(first.sum() + second.sum())
    if total == 0:
        return 0.0
    return float(np.abs(first - second).sum()) / total


def afe_frames(
    events: np.ndarray,
    sensor_size: tuple[int, int],
    *,
    min_events: int,
    threshold: float,
    max_depth: int = 8,
) -> list[tuple[int, int]]:
    """Adaptive event frames as index slices, leaves in time order.

    A slice [start, stop) is split at ``(start + stop) // 2`` when both halves hold more than
    ``min_events`` events, the difference of their count images (:func:`halves_difference`, per
    polarity) is above ``threshold`` and the slice is less than ``max_depth`` splits deep.
    Deterministic: it depends only on the events and the arguments.

    Args:
        events: time-sorted events.
        sensor_size: (width, height).
        min_events: a half must hold more than this many events to be split off.
        threshold: split when the halves' difference is strictly above this (ExACT uses 0).
        max_depth: at most this many halvings, so at most ``2 ** max_depth`` frames.

    Returns:
        (start, stop) pairs covering ``events`` in order; one pair (0, N) when nothing splits,
        and an empty list for an empty stream.
    """
    if min_events < 0 or max_depth < 0:
        raise ValueError(f"min_events and max_depth must be >= 0, got {min_events}, {max_depth}")
    if len(events) == 0:
        return []
    leaves: list[tuple[int, int]] = []
    stack = [(0, len(events), 0)]  # depth-first, right half pushed first: leaves come in order
    while stack:
        start, stop, depth = stack.pop()
        middle = (start + stop) // 2
        if depth < max_depth and middle - start > min_events and stop - middle > min_events:
            halves = count_slices(events, sensor_size, np.array([[start, middle], [middle, stop]]))
            if halves_difference(halves) > threshold:
                stack.append((middle, stop, depth + 1))
                stack.append((start, middle, depth + 1))
                continue
        leaves.append((start, stop))
    return leaves


def afe_count_frames(
    events: np.ndarray,
    sensor_size: tuple[int, int],
    *,
    min_events: int,
    threshold: float,
    max_depth: int = 8,
) -> np.ndarray:
    """Count frames of the AFE leaves (see :func:`afe_frames`).

    Returns:
        int32 [n_leaves, 2, H, W].
    """
    leaves = afe_frames(
        events, sensor_size, min_events=min_events, threshold=threshold, max_depth=max_depth
    )
    return count_slices(events, sensor_size, np.array(leaves, dtype=np.int64).reshape(-1, 2))
