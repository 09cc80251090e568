"""Transform objects: frozen dataclasses holding the parameters, each calling one function.

Every transform is called as ``transform(events, sensor_size)``. They are registered by short
names in :data:`REPRESENTATIONS`, so configs can name them:

>>> to_frames = get_representation("count_frames", n_frames=8)
>>> to_frames.n_frames
8
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from evclip.registry import Registry
from evclip.representations import afe, functional, images

#: Representation transforms by short name.
REPRESENTATIONS: Registry[type] = Registry("representation")


@REPRESENTATIONS.register("count_frames")
@dataclass(frozen=True)
class ToCountFrames:
    """:func:`~evclip.representations.count_frames` -> int32 [n_frames, 2, H, W]."""

    n_frames: int
    by: str = "time"
    overlap: float = 0.0

    def __call__(self, events: np.ndarray, sensor_size: tuple[int, int]) -> np.ndarray:
        return functional.count_frames(
            events, sensor_size, self.n_frames, self.by, overlap=self.overlap
        )


@REPRESENTATIONS.register("frames_at_timestamps")
@dataclass(frozen=True)
class ToFramesAtTimestamps:
    """:func:`~evclip.representations.frames_at_timestamps` -> int32 [M - 1, 2, H, W]."""

    timestamps: tuple[int, ...]

    def __call__(self, events: np.ndarray, sensor_size: tuple[int, int]) -> np.ndarray:
        return functional.frames_at_timestamps(events, sensor_size, np.asarray(self.timestamps))


@REPRESENTATIONS.register("count_windows")
@dataclass(frozen=True)
class ToCountWindows:
    """:func:`~evclip.representations.count_windows` -> int32 [n_windows, 2, H, W]."""

    events_per_window: int
    n_windows: int

    def __call__(self, events: np.ndarray, sensor_size: tuple[int, int]) -> np.ndarray:
        return functional.count_windows(events, sensor_size, self.events_per_window, self.n_windows)


@REPRESENTATIONS.register("voxel_grid")
@dataclass(frozen=True)
class ToVoxelGrid:
    """:func:`~evclip.representations.voxel_grid` -> float32 [n_bins, H, W]."""

    n_bins: int
    tonic_time_scale: bool = True

    def __call__(self, events: np.ndarray, sensor_size: tuple[int, int]) -> np.ndarray:
        return functional.voxel_grid(
            events, sensor_size, self.n_bins, tonic_time_scale=self.tonic_time_scale
        )


@REPRESENTATIONS.register("time_surface")
@dataclass(frozen=True)
class ToTimeSurface:
    """:func:`~evclip.representations.time_surface` -> float32 [2, H, W]."""

    tau_us: float
    t_ref: int | None = None

    def __call__(self, events: np.ndarray, sensor_size: tuple[int, int]) -> np.ndarray:
        return functional.time_surface(events, sensor_size, self.tau_us, t_ref=self.t_ref)


@REPRESENTATIONS.register("event_image")
@dataclass(frozen=True)
class ToEventImage:
    """:func:`~evclip.representations.event_image_from_events` -> uint8 [H, W, 3]."""

    mode: str = "eclip_rgb"

    def __call__(self, events: np.ndarray, sensor_size: tuple[int, int]) -> np.ndarray:
        return images.event_image_from_events(events, sensor_size, self.mode)


@REPRESENTATIONS.register("event_images")
@dataclass(frozen=True)
class ToEventImages:
    """:func:`~evclip.representations.event_images` -> uint8 [n_frames, H, W, 3]."""

    n_frames: int
    mode: str = "eclip_rgb"
    slicing: str = "time"
    events_per_window: int | None = None
    min_events: int | None = None
    threshold: float = 0.0

    def __call__(self, events: np.ndarray, sensor_size: tuple[int, int]) -> np.ndarray:
        return images.event_images(
            events,
            sensor_size,
            self.n_frames,
            mode=self.mode,
            slicing=self.slicing,
            events_per_window=self.events_per_window,
            min_events=self.min_events,
            threshold=self.threshold,
        )


@REPRESENTATIONS.register("afe_frames")
@dataclass(frozen=True)
class ToAFEFrames:
    """:func:`~evclip.representations.afe_count_frames` -> int32 [n_leaves, 2, H, W]."""

    min_events: int
    threshold: float = 0.0
    max_depth: int = 8

    def __call__(self, events: np.ndarray, sensor_size: tuple[int, int]) -> np.ndarray:
        return afe.afe_count_frames(
            events,
            sensor_size,
            min_events=self.min_events,
            threshold=self.threshold,
            max_depth=self.max_depth,
        )


@REPRESENTATIONS.register("denoise")
@dataclass(frozen=True)
class Denoise:
    """:func:`~evclip.representations.denoise` -> the supported events."""

    filter_time_us: float
    connectivity: int = 8

    def __call__(self, events: np.ndarray, sensor_size: tuple[int, int]) -> np.ndarray:
        return functional.denoise(
            events, sensor_size, filter_time_us=self.filter_time_us, connectivity=self.connectivity
        )


@REPRESENTATIONS.register("remove_hot_pixels")
@dataclass(frozen=True)
class RemoveHotPixels:
    """:func:`~evclip.representations.remove_hot_pixels` -> the events of the other pixels."""

    rate_threshold_hz: float | None = None
    quantile: float | None = None

    def __call__(self, events: np.ndarray, sensor_size: tuple[int, int]) -> np.ndarray:
        return functional.remove_hot_pixels(
            events, sensor_size, rate_threshold_hz=self.rate_threshold_hz, quantile=self.quantile
        )


def get_representation(name: str, **kwargs: Any) -> Any:
    """Build the transform registered as ``name`` with ``kwargs`` as its parameters.

    Raises:
        KeyError: for an unknown name (the message lists the known ones).
    """
    return REPRESENTATIONS.get(name)(**kwargs)


def list_representations() -> list[str]:
    """Registered representation names, sorted."""
    return REPRESENTATIONS.names()
