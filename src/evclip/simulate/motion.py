"""Camera motions over a still image: frames an event simulator can turn into events.

``saccade_motion`` reproduces how N-MNIST and N-Caltech101 were recorded (Orchard et al. 2015):
the sensor makes three quick saccades along the sides of an isosceles triangle in front of a
still image, about 100 ms each. ``random_affine_motion`` is the smooth random affine jitter used
to synthesise events from image datasets (as in EZSR). Both warp the image with bilinear
sampling (``torch.nn.functional.grid_sample``), so sub-pixel motion gives smooth intensity ramps.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from evclip.io.events import EventStream
from evclip.simulate.config import MOTIONS, SimulatorConfig
from evclip.simulate.functional import as_tensor
from evclip.simulate.simulator import simulate_frames


def image_to_tensor(image: np.ndarray | torch.Tensor) -> torch.Tensor:
    """An [H, W] or [H, W, 3] image (uint8, or float in [0, 1]) as float32 [C, H, W] in [0, 1]."""
    tensor = as_tensor(image)
    if tensor.dim() == 2:
        tensor = tensor[..., None]
    if tensor.dim() != 3 or tensor.shape[-1] not in (1, 3) or min(tensor.shape[:2]) < 1:
        raise ValueError(f"an image must be [H, W] or [H, W, 3], got {tuple(tensor.shape)}")
    scale = 1.0 if tensor.is_floating_point() else 255.0
    return tensor.permute(2, 0, 1).to(torch.float32) / scale


def _to_frames(warped: torch.Tensor) -> torch.Tensor:
    """[T, C, H, W] -> [T, H, W] grey or [T, H, W, 3] RGB, clipped to [0, 1]."""
    warped = warped.clamp(0.0, 1.0)
    return warped[:, 0] if warped.shape[1] == 1 else warped.permute(0, 2, 3, 1).contiguous()


def _pixel_to_normalised(width: int, height: int) -> torch.Tensor:
    """3x3 map from pixel coordinates to grid_sample's [-1, 1] (align_corners=False)."""
    return torch.tensor(
        [[2.0 / width, 0.0, 1.0 / width - 1.0], [0.0, 2.0 / height, 1.0 / height - 1.0], [0, 0, 1]],
        dtype=torch.float64,
    )


def warp_image(
    image: torch.Tensor, matrices: torch.Tensor, *, padding_mode: str = "zeros"
) -> torch.Tensor:
    """Sample an image through a sequence of affine maps.

    Args:
        image: float [C, H, W].
        matrices: [T, 3, 3] maps from output pixel (x, y, 1) to input pixel coordinates.
        padding_mode: what lies outside the image: "zeros", "border" or "reflection".

    Returns:
        float [T, C, H, W].
    """
    _, height, width = image.shape
    to_norm = _pixel_to_normalised(width, height)
    theta = to_norm @ matrices.to(torch.float64) @ torch.linalg.inv(to_norm)  # [T, 3, 3]
    theta = theta[:, :2].to(image.device, torch.float32)
    n = matrices.shape[0]
    grid = F.affine_grid(theta, [n, 1, height, width], align_corners=False)
    batch = image[None].expand(n, -1, -1, -1)
    return F.grid_sample(
        batch, grid, mode="bilinear", padding_mode=padding_mode, align_corners=False
    )


def place_on_sensor(
    image: torch.Tensor, sensor_size: tuple[int, int], margin: int = 0
) -> torch.Tensor:
    """Resize [C, H, W] to fit inside the sensor less ``margin`` pixels a side, centred on black.

    Returns the image untouched when it already has the sensor's size.
    """
    width, height = sensor_size
    _, h, w = image.shape
    if (w, h) == (width, height):
        return image
    fit = min((width - 2 * margin) / w, (height - 2 * margin) / h)
    if fit <= 0:
        raise ValueError(f"sensor {width}x{height} is too small for a motion margin of {margin}")
    new_w, new_h = max(1, round(w * fit)), max(1, round(h * fit))
    resized = F.interpolate(
        image[None], size=(new_h, new_w), mode="bilinear", antialias=True, align_corners=False
    )[0]
    canvas = torch.zeros((image.shape[0], height, width), dtype=image.dtype, device=image.device)
    top, left = (height - new_h) // 2, (width - new_w) // 2
    canvas[:, top : top + new_h, left : left + new_w] = resized
    return canvas


def saccade_offsets(n_frames: int, amplitude: float) -> torch.Tensor:
    """Camera offsets [T, 2] (x, y) in pixels along the three-saccade triangle.

    The triangle has its apex at the start, its base of length ``amplitude`` one ``amplitude``
    below, and is centred on its centroid so the image stays centred on average. Each saccade
    takes a third of the time at constant speed.
    """
    a = amplitude
    corners = torch.tensor([[0.0, 0.0], [a / 2, a], [-a / 2, a], [0.0, 0.0]], dtype=torch.float64)
    corners = corners - torch.tensor([0.0, 2 * a / 3], dtype=torch.float64)
    s = torch.linspace(0.0, 3.0, n_frames, dtype=torch.float64)  # progress in saccades
    side = s.floor().clamp(max=2).to(torch.int64)
    local = (s - side)[:, None]
    return corners[side] + local * (corners[side + 1] - corners[side])


def _translations(offsets: torch.Tensor) -> torch.Tensor:
    """[T, 3, 3] maps that sample the image ``offset`` pixels away (the camera moved by it)."""
    mats = torch.eye(3, dtype=torch.float64).repeat(offsets.shape[0], 1, 1)
    mats[:, :2, 2] = offsets
    return mats


def saccade_motion(
    image: np.ndarray | torch.Tensor,
    *,
    sensor_size: tuple[int, int] | None = None,
    n_frames: int = 91,
    duration_us: int = 300_000,
    amplitude: float | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Frames of a camera making the N-MNIST / N-Caltech101 three-saccade motion over an image.

    Args:
        image: [H, W] or [H, W, 3], uint8 or float in [0, 1].
        sensor_size: (width, height) of the simulated sensor, e.g. (34, 34) for N-MNIST; None
            keeps the image's size. A different size fits the image inside the sensor, less a
            margin for the motion, on a black background.
        n_frames: frames over the whole motion (including the first).
        duration_us: length of the three saccades together.
        amplitude: size of the triangle in pixels; None means 10% of the smaller sensor side.

    Returns:
        frames: float32 [T, H, W] (grey input) or [T, H, W, 3] (RGB input) in [0, 1];
        timestamps_us: int64 [T], from 0 to ``duration_us``.
    """
    if n_frames < 2 or duration_us < n_frames - 1:
        raise ValueError(
            f"need n_frames >= 2 and duration_us >= n_frames - 1, got {n_frames}, {duration_us}"
        )
    tensor = image_to_tensor(image)
    size = sensor_size or (tensor.shape[2], tensor.shape[1])
    if amplitude is None:
        amplitude = 0.1 * min(size)
    canvas = place_on_sensor(tensor, size, margin=math.ceil(amplitude))
    padding = "reflection" if canvas is tensor else "zeros"
    offsets = saccade_offsets(n_frames, amplitude)  # [T, 2]
    warped = warp_image(canvas, _translations(offsets), padding_mode=padding)
    timestamps = torch.round(torch.linspace(0, duration_us, n_frames, dtype=torch.float64))
    return _to_frames(warped), timestamps.to(torch.int64)


def _smooth_path(keyframes: torch.Tensor, n_frames: int) -> torch.Tensor:
    """Interpolate [K, D] keyframes to [n_frames, D] with cosine easing between neighbours."""
    s = torch.linspace(0.0, keyframes.shape[0] - 1, n_frames, dtype=torch.float64)
    left = s.floor().clamp(max=keyframes.shape[0] - 2).to(torch.int64)
    local = s - left
    ease = ((1 - torch.cos(math.pi * local)) / 2)[:, None]
    return keyframes[left] + ease * (keyframes[left + 1] - keyframes[left])


def random_affine_motion(
    image: np.ndarray | torch.Tensor,
    *,
    sensor_size: tuple[int, int] | None = None,
    n_frames: int = 61,
    duration_us: int = 300_000,
    max_shift: float | None = None,
    max_rotation_deg: float = 10.0,
    max_scale: float = 0.1,
    n_keyframes: int = 4,
    seed: int = 0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Frames of a smooth random affine motion (shift, rotation, zoom) starting at the image.

    The first keyframe is the identity; ``n_keyframes - 1`` more are drawn uniformly within the
    limits and joined with cosine easing.

    Args:
        image: [H, W] or [H, W, 3], uint8 or float in [0, 1].
        sensor_size: (width, height); None keeps the image's size (see :func:`saccade_motion`).
        n_frames: frames over the whole motion.
        duration_us: length of the motion.
        max_shift: largest shift in pixels; None means 5% of the smaller sensor side.
        max_rotation_deg: largest rotation about the centre, degrees.
        max_scale: largest relative zoom (scale drawn in [1 - max_scale, 1 + max_scale]).
        n_keyframes: poses along the path, the identity included (at least 2).
        seed: seed of the draw.

    Returns:
        frames: float32 [T, H, W] or [T, H, W, 3] in [0, 1]; timestamps_us: int64 [T].
    """
    if n_frames < 2 or duration_us < n_frames - 1 or n_keyframes < 2:
        raise ValueError("need n_frames >= 2, duration_us >= n_frames - 1 and n_keyframes >= 2")
    if not 0 <= max_scale < 1:
        raise ValueError(f"max_scale must be in [0, 1), got {max_scale}")
    tensor = image_to_tensor(image)
    size = sensor_size or (tensor.shape[2], tensor.shape[1])
    shift = 0.05 * min(size) if max_shift is None else max_shift
    gen = torch.Generator().manual_seed(int(seed))
    draws = torch.rand((n_keyframes - 1, 4), generator=gen, dtype=torch.float64) * 2 - 1
    limits = torch.tensor([shift, shift, math.radians(max_rotation_deg), max_scale])
    keyframes = torch.cat([torch.zeros(1, 4, dtype=torch.float64), draws * limits])
    path = _smooth_path(keyframes, n_frames)  # [T, 4]: shift x, shift y, angle, zoom - 1
    canvas = place_on_sensor(tensor, size, margin=math.ceil(shift))
    padding = "reflection" if canvas is tensor else "zeros"
    centre = torch.tensor([(size[0] - 1) / 2, (size[1] - 1) / 2], dtype=torch.float64)
    cos, sin, zoom = torch.cos(path[:, 2]), torch.sin(path[:, 2]), 1 + path[:, 3]
    mats = torch.eye(3, dtype=torch.float64).repeat(n_frames, 1, 1)
    # the content moves by q = centre + zoom * R (p - centre) + shift; sampling needs its inverse
    # p = centre + R^T (q - centre - shift) / zoom
    mats[:, 0, 0], mats[:, 0, 1] = cos / zoom, sin / zoom
    mats[:, 1, 0], mats[:, 1, 1] = -sin / zoom, cos / zoom
    origin = centre[None] + path[:, :2]
    mats[:, :2, 2] = centre[None] - torch.einsum("tij,tj->ti", mats[:, :2, :2], origin)
    warped = warp_image(canvas, mats, padding_mode=padding)
    timestamps = torch.round(torch.linspace(0, duration_us, n_frames, dtype=torch.float64))
    return _to_frames(warped), timestamps.to(torch.int64)


def simulate_image(
    image: np.ndarray | torch.Tensor,
    motion: str = "saccade",
    config: SimulatorConfig | None = None,
    *,
    sensor_size: tuple[int, int] | None = None,
    n_frames: int | None = None,
    duration_us: int = 300_000,
    device: str | torch.device | None = None,
    **motion_options: float | int,
) -> EventStream:
    """Events of a simulated camera moving over a still image.

    Args:
        image: [H, W] or [H, W, 3], uint8 or float in [0, 1].
        motion: "saccade" (:func:`saccade_motion`) or "affine" (:func:`random_affine_motion`,
            seeded by ``config.seed`` unless ``seed`` is given).
        config: the sensor model.
        sensor_size: (width, height); None keeps the image's size.
        n_frames: frames of the motion; None uses the motion's default.
        duration_us: length of the motion.
        device: where to simulate.
        **motion_options: passed to the motion function (``amplitude``, ``max_shift``, ...).
    """
    config = config if config is not None else SimulatorConfig()
    options = dict(motion_options)
    if n_frames is not None:
        options["n_frames"] = n_frames
    if motion == "saccade":
        frames, ts = saccade_motion(
            image, sensor_size=sensor_size, duration_us=duration_us, **options
        )
    elif motion == "affine":
        options.setdefault("seed", config.seed)
        frames, ts = random_affine_motion(
            image, sensor_size=sensor_size, duration_us=duration_us, **options
        )
    else:
        raise ValueError(f"unknown motion {motion!r}; known: {', '.join(MOTIONS)}")
    return simulate_frames(frames, ts, config, device=device)
