"""A v2e/ESIM-style DVS simulator in torch: frames in, events out.

Each pixel compares its log intensity with a reference level. Between two input frames the log
intensity moves in a straight line; every time it has moved one threshold away from the reference
the pixel fires an event, timed at the instant of the crossing, and the reference follows. Leak,
shot noise, hot pixels, a refractory period and a photoreceptor low-pass filter are optional.

The work is vectorised over every pixel of a batch of videos and runs on the device of the input
tensor; Python loops only over frames (and, with a refractory period, over the rank of an event
within its pixel). Random draws come from per-video CPU generators, so a result depends on the
seed only, not on the device or on which other videos share the batch.

>>> stream = simulate_frames(frames, timestamps_us, SimulatorConfig())  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from evclip.io.events import EVENT_DTYPE, EventStream
from evclip.simulate import _kernels
from evclip.simulate import functional as F
from evclip.simulate.config import SimulatorConfig

_NO_EVENT_YET = -(2**62)


@dataclass
class EventColumns:
    """Events of one or more videos as torch columns, sorted by (batch, t, y, x).

    Attributes:
        batch: int64 [E] which video an event belongs to.
        x, y: int64 [E] pixel coordinates.
        t: int64 [E] timestamps in microseconds.
        on: bool [E] polarity.
    """

    batch: torch.Tensor
    x: torch.Tensor
    y: torch.Tensor
    t: torch.Tensor
    on: torch.Tensor

    @classmethod
    def empty(cls) -> EventColumns:
        z = torch.zeros(0, dtype=torch.int64)
        return cls(z, z, z, z, torch.zeros(0, dtype=torch.bool))

    def __len__(self) -> int:
        return int(self.t.numel())


@dataclass
class _PixelState:
    """What the simulator remembers between frames; tensors are flat over B * H * W pixels."""

    shape: tuple[int, int, int]  # (B, H, W)
    log: torch.Tensor  # float32 [N] (low-passed) log intensity at the last frame
    reference: torch.Tensor  # float32 [N]
    pos_threshold: torch.Tensor  # float32 [N]
    neg_threshold: torch.Tensor  # float32 [N]
    last_event_t: torch.Tensor  # int64 [N]
    hot_pixels: list[torch.Tensor]  # per video: int64 [P] flat indices, on the CPU
    t: torch.Tensor  # int64 [B] time of the last frame, on the CPU
    generators: list[torch.Generator]


class EventSimulator:
    """A stateful simulator for streaming long videos frame by frame.

    The first frame only sets the reference levels; each later frame returns the events fired
    since the previous one.

    Example:
        >>> sim = EventSimulator(SimulatorConfig.ideal())
        >>> for frame, t in zip(frames, timestamps):  # doctest: +SKIP
        ...     events = sim.step(frame, t)

    Args:
        config: the sensor model.
        device: where the pixel state lives; None means the device of the first frame.
        seeds: one seed per video of a batch; None means ``config.seed + b`` for video b.
    """

    def __init__(
        self,
        config: SimulatorConfig | None = None,
        *,
        device: str | torch.device | None = None,
        seeds: Sequence[int] | None = None,
    ) -> None:
        self.config = config if config is not None else SimulatorConfig()
        self.device = torch.device(device) if device is not None else None
        self.seeds = list(seeds) if seeds is not None else None
        self._state: _PixelState | None = None
        self._buffer: _kernels.EventBuffer | None = None  # where the numba path appends, if set
        self._tables: tuple[np.ndarray, np.ndarray] | None = None  # see _frame_curve

    def reset(self) -> None:
        """Forget the reference levels; the next frame starts a new recording."""
        self._state = None

    @property
    def sensor_size(self) -> tuple[int, int] | None:
        """(width, height) once a frame has been seen, else None."""
        if self._state is None:
            return None
        _, height, width = self._state.shape
        return (width, height)

    def step(self, frame: np.ndarray | torch.Tensor, t_us: int) -> np.ndarray:
        """Feed one frame ([H, W] grey or [H, W, 3] RGB) taken at ``t_us`` microseconds.

        Returns:
            Events of :data:`~evclip.io.EVENT_DTYPE` fired since the previous frame, sorted.
        """
        frame_tensor = F.as_tensor(frame)
        if frame_tensor.dim() not in (2, 3):
            raise ValueError(f"a frame must be [H, W] or [H, W, 3], got {tuple(frame.shape)}")
        curve = self._frame_curve(frame_tensor[None], rgb=frame_tensor.dim() == 3)
        events = self._advance(*curve, torch.tensor([int(t_us)], dtype=torch.int64))
        return events if isinstance(events, np.ndarray) else columns_to_events(events)

    def intensity(self, frames: torch.Tensor, *, rgb: bool = False) -> torch.Tensor:
        """Frames [B, H, W] (or [B, H, W, 3] with ``rgb``) as float intensities on the device."""
        device = self.device if self.device is not None else frames.device
        linear_light = self.config.intensity_curve == "linlog"
        return F.to_intensity(
            frames.to(device), self.config.max_intensity, rgb=rgb, linear_light=linear_light
        )

    def advance(self, intensity: torch.Tensor, t_us: torch.Tensor) -> EventColumns:
        """Feed one frame of every video of a batch.

        Args:
            intensity: float [B, H, W] intensities in [0, 1] (see :meth:`intensity`).
            t_us: int64 [B] frame time of each video, microseconds.

        Returns:
            The events fired since the previous frame, sorted by (batch, t, y, x), on the CPU.
        """
        events = self._advance(intensity, self._pixel_curve(intensity), t_us)
        return events_to_columns(events) if isinstance(events, np.ndarray) else events

    def _frame_curve(self, frames: torch.Tensor, *, rgb: bool) -> tuple[torch.Tensor, torch.Tensor]:
        """(intensity, pixel curve), both float32 [B, H, W], of frames as :meth:`intensity` takes.

        Grey uint8 frames on the CPU are looked up in 256-entry tables of the two, computed by
        the same functions: one gather per frame instead of the arithmetic on every pixel.
        """
        on_cpu = frames.device.type == "cpu" and (self.device is None or self.device.type == "cpu")
        if rgb or frames.dtype != torch.uint8 or not on_cpu:
            intensity = self.intensity(frames, rgb=rgb)
            return intensity, self._pixel_curve(intensity)
        white = self.config.max_intensity
        if white is not None and white < 255 and int(frames.max()) > white:
            self.intensity(frames)  # raises the error for values above white
        if self._tables is None:
            top = 255 if white is None or white >= 255 else int(white)  # higher levels raise above
            levels = self.intensity(torch.arange(256, dtype=torch.uint8).clamp_(max=top))
            self._tables = (levels.numpy(), self._pixel_curve(levels).numpy())
        values = frames.numpy()
        looked_up = (torch.from_numpy(_kernels.lookup(table, values)) for table in self._tables)
        return tuple(looked_up)  # type: ignore[return-value]

    def _advance(
        self, intensity: torch.Tensor, curve: torch.Tensor, t_us: torch.Tensor
    ) -> EventColumns | np.ndarray:
        """:meth:`advance` given the pixel curve too; numba-path events come as an array."""
        t_us = t_us.to("cpu", torch.int64)
        log = curve.reshape(-1)  # [N]
        if self._state is None:
            self._state = self._initial_state(log, intensity.shape, t_us)
            return EventColumns.empty()
        state = self._state
        if tuple(intensity.shape) != state.shape:
            raise ValueError(f"frame batch {tuple(intensity.shape)} differs from {state.shape}")
        dt_us = t_us - state.t  # [B]
        if bool((dt_us <= 0).any()):
            raise ValueError(
                f"frame timestamps must increase: {state.t.tolist()} -> {t_us.tolist()}"
            )
        columns = self._fire(state, log, intensity.reshape(-1), dt_us)
        state.t = t_us
        return columns

    def _pixel_curve(self, intensity: torch.Tensor) -> torch.Tensor:
        """The (log-like) quantity each pixel differences, of intensities from :meth:`intensity`."""
        if self.config.intensity_curve == "linlog":
            return F.lin_log(intensity, self.config.linlog_threshold)
        return F.log_intensity(intensity, self.config.log_eps)

    def _initial_state(
        self, log: torch.Tensor, shape: torch.Size, t_us: torch.Tensor
    ) -> _PixelState:
        cfg = self.config
        batch, height, width = shape
        seeds = self.seeds if self.seeds is not None else [cfg.seed + b for b in range(batch)]
        if len(seeds) != batch:
            raise ValueError(f"{len(seeds)} seeds given for a batch of {batch} videos")
        generators = [torch.Generator().manual_seed(int(s)) for s in seeds]
        n = height * width
        pos, neg, phase, hot = [], [], [], []
        for b, gen in enumerate(generators):
            pos.append(F.draw_thresholds((n,), cfg.pos_threshold, cfg.threshold_sigma, gen))
            neg.append(F.draw_thresholds((n,), cfg.neg_threshold, cfg.threshold_sigma, gen))
            phase.append(torch.rand(n, generator=gen))
            chosen = torch.rand(n, generator=gen) < cfg.hot_pixel_fraction
            hot.append(torch.nonzero(chosen).squeeze(1) + b * n)
        pos_threshold = torch.cat(pos).to(log.device)
        reference = log
        if cfg.leak_rate_hz > 0:  # a random leak phase, so leak events are not synchronised
            reference = log - torch.cat(phase).to(log.device) * pos_threshold
        return _PixelState(
            shape=(batch, height, width),
            log=log,
            reference=reference,
            pos_threshold=pos_threshold,
            neg_threshold=torch.cat(neg).to(log.device),
            last_event_t=torch.full_like(log, _NO_EVENT_YET, dtype=torch.int64),
            hot_pixels=hot,
            t=t_us.clone(),
            generators=generators,
        )

    def _fire(
        self, state: _PixelState, log: torch.Tensor, intensity: torch.Tensor, dt_us: torch.Tensor
    ) -> EventColumns:
        cfg = self.config
        batch, height, width = state.shape
        n = height * width
        device = log.device
        dt_s_video = dt_us.to(torch.float32) * 1e-6  # [B]
        if cfg.cutoff_hz > 0 or cfg.leak_rate_hz > 0:
            dt_s = dt_s_video.to(device).repeat_interleave(n)  # [N]
        if cfg.cutoff_hz > 0:
            log = F.lowpass_log(state.log, log, intensity, dt_s, cfg.cutoff_hz)
        reference = state.reference
        if cfg.leak_rate_hz > 0:
            reference = reference - cfg.leak_rate_hz * dt_s * state.pos_threshold
        if self._fast_path(state, log, dt_us):
            return self._fire_fast(state, log, reference, dt_us, dt_s_video)
        d0 = state.log - state.reference
        d1 = log - reference
        pixel, fraction, on, change = F.crossing_events(
            d0, d1, state.pos_threshold, state.neg_threshold
        )
        state.reference = reference + change
        state.log = log
        noise = self._noise(state, dt_s_video)
        if noise is not None:
            pixel = torch.cat([pixel, noise[0].to(device)])
            fraction = torch.cat([fraction, noise[1].to(device)])
            on = torch.cat([on, noise[2].to(device)])
        return self._order(state, pixel, fraction, on, dt_us, in_pixel_order=noise is None)

    def _fast_path(self, state: _PixelState, log: torch.Tensor, dt_us: torch.Tensor) -> bool:
        """Whether the numba kernel can do this step (one video on the CPU, no dead time)."""
        return (
            _kernels.USE_NUMBA
            and state.shape[0] == 1
            and log.device.type == "cpu"
            and self.config.refractory_us == 0
            and int(dt_us[0]) < _kernels.MAX_INTERVAL_US
        )

    def _fire_fast(
        self,
        state: _PixelState,
        log: torch.Tensor,
        reference: torch.Tensor,
        dt_us: torch.Tensor,
        dt_s_video: torch.Tensor,
    ) -> np.ndarray:
        """:meth:`_fire` for one video on the CPU by the numba kernels: the same events, written
        to the end of ``self._buffer`` (or a new array); returns the step's events."""
        _, height, width = state.shape
        dt, t0 = int(dt_us[0]), int(state.t[0])
        found = _kernels.crossings(
            state.log.numpy(), state.reference.numpy(), log.numpy(), reference.numpy(),
            state.pos_threshold.numpy(), state.neg_threshold.numpy(), width,
        )  # fmt: skip
        state.reference = torch.from_numpy(found.reference)
        state.log = log
        noise = self._noise(state, dt_s_video)
        n_noise = 0 if noise is None else noise[0].numel()
        buffer = self._buffer if self._buffer is not None else _kernels.EventBuffer()
        begin = buffer.size
        out = buffer.reserve(found.n_events + n_noise)
        _kernels.fill_events(out, begin, found, dt, t0)
        block = out[begin : buffer.size]  # [E + noise], a view
        if n_noise:
            _kernels.merge_noise_events(block, found.n_events, noise, dt, t0, width, height)
        return block

    def _order(
        self,
        state: _PixelState,
        pixel: torch.Tensor,
        fraction: torch.Tensor,
        on: torch.Tensor,
        dt_us: torch.Tensor,
        in_pixel_order: bool,
    ) -> EventColumns:
        """Timestamps, the refractory filter and the (batch, t, y, x) order of a step's events."""
        batch, height, width = state.shape
        n = height * width
        device = pixel.device
        dt_dev, t0 = dt_us.to(device), state.t.to(device)
        single = batch == 1  # skip per-event lookups of the video; the arithmetic is identical
        if single:
            video = None
            dt_event, t0_event = dt_dev.to(torch.float32)[0], t0[0]
            t_rel = torch.round(fraction * dt_event).to(torch.int64).clamp_(max=int(dt_us[0]))
            local = pixel
        else:
            video = torch.div(pixel, n, rounding_mode="floor")
            dt_event, t0_event = dt_dev.to(torch.float32).index_select(0, video), t0[video]
            t_rel = torch.round(fraction * dt_event).to(torch.int64)
            t_rel = torch.minimum(t_rel, dt_dev.index_select(0, video))
            local = pixel - video * n
        t = t0_event + t_rel
        if self.config.refractory_us > 0:
            keep, state.last_event_t = F.refractory_filter(
                pixel, t, state.last_event_t, self.config.refractory_us
            )
            local, t, t_rel, on = local[keep], t[keep], t_rel[keep], on[keep]
            video = None if video is None else video[keep]
        key = t_rel if video is None else video * (int(dt_us.max()) + 1) + t_rel
        if not in_pixel_order:  # noise events come after the crossings: add the pixel to the key
            key = key * n + local
        order = F.argsort_stable(key)
        local = local.index_select(0, order)
        y = torch.div(local, width, rounding_mode="floor")
        return EventColumns(
            batch=torch.zeros(order.numel(), dtype=torch.int64)
            if video is None
            else video.index_select(0, order).cpu(),
            x=(local - y * width).cpu(),
            y=y.cpu(),
            t=t.index_select(0, order).cpu(),
            on=on.index_select(0, order).cpu(),
        )

    def _noise(
        self, state: _PixelState, dt_s: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None:
        """Shot-noise and hot-pixel events of every video, drawn from its own generator."""
        cfg = self.config
        if cfg.shot_noise_rate_hz <= 0 and cfg.hot_pixel_fraction <= 0:
            return None
        _, height, width = state.shape
        n = height * width
        parts = []
        for b, gen in enumerate(state.generators):
            seconds = float(dt_s[b])
            if cfg.shot_noise_rate_hz > 0:
                pixel, fraction, on = F.poisson_noise_events(
                    n, cfg.shot_noise_rate_hz, seconds, gen
                )
                parts.append((pixel + b * n, fraction, on))
            if state.hot_pixels[b].numel():
                parts.append(
                    F.hot_pixel_events(state.hot_pixels[b], cfg.hot_pixel_rate_hz, seconds, gen)
                )
        if not parts:
            return None
        return tuple(torch.cat([part[i] for part in parts]) for i in range(3))  # type: ignore[return-value]


def events_to_columns(events: np.ndarray) -> EventColumns:
    """Torch columns of events of one video (:data:`~evclip.io.EVENT_DTYPE`), batch index 0."""

    def column(name: str) -> torch.Tensor:
        return torch.from_numpy(events[name].astype(np.int64))

    return EventColumns(
        batch=torch.zeros(len(events), dtype=torch.int64),
        x=column("x"),
        y=column("y"),
        t=column("t"),
        on=torch.from_numpy(events["p"] > 0),
    )


def columns_to_events(columns: EventColumns) -> np.ndarray:
    """Events of :data:`~evclip.io.EVENT_DTYPE` from torch columns (the batch index is dropped)."""
    out = np.empty(len(columns), dtype=EVENT_DTYPE)
    out["x"] = columns.x.numpy()
    out["y"] = columns.y.numpy()
    out["t"] = columns.t.numpy()
    out["p"] = columns.on.numpy()
    return out


def _concat(parts: list[EventColumns]) -> EventColumns:
    if not parts:
        return EventColumns.empty()
    return EventColumns(
        *(torch.cat([getattr(p, name) for p in parts]) for name in ("batch", "x", "y", "t", "on"))
    )


def _split_by_video(columns: EventColumns, batch: int) -> list[np.ndarray]:
    """Per-video event arrays; steps come in time order, so a stable sort by video suffices."""
    if batch == 1:
        return [columns_to_events(columns)]
    order = F.argsort_stable(columns.batch)
    video = columns.batch.index_select(0, order)
    ordered = EventColumns(
        video, *(getattr(columns, k).index_select(0, order) for k in ("x", "y", "t", "on"))
    )
    events = columns_to_events(ordered)
    bounds = np.searchsorted(video.numpy(), np.arange(batch + 1))
    return [events[bounds[b] : bounds[b + 1]] for b in range(batch)]


def _check_timestamps(timestamps_us: torch.Tensor, batch: int, n_frames: int) -> torch.Tensor:
    """int64 [B, T] from [T] or [B, T]; raises ValueError unless strictly increasing."""
    ts = F.as_tensor(timestamps_us).to("cpu")
    if ts.is_floating_point():
        ts = torch.round(ts)
    ts = ts.to(torch.int64)
    if ts.dim() == 1:
        ts = ts[None].expand(batch, -1)
    if tuple(ts.shape) != (batch, n_frames):
        raise ValueError(f"timestamps of shape {tuple(ts.shape)} for {batch} videos x {n_frames}")
    if n_frames > 1 and bool((ts[:, 1:] <= ts[:, :-1]).any()):
        raise ValueError("frame timestamps must be strictly increasing")
    return ts


_WHOLE_CLIP_VALUES = 2**24  # float clips up to this size are scaled and checked in one go


def _curves(
    sim: EventSimulator, videos: torch.Tensor, rgb: bool
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """(intensity, pixel curve) [B, H, W] of every frame of videos [B, T, H, W (, 3)].

    Small grey float clips under the log curve are scaled and checked once rather than frame by
    frame (the same values: a division is exact however it is batched, whereas the sRGB curve's
    pow could round differently); the curve is still taken per frame, as :meth:`step` does.
    """
    whole = sim.config.intensity_curve == "log" and videos.numel() <= _WHOLE_CLIP_VALUES
    if rgb or not videos.is_floating_point() or not whole:
        for i in range(videos.shape[1]):
            yield sim._frame_curve(videos[:, i], rgb=rgb)
        return
    intensity = sim.intensity(videos)  # [B, T, H, W]
    for i in range(videos.shape[1]):
        frame = intensity[:, i]
        yield frame, sim._pixel_curve(frame)


def simulate_batch(
    videos: torch.Tensor | np.ndarray,
    timestamps_us: torch.Tensor | np.ndarray,
    config: SimulatorConfig | None = None,
    *,
    device: str | torch.device | None = None,
    seeds: Sequence[int] | None = None,
) -> list[EventStream]:
    """Simulate a batch of videos at once.

    Args:
        videos: [B, T, H, W] grey (or [B, T, H, W, 3] RGB) frames, uint8 or float in [0, 1].
        timestamps_us: [T] shared or [B, T] per-video frame times in microseconds.
        config: the sensor model.
        device: where to simulate; None means the device of ``videos`` (CPU for numpy).
        seeds: per-video seeds; None means ``config.seed + b`` for video b, so video b gives the
            same events as :func:`simulate_frames` with ``seed=config.seed + b``.

    Returns:
        One :class:`~evclip.io.EventStream` per video, sorted by (t, y, x).
    """
    videos = F.as_tensor(videos)
    if videos.dim() not in (4, 5):
        raise ValueError(
            f"videos must be [B, T, H, W] or [B, T, H, W, 3], got {tuple(videos.shape)}"
        )
    rgb = videos.dim() == 5
    batch, n_frames, height, width = videos.shape[:4]
    ts = _check_timestamps(F.as_tensor(timestamps_us), batch, n_frames)
    sim = EventSimulator(config, device=device, seeds=seeds)
    sim._buffer = _kernels.EventBuffer(n_frames - 1)
    parts = [sim._advance(*curve, ts[:, i]) for i, curve in enumerate(_curves(sim, videos, rgb))]
    if any(isinstance(part, np.ndarray) for part in parts):  # the numba path filled the buffer
        per_video = [sim._buffer.events()]
    else:
        per_video = _split_by_video(_concat(parts), batch)
    return [EventStream(events, (width, height)) for events in per_video]


def simulate_frames(
    frames: torch.Tensor | np.ndarray,
    timestamps_us: torch.Tensor | np.ndarray | Sequence[int],
    config: SimulatorConfig | None = None,
    *,
    device: str | torch.device | None = None,
) -> EventStream:
    """Simulate one video.

    Args:
        frames: [T, H, W] grey or [T, H, W, 3] RGB (converted to luma), uint8 or float in [0, 1].
        timestamps_us: [T] frame times in microseconds, strictly increasing.
        config: the sensor model.
        device: where to simulate; None means the device of ``frames``.

    Returns:
        An :class:`~evclip.io.EventStream` of sensor size (W, H), sorted by (t, y, x).
    """
    frames = F.as_tensor(frames)
    if frames.dim() not in (3, 4):
        raise ValueError(f"frames must be [T, H, W] or [T, H, W, 3], got {tuple(frames.shape)}")
    if frames.dim() == 4 and frames.shape[-1] != 3:
        raise ValueError(f"RGB frames need a last dimension of 3, got {tuple(frames.shape)}")
    return simulate_batch(frames[None], F.as_tensor(timestamps_us), config, device=device)[0]
