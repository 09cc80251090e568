"""Zero-shot labels over time: slide a window along a long recording and name each window.

Windows are ``[t0 + i * stride, t0 + i * stride + window)`` in microseconds, ``t0`` the first
event's timestamp, for every i whose window ends within the recording (at most one microsecond
after the last event), so a recording spanning ``span = t_last - t0 + 1`` microseconds gives
``(span - window) // stride + 1`` windows. The file is read in chunks and only the events of the
current window are kept, so memory stays bounded however long the recording is.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from evclip.io import EventStream, empty_events, iter_events
from evclip.models.eventclip import EventClip, check_labels
from evclip.representations.slicing import search_sorted


@dataclass(frozen=True)
class TimeWindow:
    """The events of one window of the timeline.

    Attributes:
        index: 0-based window number.
        start_us: first microsecond of the window (inclusive).
        end_us: end of the window (exclusive).
        stream: the events with ``start_us <= t < end_us`` and the sensor size.
    """

    index: int
    start_us: int
    end_us: int
    stream: EventStream


def count_windows(span_us: int, window_us: int, stride_us: int) -> int:
    """How many windows a recording of ``span_us`` microseconds holds (0 when too short)."""
    check_window(window_us, stride_us)
    return 0 if span_us < window_us else (span_us - window_us) // stride_us + 1


def check_window(window_us: int, stride_us: int) -> None:
    """Raise ValueError unless the window length and the stride are positive."""
    if window_us <= 0:
        raise ValueError(f"the window length must be positive, got {window_us} us")
    if stride_us <= 0:
        raise ValueError(f"the stride must be positive, got {stride_us} us")


def sliding_windows(
    chunks: Iterable[EventStream],
    window_us: int,
    stride_us: int,
    *,
    source: str | os.PathLike[str] = "the recording",
) -> Iterator[TimeWindow]:
    """Windows of a chunked, time-sorted stream (see the module docstring), in order.

    Args:
        chunks: consecutive pieces of one recording (e.g. from :func:`evclip.io.iter_events`).
        window_us: window length in microseconds, > 0.
        stride_us: step between window starts in microseconds, > 0.
        source: names the recording in errors.

    Raises:
        ValueError: for a non-positive window or stride, a recording without events, or one
            shorter than one window (raised once the whole recording has been read).
    """
    check_window(window_us, stride_us)
    buffer = empty_events()
    sensor_size: tuple[int, int] | None = None
    first_t: int | None = None
    start, index, last_t = 0, 0, 0
    for chunk in chunks:
        sensor_size = chunk.sensor_size
        if len(chunk) == 0:
            continue
        if first_t is None:
            first_t = start = int(chunk.events["t"][0])
        buffer = np.concatenate([buffer, chunk.events]) if len(buffer) else chunk.events
        last_t = int(buffer["t"][-1])
        # later chunks may repeat last_t, so only windows ending at or before it are complete
        while start + window_us <= last_t:
            yield _window(buffer, index, start, window_us, sensor_size)
            index, start = index + 1, start + stride_us
            buffer = buffer[int(search_sorted(buffer["t"], np.array([start]))[0]) :]
    if first_t is None:
        raise ValueError(f"{source}: the recording has no events")
    while start + window_us <= last_t + 1:
        yield _window(buffer, index, start, window_us, sensor_size)
        index, start = index + 1, start + stride_us
        buffer = buffer[int(search_sorted(buffer["t"], np.array([start]))[0]) :]
    if index == 0:
        span = last_t - first_t + 1
        raise ValueError(
            f"{source}: the recording lasts {span} us, shorter than one window of {window_us} us; "
            "use a shorter --window-us"
        )


def _window(
    buffer: np.ndarray, index: int, start: int, window_us: int, sensor_size: tuple[int, int]
) -> TimeWindow:
    bounds = search_sorted(buffer["t"], np.array([start, start + window_us]))
    events = buffer[int(bounds[0]) : int(bounds[1])].copy()
    return TimeWindow(index, start, start + window_us, EventStream(events, sensor_size))


@dataclass(frozen=True)
class TimelineRow:
    """The answer for one window.

    Attributes:
        window: 0-based window number.
        start_us: window start (inclusive), microseconds.
        end_us: window end (exclusive), microseconds.
        events: number of events in the window.
        label: the most probable label; None for a window without events.
        probability: its probability; None for a window without events.
        image: uint8 [H, W, 3] the event image shown for the window (the middle one of its K).
    """

    window: int
    start_us: int
    end_us: int
    events: int
    label: str | None
    probability: float | None
    image: np.ndarray

    def record(self) -> dict[str, Any]:
        """The row as written to JSON lines or CSV (without the image)."""
        return {
            "window": self.window,
            "start_us": self.start_us,
            "end_us": self.end_us,
            "events": self.events,
            "label": self.label,
            "probability": None if self.probability is None else round(self.probability, 6),
        }


def classify_windows(
    method: EventClip,
    windows: Iterable[TimeWindow],
    *,
    n_images: int | None = None,
    batch_windows: int = 32,
) -> Iterator[TimelineRow]:
    """Label every window with ``method`` (its classes set), ``batch_windows`` windows per call.

    Args:
        method: an :class:`EventClip` whose classes are set.
        windows: the timeline's windows.
        n_images: K event images averaged per window (default the method's ``windows``).
        batch_windows: windows sent to CLIP together (B * K images per call).
    """
    check_labels(method.class_names)
    if batch_windows < 1:
        raise ValueError(f"batch_windows must be at least 1, got {batch_windows}")
    pending: list[tuple[TimeWindow, torch.Tensor]] = []
    for window in windows:
        pending.append((window, method.render_stream(window.stream, n_images)))  # (K, 3, H, W)
        if len(pending) == batch_windows:
            yield from _classify_batch(method, pending)
            pending = []
    if pending:
        yield from _classify_batch(method, pending)


def _classify_batch(
    method: EventClip, pending: Sequence[tuple[TimeWindow, torch.Tensor]]
) -> list[TimelineRow]:
    images = torch.stack([image for _, image in pending])  # (B, K, 3, H, W)
    filled = [i for i, (window, _) in enumerate(pending) if len(window.stream)]
    probabilities = torch.zeros(len(pending), len(method.class_names), dtype=torch.float64)
    if filled:
        logits = method.predict({"events": images[filled]}).double().cpu()  # (B', C)
        probabilities[filled] = torch.softmax(logits, dim=-1)
    rows = []
    for i, (window, _) in enumerate(pending):
        middle = images[i, images.shape[1] // 2].permute(1, 2, 0).numpy()  # (H, W, 3)
        label, probability = None, None
        if len(window.stream):
            best = int(torch.argmax(probabilities[i]))
            label, probability = method.class_names[best], float(probabilities[i, best])
        rows.append(
            TimelineRow(
                window.index,
                window.start_us,
                window.end_us,
                len(window.stream),
                label,
                probability,
                middle,
            )
        )
    return rows


def timeline(
    method: EventClip,
    path: str | os.PathLike[str],
    window_us: int,
    stride_us: int,
    *,
    n_images: int | None = None,
    format: str | None = None,
    chunk_size: int = 1_000_000,
    batch_windows: int = 32,
    on_row: Callable[[TimelineRow], None] | None = None,
) -> Iterator[TimelineRow]:
    """Slide a window over the recording at ``path`` and label every window.

    Args:
        method: an :class:`EventClip` whose classes are set.
        path: any event file :func:`evclip.io.iter_events` reads.
        window_us: window length, microseconds.
        stride_us: step between window starts, microseconds.
        n_images: K event images averaged per window (default the method's ``windows``).
        format: force a file format.
        chunk_size: events read per chunk.
        batch_windows: windows sent to CLIP together.
        on_row: called with every row as it is produced (e.g. to advance a progress bar).
    """
    check_window(window_us, stride_us)
    chunks = iter_events(path, format, chunk_size=chunk_size)
    windows = sliding_windows(chunks, window_us, stride_us, source=path)
    for row in classify_windows(method, windows, n_images=n_images, batch_windows=batch_windows):
        if on_row is not None:
            on_row(row)
        yield row
