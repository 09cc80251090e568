"""Pure kernels that render evclip's synthetic benchmark world and photograph it with an RGB camera.

The world: a coloured handwritten digit (scikit-learn's 8x8 digits, upscaled and smoothed) on a
conveyor belt running fast over a grey texture (scikit-image's sample photographs). Every colour
has the same luma (ITU-R BT.601 weights), so the grey video that feeds the event simulator is
identical whatever the colour: events carry no colour by construction, not by decree.

The belt carries identical items at a pitch of one field of view, so the scene is periodic in
space (the view is a torus: what leaves on the left enters on the right) and, moving at constant
speed, periodic in time with period ``pitch / speed``. The RGB camera's exposure lasts exactly
one such period (an exposure locked to the line's encoder, as industrial cameras lock theirs to
a multiple of the mains period to stop lights flickering). A photograph is the time integral of
the scene over its exposure, and the integral of a periodic signal over a whole period does not
depend on where the period starts nor on which way it runs: every pixel sees one item pass, and
the frame holds the same streak whether the belt runs left or right (temporal aliasing of a slow
camera). The streak keeps only the ink's profile across the motion, not the digit's shape. The
event camera, with microsecond timing, sees each edge pass: the leading edge of the bright ink
fires ON events and the trailing edge OFF ones, so the time order and polarity of events give
away direction and shape. On top of the aliasing the RGB camera also suffers too little or too
much light (gain, clipping), shot and read noise, and 8-bit gamma coding.

Every function here is pure: it takes arrays and returns new arrays.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

# BT.601 luma weights; the simulator is fed luma computed with these weights.
LUMA_WEIGHTS = np.array([0.299, 0.587, 0.114])

DIGIT_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")

# Hue directions (unit RGB) of the object colours; see :func:`isoluminant_colour`.
COLOUR_HUES: dict[str, tuple[float, float, float]] = {
    "red": (1.0, 0.0, 0.0),
    "green": (0.0, 1.0, 0.0),
    "blue": (0.0, 0.0, 1.0),
    "yellow": (1.0, 1.0, 0.0),
    "magenta": (1.0, 0.0, 1.0),
    "cyan": (0.0, 1.0, 1.0),
}

# Unit direction (dx, dy) in image coordinates (y points down).
MOTION_DIRECTIONS: dict[str, tuple[float, float]] = {
    "left": (-1.0, 0.0),
    "right": (1.0, 0.0),
    "up": (0.0, -1.0),
    "down": (0.0, 1.0),
}

# skimage.data loader name -> the words captions use for it. All ship inside the wheel.
BACKGROUNDS: dict[str, str] = {
    "brick": "bricks",
    "grass": "grass",
    "gravel": "gravel",
    "moon": "rock",
}


def isoluminant_colour(hue: str, luma: float, max_saturation: float = 150.0) -> np.ndarray:
    """An RGB colour (float [3], 0..255) of the given hue whose BT.601 luma is exactly ``luma``.

    The colour is ``luma + s * (h - luma(h))``: the chroma offset has zero luma, and ``s`` is the
    largest value up to ``max_saturation`` that keeps every channel inside [0, 255].
    """
    if hue not in COLOUR_HUES:
        raise ValueError(f"unknown colour {hue!r}; known: {', '.join(COLOUR_HUES)}")
    direction = np.asarray(COLOUR_HUES[hue], dtype=np.float64)
    offset = direction - float(LUMA_WEIGHTS @ direction)  # luma(offset) == 0
    limits = [max_saturation]
    for value in offset:
        if value > 0:
            limits.append((255.0 - luma) / value)
        elif value < 0:
            limits.append(luma / -value)
    return luma + min(limits) * offset


def rgb_to_luma(rgb: np.ndarray) -> np.ndarray:
    """BT.601 luma of ``rgb`` [..., 3] (any float scale) -> [...]."""
    return np.asarray(rgb, dtype=np.float64) @ LUMA_WEIGHTS


def _gaussian_kernel(sigma: float) -> np.ndarray:
    radius = max(1, int(np.ceil(3 * sigma)))
    x = np.arange(-radius, radius + 1, dtype=np.float64)
    kernel = np.exp(-0.5 * (x / sigma) ** 2)
    return kernel / kernel.sum()


def gaussian_blur(image: np.ndarray, sigma: float) -> np.ndarray:
    """Separable Gaussian blur of a 2-D array with edge padding (returns float64 [H, W])."""
    image = np.asarray(image, dtype=np.float64)
    if sigma <= 0:
        return image.copy()
    kernel = _gaussian_kernel(sigma)
    r = kernel.size // 2
    padded = np.pad(image, r, mode="edge")
    rows = sum(k * padded[:, i : i + image.shape[1]] for i, k in enumerate(kernel))
    return sum(k * rows[i : i + image.shape[0], :] for i, k in enumerate(kernel))


def resize_bilinear(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """Resize a 2-D array with bilinear interpolation (pixel centres aligned) -> float64 [h, w]."""
    image = np.asarray(image, dtype=np.float64)
    in_h, in_w = image.shape
    ys = np.clip((np.arange(height) + 0.5) * in_h / height - 0.5, 0, in_h - 1)
    xs = np.clip((np.arange(width) + 0.5) * in_w / width - 0.5, 0, in_w - 1)
    y0, x0 = np.floor(ys).astype(int), np.floor(xs).astype(int)
    y1, x1 = np.minimum(y0 + 1, in_h - 1), np.minimum(x0 + 1, in_w - 1)
    fy, fx = (ys - y0)[:, None], (xs - x0)[None, :]
    top = image[y0][:, x0] * (1 - fx) + image[y0][:, x1] * fx
    bottom = image[y1][:, x0] * (1 - fx) + image[y1][:, x1] * fx
    return top * (1 - fy) + bottom * fy


def digit_mask(digit_image: np.ndarray, size: int) -> np.ndarray:
    """Turn an 8x8 scikit-learn digit (0..16) into a smooth alpha mask float [size, size] in [0, 1].

    Bilinear upscaling keeps the blocky 8x8 structure; a Gaussian blur of about a source pixel
    rounds it into strokes and a soft threshold gives them solid ink with anti-aliased edges.
    """
    if size < 8:
        raise ValueError(f"digit size must be at least 8 px, got {size}")
    image = np.asarray(digit_image, dtype=np.float64) / 16.0
    big = gaussian_blur(resize_bilinear(image, size, size), sigma=size / 16.0)
    return np.clip((big - 0.3) / 0.3, 0.0, 1.0)


def place_mask(
    mask: np.ndarray,
    centre_xy: tuple[float, float],
    canvas_hw: tuple[int, int],
    *,
    wrap: bool = False,
) -> np.ndarray:
    """Paste ``mask`` [h, w] onto a zero canvas [H, W] centred at a sub-pixel position.

    Sub-pixel placement is a bilinear split of the mask over its four integer neighbours, so the
    mask moves smoothly between sub-frames. Parts outside the canvas are cut off, or with
    ``wrap`` enter again on the opposite side (a scene repeating at a pitch of one canvas).
    """
    height, width = canvas_hw
    h, w = mask.shape
    left = centre_xy[0] - (w - 1) / 2.0
    top = centre_xy[1] - (h - 1) / 2.0
    ix, iy = int(np.floor(left)), int(np.floor(top))
    fx, fy = left - ix, top - iy
    padded = np.zeros((h + 1, w + 1))
    for dy, wy in ((0, 1 - fy), (1, fy)):
        for dx, wx in ((0, 1 - fx), (1, fx)):
            padded[dy : dy + h, dx : dx + w] += wy * wx * mask
    canvas = np.zeros((height, width))
    if wrap:
        rows = (iy + np.arange(h + 1)) % height
        cols = (ix + np.arange(w + 1)) % width
        np.add.at(canvas, (rows[:, None], cols[None, :]), padded)
        return canvas
    y0, x0 = max(iy, 0), max(ix, 0)
    y1, x1 = min(iy + h + 1, height), min(ix + w + 1, width)
    if y1 > y0 and x1 > x0:
        canvas[y0:y1, x0:x1] = padded[y0 - iy : y1 - iy, x0 - ix : x1 - ix]
    return canvas


@lru_cache(maxsize=8)
def _texture(name: str) -> np.ndarray:
    import skimage.data

    image = getattr(skimage.data, name)()
    if image.ndim == 3:
        image = rgb_to_luma(image[..., :3])
    texture = np.asarray(image, dtype=np.float64)
    texture.setflags(write=False)
    return texture


def background_crop(
    name: str,
    canvas_hw: tuple[int, int],
    rng: np.random.Generator,
    *,
    mean: float,
    contrast: float,
) -> np.ndarray:
    """A random crop of a scikit-image sample texture, normalised to ``mean`` and std ``contrast``.

    Returns:
        float64 [H, W] grey levels in [0, 255].
    """
    if name not in BACKGROUNDS:
        raise ValueError(f"unknown background {name!r}; known: {', '.join(BACKGROUNDS)}")
    texture = _texture(name)
    height, width = canvas_hw
    crop = int(rng.integers(2 * max(height, width), 4 * max(height, width) + 1))
    crop = min(crop, *texture.shape)
    y = int(rng.integers(0, texture.shape[0] - crop + 1))
    x = int(rng.integers(0, texture.shape[1] - crop + 1))
    patch = resize_bilinear(
        gaussian_blur(texture[y : y + crop, x : x + crop], crop / height / 2), height, width
    )
    patch = (patch - patch.mean()) / max(patch.std(), 1e-6)
    return np.clip(mean + contrast * patch, 0.0, 255.0)


@dataclass(frozen=True)
class ClipGeometry:
    """Where the object is at sub-frame ``i``: centre = start + i * step.

    With ``wrap`` the centre is taken modulo the canvas: the scene repeats at a pitch of one
    canvas in both directions, like identical items on a conveyor belt.
    """

    start_xy: tuple[float, float]
    step_xy: tuple[float, float]
    wrap: bool = False

    def centre(self, i: int) -> tuple[float, float]:
        """The object's centre at sub-frame ``i`` (before wrapping)."""
        return (self.start_xy[0] + i * self.step_xy[0], self.start_xy[1] + i * self.step_xy[1])


def conveyor_geometry(
    centre_xy: tuple[float, float],
    direction_xy: tuple[float, float],
    pitch: float,
    period_subframes: int,
) -> ClipGeometry:
    """A belt moving one ``pitch`` along ``direction_xy`` every ``period_subframes`` sub-frames.

    The positions of any ``period_subframes`` consecutive sub-frames are, modulo the pitch, the
    same set whichever sign ``direction_xy`` has: an exposure of one period cannot tell them apart.
    """
    if period_subframes < 1:
        raise ValueError(f"period_subframes must be at least 1, got {period_subframes}")
    step = (pitch * direction_xy[0] / period_subframes, pitch * direction_xy[1] / period_subframes)
    return ClipGeometry((float(centre_xy[0]), float(centre_xy[1])), step, wrap=True)


def render_clip(
    mask: np.ndarray,
    colour: np.ndarray,
    background: np.ndarray,
    geometry: ClipGeometry,
    n_subframes: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Render the clean high-frame-rate clip of a coloured mask moving over a grey background.

    Args:
        mask: float [h, w] alpha mask of the object.
        colour: float [3] object colour (0..255).
        background: float [H, W] grey background (0..255).
        geometry: object path, sub-frame by sub-frame.
        n_subframes: number of sub-frames T.

    Returns:
        (rgb float32 [T, H, W, 3], luma float32 [T, H, W]), both 0..255; ``luma`` is exactly the
        BT.601 luma of ``rgb`` and depends on the colour only through its luma.
    """
    colour = np.asarray(colour, dtype=np.float32)
    alpha = np.stack(
        [
            place_mask(mask, geometry.centre(i), background.shape, wrap=geometry.wrap)
            for i in range(n_subframes)
        ]
    ).astype(np.float32)  # [T, H, W]
    behind = np.asarray(background, dtype=np.float32) * (1 - alpha)
    rgb = behind[..., None] + alpha[..., None] * colour
    luma = behind + alpha * np.float32(rgb_to_luma(colour))
    return rgb, luma


@dataclass(frozen=True)
class CameraModel:
    """How the RGB camera fails: exposure, light, noise.

    Attributes:
        n_frames: frames per clip (low frame rate).
        duty_cycle: exposure time as a fraction of the frame interval (long -> motion blur); the
            exposure opens at the start of each interval.
        light: scene light relative to a well-exposed scene (<1 dark, >1 over-exposed).
        gain: amplification after capture (auto-gain partly rescuing a dark scene).
        full_well: electrons at white for light=1; sets the shot-noise level.
        read_noise: read noise in electrons.
        gamma: encoding gamma of the 8-bit output.
    """

    n_frames: int = 5
    duty_cycle: float = 0.9
    light: float = 1.0
    gain: float = 1.0
    full_well: float = 300.0
    read_noise: float = 4.0
    gamma: float = 2.2


def expose_frames(subframes: np.ndarray, n_frames: int, duty_cycle: float) -> np.ndarray:
    """Average sub-frames over each exposure: ``n_frames`` equal intervals, each exposed for its
    first ``duty_cycle`` fraction (at least one sub-frame).

    Args:
        subframes: float [T, H, W, C] linear-light sub-frames, T divisible by ``n_frames``.

    Returns:
        float64 [n_frames, H, W, C] motion-blurred frames.
    """
    total = subframes.shape[0]
    if total % n_frames:
        raise ValueError(f"{total} sub-frames do not split into {n_frames} frames")
    per_frame = total // n_frames
    exposed = max(1, int(round(duty_cycle * per_frame)))
    starts = np.arange(n_frames) * per_frame
    return np.stack([subframes[s : s + exposed].mean(axis=0, dtype=np.float64) for s in starts])


def capture_rgb(
    subframes_rgb: np.ndarray, camera: CameraModel, rng: np.random.Generator
) -> np.ndarray:
    """Photograph a clean clip with a low-frame-rate, noisy, badly exposed RGB camera.

    Args:
        subframes_rgb: float [T, H, W, 3] clean sub-frames (0..255, gamma-encoded).
        camera: the camera's failures.
        rng: noise source.

    Returns:
        uint8 [n_frames, H, W, 3] frames.
    """
    linear = (np.asarray(subframes_rgb, dtype=np.float32) / 255.0) ** np.float32(camera.gamma)
    blurred = expose_frames(linear, camera.n_frames, camera.duty_cycle)
    electrons = blurred * camera.light * camera.full_well
    noise = np.sqrt(electrons) * rng.standard_normal(electrons.shape)
    noise += camera.read_noise * rng.standard_normal(electrons.shape)
    signal = np.clip((electrons + noise) / camera.full_well, 0.0, 1.0)  # sensor saturates here
    signal = np.clip(signal * camera.gain, 0.0, 1.0)
    return np.round(255.0 * signal ** (1.0 / camera.gamma)).astype(np.uint8)


def sharpness(image: np.ndarray) -> float:
    """Mean squared Laplacian of a grey or RGB image: larger is sharper (a blur measure)."""
    grey = rgb_to_luma(image) if np.ndim(image) == 3 else np.asarray(image, dtype=np.float64)
    lap = grey[1:-1, :-2] + grey[1:-1, 2:] + grey[:-2, 1:-1] + grey[2:, 1:-1] - 4 * grey[1:-1, 1:-1]
    return float(np.mean(lap**2))


_DIGITS: dict[str, np.ndarray] = {}


def _load_digits() -> dict[str, np.ndarray]:
    if not _DIGITS:
        from sklearn.datasets import load_digits

        data = load_digits()
        _DIGITS["images"] = np.asarray(data.images)  # [1797, 8, 8], 0..16
        _DIGITS["target"] = np.asarray(data.target)
    return _DIGITS


def digit_instance(digit: int, instance: int) -> np.ndarray:
    """The ``instance``-th 8x8 image (0..16) of ``digit`` in scikit-learn's digits data set."""
    data = _load_digits()
    (indices,) = np.nonzero(data["target"] == digit)
    return data["images"][indices[instance % indices.size]]


def digit_instance_counts() -> dict[int, int]:
    """How many handwritten instances scikit-learn ships of each digit."""
    target = _load_digits()["target"]
    return {d: int(np.sum(target == d)) for d in range(10)}
