"""Choosing T frames in temporal order, loading image folders, and turning frames into tensors.

Frame choice (TSN-style segments): the clip is cut into T equal segments; evaluation takes each
segment's centre, training a uniformly random point inside each segment. Positions are
fractions of the clip, so two modalities with different frame counts (RGB and event PNGs) are
sampled at the same moments.

Event files use the same positions (:func:`stream_windows`): each of the T event windows is
centred on its position, so a window moves with the random point when training and sits exactly
on its segment when evaluating, and an RGB frame and the event window taken with it cover the
same moment of the clip.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from evclip.datasets.errors import DatasetError
from evclip.datasets.lists import IMAGE_SUFFIXES, list_files
from evclip.io import EventStream

SLICINGS = ("time", "count", "afe")


def segment_positions(
    n_frames: int, *, train: bool, rng: np.random.Generator | None = None
) -> np.ndarray:
    """Fractions in [0, 1) at which to take ``n_frames`` frames, increasing.

    Args:
        n_frames: T, at least 1.
        train: random point inside each segment (needs ``rng``); else segment centres.
        rng: generator for the training offsets.

    Returns:
        float64 [T].
    """
    if n_frames < 1:
        raise ValueError(f"n_frames must be at least 1, got {n_frames}")
    offsets = np.full(n_frames, 0.5)
    if train:
        if rng is None:
            raise ValueError("training sampling needs a random generator")
        offsets = rng.random(n_frames)
    return (np.arange(n_frames) + offsets) / n_frames


def positions_to_indices(positions: np.ndarray, n_available: int) -> np.ndarray:
    """Map fractions of a clip onto frame indices of a clip with ``n_available`` frames.

    Indices never decrease; with fewer frames than positions some repeat. int64 [T].
    """
    if n_available < 1:
        raise ValueError("cannot sample frames from an empty clip")
    idx = np.floor(np.asarray(positions) * n_available).astype(np.int64)
    return np.clip(idx, 0, n_available - 1)


def sample_indices(
    n_available: int, n_frames: int, *, train: bool, rng: np.random.Generator | None = None
) -> np.ndarray:
    """Indices of ``n_frames`` frames out of ``n_available``, in temporal order. int64 [T]."""
    return positions_to_indices(segment_positions(n_frames, train=train, rng=rng), n_available)


def read_image(path: str | os.PathLike[str]) -> np.ndarray:
    """Read one image file as RGB. uint8 [H, W, 3]."""
    with Image.open(path) as image:
        return np.array(image.convert("RGB"), dtype=np.uint8)  # a writable copy


def image_files(folder: str | os.PathLike[str]) -> list[Path]:
    """The image files of a frame folder, naturally sorted; an error when there are none."""
    files = list_files(folder, IMAGE_SUFFIXES)
    if not files:
        raise DatasetError(folder, "frame folder holds no PNG/JPG images")
    return files


def load_frames(files: Sequence[Path], indices: np.ndarray) -> np.ndarray:
    """Read the chosen image files into one array. uint8 [T, H, W, 3].

    Raises:
        DatasetError: when the images differ in size.
    """
    images = [read_image(files[int(i)]) for i in indices]
    shapes = {im.shape for im in images}
    if len(shapes) > 1:
        raise DatasetError(files[0].parent, f"frames differ in size: {sorted(shapes)}")
    return np.stack(images)


def frame_windows(frame_t: np.ndarray, stream: EventStream) -> np.ndarray:
    """[start, end) time windows of each frame: from its timestamp to the next one's.

    The last frame's window lasts as long as the one before it (or runs to the last event).
    int64 [N, 2].
    """
    t = np.asarray(frame_t, dtype=np.int64)
    if t.size == 0:
        return np.zeros((0, 2), dtype=np.int64)
    last_step = max(int(t[-1] - t[-2]), 1) if t.size >= 2 else 1
    last_end = int(t[-1]) + last_step
    if len(stream):
        last_end = max(last_end, int(stream.events["t"][-1]) + 1)
    ends = np.append(t[1:], last_end)
    return np.stack([t, np.maximum(ends, t + 1)], axis=1)


def aligned_event_images(
    stream: EventStream, frame_t: np.ndarray, indices: np.ndarray, mode: str
) -> np.ndarray:
    """One event image per chosen RGB frame, from the events during that frame's window.

    uint8 [T, H, W, 3].
    """
    from evclip.representations import event_image, frames_at_timestamps

    windows = frame_windows(frame_t, stream)
    images = []
    for i in indices:
        bounds = windows[int(i)]
        counts = frames_at_timestamps(stream.events, stream.sensor_size, bounds)  # [1, 2, H, W]
        images.append(event_image(counts[0], mode))
    return np.stack(images)


def _window_starts(positions: np.ndarray, length: int) -> np.ndarray:
    """Offsets of windows ``length`` long centred on ``positions`` (fractions of T windows).

    A window that would stick out of [0, T * length) is moved inside it, so windows keep their
    length (and so their event density) and never leave the clip. Centred positions give
    ``i * length`` exactly. int64 [T].
    """
    n = len(positions)
    starts = np.rint((np.asarray(positions, dtype=np.float64) * n - 0.5) * length)
    return np.clip(starts, 0, (n - 1) * length).astype(np.int64)


def stream_windows(
    t: np.ndarray,
    positions: np.ndarray,
    *,
    slicing: str = "time",
    events_per_window: int | None = None,
) -> np.ndarray:
    """Index slices of T event windows centred on ``positions`` (see :func:`segment_positions`).

    Each window is as long as one of T equal segments and centred on its position, moved inside
    the clip when it would stick out. With segment centres (evaluation) the windows are exactly
    those of :func:`evclip.representations.event_images`, tonic's rules included.

    Args:
        t: int64 [N] sorted timestamps.
        positions: float [T] increasing fractions in [0, 1).
        slicing: ``"time"``: windows of ``(t[-1] - t[0]) // T`` microseconds; ``"count"``:
            windows of ``N // T`` events, or of ``events_per_window`` events placed among the
            first ``T * events_per_window`` (E-CLIP's windows; past the end they are empty).
        events_per_window: window size for ``slicing="count"``.

    Returns:
        int64 [T, 2] (start, stop) rows for ``events[start:stop]``; starts never decrease.
    """
    from evclip.representations.slicing import search_sorted

    n_frames = len(positions)
    if slicing == "time":
        if len(t) == 0:
            return np.zeros((n_frames, 2), np.int64)
        length = (int(t[-1]) - int(t[0])) // n_frames
        begins = int(t[0]) + _window_starts(positions, length)
        index = search_sorted(t, np.concatenate([begins, begins + length]))
        return np.stack([index[:n_frames], index[n_frames:]], axis=1)
    if slicing == "count":
        length = len(t) // n_frames if events_per_window is None else int(events_per_window)
        if length < 1 and events_per_window is not None:
            raise ValueError(f"events_per_window must be at least 1, got {events_per_window}")
        starts = np.minimum(_window_starts(positions, length), len(t))
        return np.stack([starts, np.minimum(starts + length, len(t))], axis=1)
    raise ValueError(f"slicing must be 'time' or 'count' here, got {slicing!r}")


def stream_event_images(
    stream: EventStream,
    n_frames: int,
    mode: str,
    *,
    slicing: str = "time",
    events_per_window: int | None = None,
    positions: np.ndarray | None = None,
) -> np.ndarray:
    """``n_frames`` event images from a whole stream, in temporal order. uint8 [T, H, W, 3].

    Args:
        stream: the sample's events.
        n_frames: T.
        mode: an event image mode of :func:`evclip.representations.event_image`.
        slicing: ``"time"``, ``"count"`` (windows from :func:`stream_windows`) or ``"afe"``
            (adaptive frames: the leaves :func:`evclip.representations.afe.pick_leaves` picks at
            ``positions``, the rule of :func:`evclip.representations.event_images`).
        events_per_window: window size for ``slicing="count"``.
        positions: float [T] fractions from :func:`segment_positions`; default the segment
            centres (evaluation), which give the windows of
            :func:`evclip.representations.event_images` for every slicing.
    """
    from evclip.representations import count_slices, event_image
    from evclip.representations.afe import afe_windows

    if slicing not in SLICINGS:
        raise ValueError(f"slicing must be one of {SLICINGS}, got {slicing!r}")
    if positions is None:
        positions = segment_positions(n_frames, train=False)
    if len(positions) != n_frames:
        raise ValueError(f"{len(positions)} positions for {n_frames} frames")
    events = stream.events
    if slicing == "afe":  # event_images' leaves at segment centres: one rule (pick_leaves)
        picked = afe_windows(events, stream.sensor_size, n_frames, positions=positions)
    else:
        t = events["t"]
        picked = stream_windows(t, positions, slicing=slicing, events_per_window=events_per_window)
    counts = count_slices(events, stream.sensor_size, picked)  # [T, 2, H, W]
    return np.stack([event_image(frame, mode) for frame in counts])


def to_tensor(frames: np.ndarray, image_size: tuple[int, int] | None = None) -> torch.Tensor:
    """[T, H, W, 3] uint8 frames -> uint8 tensor [T, 3, H', W'], resized when asked.

    Resizing uses bilinear interpolation with antialiasing (torch only, no torchvision).
    """
    tensor = torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2).contiguous()
    if image_size is None or tuple(tensor.shape[-2:]) == tuple(image_size):
        return tensor
    resized = F.interpolate(
        tensor.float(), size=tuple(image_size), mode="bilinear", align_corners=False, antialias=True
    )
    return resized.round_().clamp_(0, 255).to(torch.uint8)
