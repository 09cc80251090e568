"""Colourised event images for CLIP-style image encoders, in the styles of the published methods.

Modes, each following the authors' released code:

- ``"eclip_rgb"`` (E-CLIP / EventBind, ``generate_event_image_EventBind``): white background; every
  ON event subtracts (0, 1, 1) and every OFF event (1, 1, 0) from the pixel, clipped to [0, 1], so
  one ON event makes a red pixel, one OFF event a blue one, and both together black. Raw counts,
  no normalisation.
- ``"eclip_grey"`` (E-CLIP grey mode): white background minus 127/255 per event of either polarity.
- ``"eventclip_grey"`` (EventCLIP, ``make_event_histogram`` with ``grayscale=True``): counts above
  mean + 10 std (over all pixels and both polarities) are zeroed as hot pixels, the histogram is
  divided by its maximum, painted grey 127 and alpha-blended over a white background.
- ``"ezsr"`` (EZSR, ``event_historgram`` with hot-pixel removal): counts clipped at the 0.75
  quantile of the non-zero counts, each polarity divided by (its maximum + 1), the two averaged
  into one grey on a black background and repeated to three channels.
"""

from __future__ import annotations

import numpy as np

from evclip.representations import functional
from evclip.representations.afe import afe_windows

#: The names :func:`event_image` accepts.
EVENT_IMAGE_MODES = ("eclip_rgb", "eclip_grey", "eventclip_grey", "ezsr")

_ECLIP_ON = np.array([0.0, 1.0, 1.0], np.float32)  # EventBind's [0, 255, 255] / 255
_ECLIP_OFF = np.array([1.0, 1.0, 0.0], np.float32)  # EventBind's [255, 255, 0] / 255


def _to_uint8(image: np.ndarray) -> np.ndarray:
    return np.round(np.clip(image, 0.0, 1.0) * 255.0).astype(np.uint8)


def _eclip_rgb(on: np.ndarray, off: np.ndarray) -> np.ndarray:
    image = 1.0 - (on[..., None] * _ECLIP_ON + off[..., None] * _ECLIP_OFF)  # [H, W, 3]
    return _to_uint8(image)


def _eclip_grey(on: np.ndarray, off: np.ndarray) -> np.ndarray:
    grey = 1.0 - (on + off) * np.float32(127.0 / 255.0)
    return np.repeat(_to_uint8(grey)[..., None], 3, axis=2)


def _eventclip_grey(on: np.ndarray, off: np.ndarray, hot_sigma: float = 10.0) -> np.ndarray:
    hist = np.stack([on, off])  # [2, H, W]
    # float64 statistics, as EventCLIP takes them on its integer histogram
    hot = hot_sigma * hist.std(dtype=np.float64) + hist.mean(dtype=np.float64)
    hist = np.where(hist > hot, 0.0, hist)
    peak = hist.max()
    if peak <= 0:
        return np.full((*on.shape, 3), 255, np.uint8)
    hist = hist / peak
    amount = hist.sum(axis=0)  # [H, W]
    weight = np.clip(amount, 0.0, 1.0)
    grey = 127.0 * amount * weight + 255.0 * (1.0 - weight)
    return np.repeat(np.round(grey).astype(np.uint8)[..., None], 3, axis=2)


def _ezsr(on: np.ndarray, off: np.ndarray, quantile: float = 0.75) -> np.ndarray:
    hist = np.stack([on, off])  # [2, H, W]
    fired = hist[hist > 0]
    if fired.size == 0:
        return np.zeros((*on.shape, 3), np.uint8)
    hist = np.minimum(hist, np.quantile(fired, quantile))
    hist = hist / (hist.max(axis=(1, 2), keepdims=True) + 1.0)
    return np.repeat(_to_uint8(hist.mean(axis=0))[..., None], 3, axis=2)


_RENDERERS = {
    "eclip_rgb": _eclip_rgb,
    "eclip_grey": _eclip_grey,
    "eventclip_grey": _eventclip_grey,
    "ezsr": _ezsr,
}


def event_image(counts: np.ndarray, mode: str = "eclip_rgb") -> np.ndarray:
    """Colourise one two-channel count frame.

    Args:
        counts: [2, H, W] event counts; channel 0 OFF, channel 1 ON (as :func:`count_frames`).
        mode: one of :data:`EVENT_IMAGE_MODES` (see the module docstring).

    Returns:
        uint8 [H, W, 3]. The grey modes have R == G == B.
    """
    if mode not in _RENDERERS:
        raise ValueError(f"unknown event image mode {mode!r}; known: {', '.join(_RENDERERS)}")
    counts = np.asarray(counts)
    if counts.ndim != 3 or counts.shape[0] != 2:
        raise ValueError(f"counts must have shape [2, H, W], got {counts.shape}")
    off = counts[0].astype(np.float32)
    on = counts[1].astype(np.float32)
    return _RENDERERS[mode](on, off)


def event_image_from_events(
    events: np.ndarray, sensor_size: tuple[int, int], mode: str = "eclip_rgb"
) -> np.ndarray:
    """One event image of all ``events``. uint8 [H, W, 3]."""
    counts = functional.count_slices(events, sensor_size, np.array([[0, len(events)]]))
    return event_image(counts[0], mode)


def event_images(
    events: np.ndarray,
    sensor_size: tuple[int, int],
    n_frames: int,
    *,
    mode: str = "eclip_rgb",
    slicing: str = "time",
    events_per_window: int | None = None,
    min_events: int | None = None,
    threshold: float = 0.0,
) -> np.ndarray:
    """Cut a stream into ``n_frames`` windows and colourise each: the dataset layer's one call.

    Args:
        events: time-sorted events.
        sensor_size: (width, height).
        n_frames: number of images, at least 1.
        mode: one of :data:`EVENT_IMAGE_MODES`.
        slicing: "time" (equal durations, :func:`count_frames` by time), "count" (equal event
            counts; with ``events_per_window``, E-CLIP's consecutive fixed-size windows padded with
            empty frames) or "afe" (adaptive frames: the AFE leaves that
            :func:`~evclip.representations.afe.pick_leaves` picks, first and last included; the
            dataset readers pick with the same rule).
        events_per_window: window size for ``slicing="count"``.
        min_events: AFE's minimum half size; defaults to N // (4 * n_frames) (at least 1).
        threshold: AFE's split threshold (ExACT uses 0).

    Returns:
        uint8 [n_frames, H, W, 3].
    """
    if n_frames < 1:
        raise ValueError(f"n_frames must be at least 1, got {n_frames}")
    if mode not in _RENDERERS:
        raise ValueError(f"unknown event image mode {mode!r}; known: {', '.join(_RENDERERS)}")
    if slicing == "time":
        counts = functional.count_frames(events, sensor_size, n_frames, by="time")
    elif slicing == "count" and events_per_window is not None:
        counts = functional.count_windows(events, sensor_size, events_per_window, n_frames)
    elif slicing == "count":
        counts = functional.count_frames(events, sensor_size, n_frames, by="count")
    elif slicing == "afe":
        windows = afe_windows(
            events, sensor_size, n_frames, min_events=min_events, threshold=threshold
        )
        counts = functional.count_slices(events, sensor_size, windows)
    else:
        raise ValueError(f"slicing must be 'time', 'count' or 'afe', got {slicing!r}")
    return np.stack([event_image(frame, mode) for frame in counts])  # [T, H, W, 3]
