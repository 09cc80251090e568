"""Image preprocessing for CLIP in torch: resize (shorter side), centre crop, normalise.

Pure functions; no torchvision and no PIL, so the work runs on the model's device.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F

OPENAI_MEAN = (0.48145466, 0.4578275, 0.40821073)
OPENAI_STD = (0.26862954, 0.26130258, 0.27577711)


def to_channels_first(images: torch.Tensor | np.ndarray) -> torch.Tensor:
    """Returns images as a tensor [..., 3, H, W], accepting [..., H, W, 3] or [..., 3, H, W].

    When both the third-from-last and the last axis have length 3 the input is read as
    channels-first (torch's convention).
    """
    tensor = torch.as_tensor(images)
    if tensor.ndim < 3:
        raise ValueError(
            "images need at least 3 axes ([..., H, W, 3] or [..., 3, H, W]), "
            f"got shape {tuple(tensor.shape)}"
        )
    if tensor.shape[-3] == 3:
        return tensor
    if tensor.shape[-1] == 3:
        return tensor.movedim(-1, -3)
    raise ValueError(f"images must have 3 channels first or last, got shape {tuple(tensor.shape)}")


def resize_shorter_side(pixels: torch.Tensor, size: int) -> torch.Tensor:
    """Bicubic resize of float [N, 3, H, W] so that the shorter side is ``size`` (antialiased)."""
    height, width = pixels.shape[-2:]
    scale = size / min(height, width)
    new_height = max(size, round(height * scale))
    new_width = max(size, round(width * scale))
    if (new_height, new_width) == (height, width):
        return pixels
    resized = F.interpolate(
        pixels, size=(new_height, new_width), mode="bicubic", align_corners=False, antialias=True
    )
    return resized.clamp_(0.0, 1.0)


def center_crop(pixels: torch.Tensor, size: int) -> torch.Tensor:
    """Central ``size`` x ``size`` crop of [..., H, W] (H, W >= size)."""
    height, width = pixels.shape[-2:]
    top = (height - size) // 2
    left = (width - size) // 2
    return pixels[..., top : top + size, left : left + size]


def normalize(pixels: torch.Tensor, mean: Sequence[float], std: Sequence[float]) -> torch.Tensor:
    """(pixels - mean) / std per channel of [..., 3, H, W]."""
    shape = (3, 1, 1)
    mean_t = torch.tensor(mean, dtype=pixels.dtype, device=pixels.device).view(shape)
    std_t = torch.tensor(std, dtype=pixels.dtype, device=pixels.device).view(shape)
    return (pixels - mean_t) / std_t


def preprocess_images(
    images: torch.Tensor | np.ndarray,
    *,
    size: int,
    mean: Sequence[float] = OPENAI_MEAN,
    std: Sequence[float] = OPENAI_STD,
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """CLIP preprocessing of a batch of images.

    Args:
        images: uint8 [..., H, W, 3] or [..., 3, H, W] (numpy or torch), or floats in [0, 1].
        size: output side S (the model's input resolution).
        mean: per-channel mean of the normalisation.
        std: per-channel standard deviation of the normalisation.
        device: where the work happens (the model's device); the input is moved there first
            while still uint8.
        dtype: dtype of the result.

    Returns:
        Normalised float tensor [..., 3, S, S] (leading axes kept).
    """
    pixels = to_channels_first(images)
    if device is not None:
        pixels = pixels.to(device)
    lead = pixels.shape[:-3]
    pixels = pixels.reshape(-1, *pixels.shape[-3:])  # (N, 3, H, W)
    if pixels.dtype == torch.uint8:
        pixels = pixels.float().div_(255.0)
    elif pixels.is_floating_point():
        pixels = pixels.float()
    else:
        raise ValueError(f"images must be uint8 or float in [0, 1], got {pixels.dtype}")
    pixels = center_crop(resize_shorter_side(pixels, size), size)
    pixels = normalize(pixels, mean, std)
    return pixels.reshape(*lead, 3, size, size).to(dtype)
