"""Events to tensors and images: count frames, voxel grids, time surfaces, event images, AFE,
and event filters.

Functions are pure (inputs are never modified) and take a time-sorted events array of
:data:`evclip.io.events.EVENT_DTYPE` plus ``sensor_size = (width, height)``. Inner loops run on
numpy for short streams and as numba kernels, where numba is installed, once a process has handled
enough events to repay numba's start-up (see :mod:`evclip.representations._kernels`); importing
this package never imports numba, and ``EVCLIP_NO_NUMBA=1`` keeps it out altogether.

>>> import numpy as np
>>> from evclip.io import make_events
>>> events = make_events(x=[0, 1, 1], y=[0, 0, 1], t=[0, 10, 20], p=[1, 0, 1])
>>> count_frames(events, (2, 2), n_frames=2).shape
(2, 2, 2, 2)
"""

from evclip.representations._kernels import limit_threads
from evclip.representations.afe import afe_count_frames, afe_frames, halves_difference
from evclip.representations.functional import (
    count_frames,
    count_slices,
    count_windows,
    denoise,
    frames_at_timestamps,
    hot_pixel_mask,
    pixel_counts,
    remove_hot_pixels,
    time_surface,
    voxel_grid,
)
from evclip.representations.images import (
    EVENT_IMAGE_MODES,
    event_image,
    event_image_from_events,
    event_images,
)
from evclip.representations.transforms import (
    REPRESENTATIONS,
    Denoise,
    RemoveHotPixels,
    ToAFEFrames,
    ToCountFrames,
    ToCountWindows,
    ToEventImage,
    ToEventImages,
    ToFramesAtTimestamps,
    ToTimeSurface,
    ToVoxelGrid,
    get_representation,
    list_representations,
)

__all__ = [
    "limit_threads",
    "EVENT_IMAGE_MODES",
    "REPRESENTATIONS",
    "Denoise",
    "RemoveHotPixels",
    "ToAFEFrames",
    "ToCountFrames",
    "ToCountWindows",
    "ToEventImage",
    "ToEventImages",
    "ToFramesAtTimestamps",
    "ToTimeSurface",
    "ToVoxelGrid",
    "afe_count_frames",
    "afe_frames",
    "count_frames",
    "count_slices",
    "count_windows",
    "denoise",
    "event_image",
    "event_image_from_events",
    "event_images",
    "frames_at_timestamps",
    "get_representation",
    "halves_difference",
    "hot_pixel_mask",
    "list_representations",
    "pixel_counts",
    "remove_hot_pixels",
    "time_surface",
    "voxel_grid",
]
