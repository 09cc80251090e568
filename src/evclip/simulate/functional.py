"""Pure torch kernels of the event simulator.

Every function takes tensors and returns new ones; none modifies its inputs. Pixel state is kept
flat: a batch of B frames of H x W pixels is a tensor of B * H * W values, and an event names its
pixel by its index in that flat layout.
"""

from __future__ import annotations

import math

import numpy as np
import torch

LUMA_WEIGHTS = (0.299, 0.587, 0.114)  # ITU-R BT.601, on gamma-encoded values
LINEAR_LUMA_WEIGHTS = (0.2126, 0.7152, 0.0722)  # ITU-R BT.709, on linear sRGB light


def as_tensor(array: np.ndarray | torch.Tensor) -> torch.Tensor:
    """A tensor sharing memory with ``array`` where torch allows (read-only arrays are copied)."""
    if isinstance(array, torch.Tensor):
        return array
    array = np.asarray(array)
    return torch.from_numpy(array if array.flags.writeable else array.copy())


def flatnonzero(values: torch.Tensor) -> torch.Tensor:
    """int64 indices of the non-zero entries of a 1-D tensor, ascending.

    On the CPU numpy's scan is several times faster than ``torch.nonzero``.
    """
    if values.device.type == "cpu":
        return torch.from_numpy(np.flatnonzero(values.numpy() != 0))
    return torch.nonzero(values).squeeze(1)


def argsort_stable(keys: torch.Tensor) -> torch.Tensor:
    """Stable argsort of 1-D integer keys (equal keys keep their order).

    On the CPU this uses numpy, whose radix sort handles keys below 2**16 in linear time;
    elsewhere ``torch.sort(stable=True)``. Every path gives the same order.
    """
    if keys.device.type != "cpu":
        return torch.sort(keys, stable=True).indices
    array = keys.numpy()
    if array.size and array.min() >= 0 and array.max() < 2**16:
        array = array.astype(np.uint16)
    return torch.from_numpy(np.argsort(array, kind="stable"))


def to_intensity(
    frames: torch.Tensor,
    max_intensity: float | None = None,
    *,
    rgb: bool = False,
    linear_light: bool = False,
) -> torch.Tensor:
    """Scale frames to float32 intensities in [0, 1], converting RGB to luma.

    Args:
        frames: [..., H, W] grey or, with ``rgb``, [..., H, W, 3] RGB; integer or float.
        max_intensity: the value of white; None means 255 for integers, 1.0 for floats.
        rgb: whether the last dimension holds R, G, B.
        linear_light: read the values as sRGB-encoded and return linear light: every channel
            goes through the sRGB transfer curve before the BT.709 luma of linear light is
            taken. Without it, the BT.601 luma of the encoded values is returned.

    Raises:
        ValueError: for negative, non-finite or out-of-range values.
    """
    if frames.dtype == torch.bool or frames.is_complex():
        raise ValueError(f"frames must be integer or float, got {frames.dtype}")
    integer = not frames.is_floating_point()
    white = max_intensity if max_intensity is not None else (255.0 if integer else 1.0)
    out = frames.to(torch.float32)
    if rgb and out.shape[-1] != 3:
        raise ValueError(f"RGB frames need a last dimension of 3, got shape {tuple(out.shape)}")
    if rgb and not linear_light:
        out = out @ torch.tensor(LUMA_WEIGHTS, dtype=torch.float32, device=out.device)
    if not integer and not bool(torch.isfinite(out).all()):
        raise ValueError("frames hold non-finite values")
    low, high = torch.aminmax(out)
    low, high = float(low), float(high)
    if low < 0:
        raise ValueError(f"frames hold negative intensities (min {low})")
    if high > white * (1 + 1e-6):
        hint = " (float frames are read as [0, 1]; set max_intensity=255 for [0, 255])"
        raise ValueError(f"frames exceed the white level {white} (max {high}){hint}")
    out = out / white
    if linear_light:
        out = srgb_to_linear(out.clamp_(max=1.0))
        if rgb:
            weights = torch.tensor(LINEAR_LUMA_WEIGHTS, dtype=torch.float32, device=out.device)
            out = out @ weights  # [..., H, W]
    return out


def srgb_to_linear(encoded: torch.Tensor) -> torch.Tensor:
    """Linear light of sRGB-encoded values in [0, 1] (the IEC 61966-2-1 transfer curve)."""
    low = encoded / 12.92
    high = ((encoded + 0.055) / 1.055).pow_(2.4)
    return torch.where(encoded <= 0.04045, low, high)


def lin_log(intensity: torch.Tensor, threshold: float) -> torch.Tensor:
    """v2e's lin-log curve of intensities in [0, 1], in v2e's units (8-bit levels).

    With ``x = 255 * intensity`` and ``c = 255 * threshold`` this is ``ln(x)`` above ``c`` and
    the straight line ``x * ln(c) / c`` from black up to it: continuous at ``c``, and free of the
    huge log contrast that one quantisation step of a near-black pixel would otherwise have.
    """
    level = intensity * 255.0
    cut = threshold * 255.0
    dark = level <= cut
    linear = level * (math.log(cut) / cut)
    return torch.where(dark, linear, torch.log(level.clamp_(min=cut)))  # clamp: no log(0)


def log_intensity(intensity: torch.Tensor, eps: float) -> torch.Tensor:
    """``log(I + eps)`` of intensities in [0, 1]."""
    return torch.log(intensity + eps)


def lowpass_log(
    previous: torch.Tensor,
    target: torch.Tensor,
    intensity: torch.Tensor,
    dt_s: torch.Tensor,
    cutoff_hz: float,
) -> torch.Tensor:
    """One step of the photoreceptor's first-order low-pass filter (v2e's model).

    The time constant ``1 / (2 pi cutoff_hz)`` belongs to a white pixel; darker pixels are
    slower in proportion to their intensity, as a real photoreceptor is.

    Args:
        previous: filtered log intensity [N] at the previous frame.
        target: unfiltered log intensity [N] now.
        intensity: intensity [N] in [0, 1] now.
        dt_s: seconds since the previous frame, [N] or broadcastable.
        cutoff_hz: bandwidth of a white pixel.
    """
    tau = 1.0 / (2.0 * math.pi * cutoff_hz)
    speed = (intensity + 0.08) / 1.08  # keep black pixels from freezing entirely
    alpha = (speed * dt_s / tau).clamp(max=1.0)
    return previous + alpha * (target - previous)


def draw_thresholds(
    shape: tuple[int, ...], mean: float, sigma: float, generator: torch.Generator
) -> torch.Tensor:
    """Per-pixel thresholds N(mean, sigma) clipped to at least 0.01 (float32, on the CPU)."""
    noise = torch.randn(shape, generator=generator, dtype=torch.float32)
    return (mean + sigma * noise).clamp(min=0.01)


def crossing_events(
    d0: torch.Tensor, d1: torch.Tensor, pos_threshold: torch.Tensor, neg_threshold: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Threshold crossings of a log-intensity difference that moves linearly from d0 to d1.

    ``d = log I - reference`` for every pixel. ON events fire where d crosses
    ``pos_threshold, 2 * pos_threshold, ...`` on the way to d1, OFF events where it crosses
    ``-neg_threshold, -2 * neg_threshold, ...``; so a pixel fires
    ``k = floor(|d1| / threshold)`` events, at the fractions of the interval where the straight
    line from d0 to d1 passes each level (ESIM's rule).

    Args:
        d0: difference [N] at the start of the interval (inside (-neg, pos) after a reset).
        d1: difference [N] at the end of the interval.
        pos_threshold: [N] per-pixel ON thresholds.
        neg_threshold: [N] per-pixel OFF thresholds.

    Returns:
        pixel: int64 [E] flat pixel index of each event (grouped by pixel, in crossing order).
        fraction: float32 [E] position of each crossing in the interval, in [0, 1].
        on: bool [E] polarity.
        reference_change: float32 [N] how far each reference level moves (``+-k * threshold``).
    """
    # branch-free on the full frame: comparisons and torch.where cost more than arithmetic here
    pos_k = torch.floor(d1 / pos_threshold).clamp_(min=0)
    neg_k = torch.floor(torch.neg(d1) / neg_threshold).clamp_(min=0)
    reference_change = pos_k * pos_threshold - neg_k * neg_threshold
    counts_all = pos_k + neg_k  # k per pixel, as float (one of the two is 0)
    pixel = flatnonzero(counts_all)  # [P] pixels that fire
    counts = counts_all.index_select(0, pixel)
    end = d1.index_select(0, pixel)
    on = end > 0
    threshold = reference_change.index_select(0, pixel).abs_() / counts
    sign = torch.sign(end)
    start = d0.index_select(0, pixel) * sign  # both directions become a rise from start ...
    span = (end * sign - start).clamp_(min=1e-12)  # ... to start + span
    first = (threshold - start) / span  # fraction of the interval at the first crossing
    step = threshold / span  # fraction between crossings
    counts = counts.to(torch.int64)
    if pixel.numel() == 0 or int(counts.max()) == 1:  # one crossing each: nothing to expand
        return pixel, first.clamp_(0.0, 1.0), on, reference_change
    owner = torch.repeat_interleave(counts)  # [E] which firing pixel each event belongs to
    offsets = torch.cumsum(counts, 0) - counts
    index = torch.arange(owner.numel(), device=d1.device) - offsets.index_select(0, owner)
    fraction = first.index_select(0, owner) + index.to(torch.float32) * step.index_select(0, owner)
    return (
        pixel.index_select(0, owner),
        fraction.clamp_(0.0, 1.0),
        on.index_select(0, owner),
        reference_change,
    )


def poisson_noise_events(
    n_pixels: int, rate_hz: float, dt_s: float, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Shot noise: Poisson events at ``rate_hz`` per pixel over ``dt_s`` seconds, random polarity.

    A sum of independent per-pixel Poisson processes is one Poisson process whose events land on
    uniformly chosen pixels, which is how they are drawn here (on the CPU).

    Returns:
        pixel: int64 [E] index in ``range(n_pixels)``; fraction: float32 [E] in [0, 1);
        on: bool [E].
    """
    mean = torch.tensor([rate_hz * dt_s * n_pixels], dtype=torch.float64)
    n = int(torch.poisson(mean, generator=generator).item())
    pixel = torch.randint(0, n_pixels, (n,), generator=generator)
    fraction = torch.rand(n, generator=generator)
    on = torch.rand(n, generator=generator) < 0.5
    return pixel, fraction, on


def hot_pixel_events(
    hot_pixels: torch.Tensor, rate_hz: float, dt_s: float, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """ON events of hot pixels, each firing as a Poisson process at ``rate_hz`` (on the CPU).

    Args:
        hot_pixels: int64 [P] flat indices of the hot pixels.

    Returns:
        pixel: int64 [E]; fraction: float32 [E] in [0, 1); on: bool [E] (all True).
    """
    rates = torch.full((hot_pixels.numel(),), rate_hz * dt_s, dtype=torch.float64)
    counts = torch.poisson(rates, generator=generator).to(torch.int64)
    pixel = torch.repeat_interleave(hot_pixels, counts)
    fraction = torch.rand(pixel.numel(), generator=generator)
    return pixel, fraction, torch.ones(pixel.numel(), dtype=torch.bool)


def refractory_filter(
    pixel: torch.Tensor, t: torch.Tensor, last_t: torch.Tensor, refractory_us: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Drop events closer than ``refractory_us`` to the previous emitted event of their pixel.

    Events are taken in time order per pixel (ties in the order given); a dropped event does not
    restart the dead time.
    The loop runs over the rank of an event within its pixel (the most events one pixel has in
    this batch), each round a vectorised comparison over all pixels at once.

    Args:
        pixel: int64 [E] flat pixel index of each event.
        t: int64 [E] timestamps (microseconds).
        last_t: int64 [N] time of each pixel's last emitted event before these.
        refractory_us: the dead time.

    Returns:
        keep: bool [E] which events survive; new_last_t: int64 [N] updated copy of ``last_t``.
    """
    new_last = last_t.clone()
    keep = torch.zeros(pixel.numel(), dtype=torch.bool, device=pixel.device)
    if pixel.numel() == 0:
        return keep, new_last
    span = int(t.max() - t.min()) + 1
    order = argsort_stable(pixel * span + (t - t.min()))  # by pixel, then time, then as given
    sorted_pixel = pixel[order]
    position = torch.arange(order.numel(), device=pixel.device)
    is_first = torch.ones_like(sorted_pixel, dtype=torch.bool)
    is_first[1:] = sorted_pixel[1:] != sorted_pixel[:-1]
    group_start = torch.where(is_first, position, torch.zeros_like(position))
    rank = position - torch.cummax(group_start, 0).values  # 0 for each pixel's first event
    by_rank = order[argsort_stable(rank)]
    sizes = torch.bincount(rank).tolist()
    begin = 0
    for size in sizes:
        chunk = by_rank[begin : begin + size]  # at most one event per pixel
        begin += size
        chunk_pixel, chunk_t = pixel[chunk], t[chunk]
        ok = chunk_t - new_last[chunk_pixel] >= refractory_us
        keep[chunk[ok]] = True
        new_last[chunk_pixel[ok]] = chunk_t[ok]
    return keep, new_last
