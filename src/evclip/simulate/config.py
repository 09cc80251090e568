"""Parameters of the event simulator: thresholds, noise and pixel bandwidth."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

INTENSITY_CURVES = ("log", "linlog")
MOTIONS = ("saccade", "affine")  # camera motions of evclip.simulate.motion


@dataclass(frozen=True)
class SimulatorConfig:
    """How the simulated DVS pixel behaves.

    Attributes:
        pos_threshold: mean log-intensity rise that fires one ON event.
        neg_threshold: mean log-intensity fall that fires one OFF event.
        threshold_sigma: per-pixel spread of both thresholds; each pixel draws its thresholds
            from N(mean, sigma) once per run, clipped to at least 0.01.
        refractory_us: dead time after an emitted event; events of the same pixel closer than
            this to its previous emitted event are dropped (the reference level still moves).
        leak_rate_hz: rate of spontaneous ON events per pixel: the reference level leaks down by
            ``leak_rate_hz * pos_threshold`` per second, so a still pixel fires ON at that rate.
        shot_noise_rate_hz: rate of random ON/OFF events per pixel per second (Poisson).
        hot_pixel_fraction: fraction of pixels, drawn once per run, that fire ON events at
            ``hot_pixel_rate_hz`` whatever the scene does.
        hot_pixel_rate_hz: firing rate of a hot pixel.
        intensity_curve: what the pixel differences. ``"log"``: ``log(I + log_eps)`` of the frame
            values I in [0, 1] as they are. ``"linlog"`` (v2e's and eventcv's pixel): the values
            are read as sRGB, linearised to light, and mapped by v2e's lin-log curve, linear
            below ``linlog_threshold`` and logarithmic above; contrast is then measured in light,
            so the same thresholds give roughly three times more events on ordinary video.
        log_eps: with the ``"log"`` curve, the pixel sees ``log(I + log_eps)``; a larger value
            damps the noise-like response of dark pixels.
        linlog_threshold: with the ``"linlog"`` curve, the linear light (in [0, 1]) below which
            the curve is linear; v2e's 20 of 255 levels.
        cutoff_hz: photoreceptor bandwidth of a white pixel (first-order low-pass filter on the
            log intensity, slower in the dark as in v2e); 0 disables the filter.
        max_intensity: the value of white in the input frames; None means 255 for integer frames
            and 1.0 for float frames.
        seed: seed of every random draw (thresholds, leak phase, noise, hot pixels).
    """

    pos_threshold: float = 0.2
    neg_threshold: float = 0.2
    threshold_sigma: float = 0.03
    refractory_us: int = 0
    leak_rate_hz: float = 0.1
    shot_noise_rate_hz: float = 0.0
    hot_pixel_fraction: float = 0.0
    hot_pixel_rate_hz: float = 50.0
    intensity_curve: str = "log"
    log_eps: float = 0.01
    linlog_threshold: float = 20.0 / 255.0
    cutoff_hz: float = 0.0
    max_intensity: float | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        positive = {
            "pos_threshold": self.pos_threshold,
            "neg_threshold": self.neg_threshold,
            "log_eps": self.log_eps,
            "linlog_threshold": self.linlog_threshold,
        }
        for name, value in positive.items():
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be a positive number, got {value}")
        non_negative = {
            "threshold_sigma": self.threshold_sigma,
            "refractory_us": self.refractory_us,
            "leak_rate_hz": self.leak_rate_hz,
            "shot_noise_rate_hz": self.shot_noise_rate_hz,
            "hot_pixel_rate_hz": self.hot_pixel_rate_hz,
            "cutoff_hz": self.cutoff_hz,
        }
        for name, value in non_negative.items():
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"{name} must be a non-negative number, got {value}")
        if self.intensity_curve not in INTENSITY_CURVES:
            raise ValueError(
                f"intensity_curve must be one of {INTENSITY_CURVES}, got {self.intensity_curve!r}"
            )
        if not 1.0 / 255.0 < self.linlog_threshold <= 1.0:  # the linear part must rise
            raise ValueError(f"linlog_threshold must be in (1/255, 1], got {self.linlog_threshold}")
        if not 0.0 <= self.hot_pixel_fraction <= 1.0:
            raise ValueError(f"hot_pixel_fraction must be in [0, 1], got {self.hot_pixel_fraction}")
        if self.max_intensity is not None and not self.max_intensity > 0:
            raise ValueError(f"max_intensity must be positive, got {self.max_intensity}")

    @classmethod
    def ideal(cls, **overrides: float | int | str | None) -> SimulatorConfig:
        """A noiseless sensor: equal thresholds everywhere, no leak, no noise, no dead time."""
        base = cls(threshold_sigma=0.0, leak_rate_hz=0.0, shot_noise_rate_hz=0.0)
        return replace(base, **overrides)
