"""AFE: adaptive fine-grained event frames (ExACT, CVPR 2024; reused by SAFE).

A stretch of events is halved by event count; the two halves' count images are compared, and
when they differ by more than a threshold and both halves hold more than a minimum number of
events, each half is split again. The leaves, in time order, are the frames: fast-changing
moments get many short frames, static stretches few long ones.

A fixed number T of frames is taken from the leaves by :func:`pick_leaves`, the one rule shared by
:func:`~evclip.representations.event_images` and the dataset readers (through
:func:`afe_windows`), so evaluation renders the same frames everywhere.
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


def default_min_events(n_events: int, n_frames: int) -> int:
    """AFE's minimum half size when none is given: ``N // (4 * n_frames)``, at least 1."""
    return max(1, int(n_events) // (4 * int(n_frames)))


def pick_leaves(n_leaves: int, n_frames: int, positions: np.ndarray | None = None) -> np.ndarray:
    """Which of ``n_leaves`` AFE leaves (in time order) become the ``n_frames`` frames.

    Without ``positions`` the picks are ``round(linspace(0, n_leaves - 1, n_frames))`` (halves
    to even): the first leaf, the last leaf and evenly spaced ones between (one frame: the first
    leaf). With ``positions`` (the dataset readers' fractions ``(k + u_k) / T`` of the clip, one
    in each of T equal segments, see :func:`evclip.datasets.frames.segment_positions`), frame k
    is leaf ``round((k + u_k - 0.5) * (n_leaves - 1) / max(T - 1, 1))``, clipped to the leaves:
    segment centres (``u_k = 0.5``, evaluation) give exactly the picks without positions, and a
    random point in a segment (training) moves the pick by at most half the spacing of picks.
    With fewer leaves than frames some leaves repeat.

    Args:
        n_leaves: number of leaves, at least 1.
        n_frames: T, at least 1.
        positions: float [T] increasing fractions in [0, 1), or None for segment centres.

    Returns:
        int64 [T] leaf indices, never decreasing.
    """
    if n_leaves < 1 or n_frames < 1:
        raise ValueError(f"need at least one leaf and one frame, got {n_leaves} and {n_frames}")
    if positions is None:
        slots = np.arange(n_frames, dtype=np.float64)
    else:
        positions = np.asarray(positions, dtype=np.float64)
        if positions.shape != (n_frames,):
            raise ValueError(f"{positions.size} positions for {n_frames} frames")
        # segment k's centre (k + 0.5) / T becomes slot k exactly (float error rounded away)
        slots = np.round(positions * n_frames - 0.5, 9)
    step = (n_leaves - 1) / max(n_frames - 1, 1)  # the step of np.linspace(0, n_leaves - 1, T)
    picks = np.round(np.clip(slots * step, 0, n_leaves - 1))
    return picks.astype(np.int64)


def afe_windows(
    events: np.ndarray,
    sensor_size: tuple[int, int],
    n_frames: int,
    *,
    positions: np.ndarray | None = None,
    min_events: int | None = None,
    threshold: float = 0.0,
    max_depth: int = 8,
) -> np.ndarray:
    """Index slices of ``n_frames`` AFE frames: the leaves :func:`pick_leaves` chooses.

    Args:
        events: time-sorted events.
        sensor_size: (width, height).
        n_frames: T, at least 1.
        positions: float [T] fractions of the clip (see :func:`pick_leaves`); None for the
            segment centres (evaluation, and :func:`~evclip.representations.event_images`).
        min_events: a half must hold more than this to be split off; default
            :func:`default_min_events`.
        threshold: split threshold (ExACT uses 0).
        max_depth: at most this many halvings.

    Returns:
        int64 [T, 2] (start, stop) rows for ``events[start:stop]``; empty windows (0, 0) for an
        empty stream.
    """
    if n_frames < 1:
        raise ValueError(f"n_frames must be at least 1, got {n_frames}")
    if min_events is None:
        min_events = default_min_events(len(events), n_frames)
    leaves = afe_frames(
        events, sensor_size, min_events=min_events, threshold=threshold, max_depth=max_depth
    )
    if not leaves:
        if positions is not None and np.shape(positions) != (n_frames,):
            raise ValueError(f"{np.size(positions)} positions for {n_frames} frames")
        return np.zeros((n_frames, 2), np.int64)
    return np.asarray(leaves, np.int64)[pick_leaves(len(leaves), n_frames, positions)]
