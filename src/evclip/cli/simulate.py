"""``evclip simulate INPUT OUT``: events from an image (with a camera motion), a folder of frames
or a video, written to .npz or .h5 with a JSON summary on stdout.

The summary's ``frames`` is the number of frames simulated: for a still image, the frames of
the camera motion (``--n-frames`` or the motion's default).
"""

from __future__ import annotations

import argparse
import inspect
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from evclip.cli._common import (  # noqa: F401  (default_workers, add_workers_option: old home)
    add_quiet_option,
    add_workers_option,
    at_least_one,
    default_workers,
    positive_number,
)
from evclip.cli._signals import raise_if_interrupted
from evclip.simulate.config import MOTIONS, SimulatorConfig
from evclip.simulate.synthesize import IMAGE_EXTENSIONS, load_image


def add_simulator_options(parser: argparse.ArgumentParser) -> None:
    """Options of :class:`~evclip.simulate.SimulatorConfig`, shared with ``evclip synthesize``."""
    d = SimulatorConfig()
    group = parser.add_argument_group("sensor model")
    group.add_argument("--pos-threshold", type=float, default=d.pos_threshold)
    group.add_argument("--neg-threshold", type=float, default=d.neg_threshold)
    group.add_argument("--threshold-sigma", type=float, default=d.threshold_sigma)
    group.add_argument("--refractory-us", type=int, default=d.refractory_us)
    group.add_argument("--leak-rate-hz", type=float, default=d.leak_rate_hz)
    group.add_argument("--shot-noise-rate-hz", type=float, default=d.shot_noise_rate_hz)
    group.add_argument("--hot-pixel-fraction", type=float, default=d.hot_pixel_fraction)
    group.add_argument("--log-eps", type=float, default=d.log_eps)
    group.add_argument(
        "--intensity-curve", choices=("log", "linlog"), default=d.intensity_curve,
        help="log of the frame values, or v2e's lin-log of linearised sRGB light",
    )  # fmt: skip
    group.add_argument("--cutoff-hz", type=float, default=d.cutoff_hz)
    group.add_argument("--seed", type=int, default=d.seed)


def add_motion_options(parser: argparse.ArgumentParser) -> None:
    """Options of the camera motion over a still image."""
    group = parser.add_argument_group("camera motion (still images)")
    group.add_argument("--motion", choices=MOTIONS, default="saccade")
    group.add_argument(
        "--n-frames", type=at_least_one, default=None,
        help="frames of the motion (default: the motion's own)",
    )  # fmt: skip
    group.add_argument(
        "--duration-us", type=at_least_one, default=300_000, help="length of the motion"
    )
    group.add_argument(
        "--sensor-size", type=int, nargs=2, metavar=("W", "H"), default=None,
        help="sensor size; the image is fitted inside it (default: the image's size)",
    )  # fmt: skip


def config_from_args(args: argparse.Namespace) -> SimulatorConfig:
    return SimulatorConfig(
        pos_threshold=args.pos_threshold,
        neg_threshold=args.neg_threshold,
        threshold_sigma=args.threshold_sigma,
        refractory_us=args.refractory_us,
        leak_rate_hz=args.leak_rate_hz,
        shot_noise_rate_hz=args.shot_noise_rate_hz,
        hot_pixel_fraction=args.hot_pixel_fraction,
        log_eps=args.log_eps,
        intensity_curve=args.intensity_curve,
        cutoff_hz=args.cutoff_hz,
        seed=args.seed,
    )


def motion_frames(motion: str, n_frames: int | None) -> int:
    """Frames a camera motion runs for: ``n_frames``, or the motion function's default."""
    if n_frames is not None:
        return n_frames
    from evclip.simulate import random_affine_motion, saccade_motion

    function = {"saccade": saccade_motion, "affine": random_affine_motion}[motion]
    return int(inspect.signature(function).parameters["n_frames"].default)


def _folder_frames(folder: Path, fps: float) -> Iterator[tuple[Any, int]]:
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS)
    if not files:
        raise ValueError(f"{folder}: no image files to read as frames")
    shape = None
    for i, path in enumerate(files):
        frame = load_image(str(path))
        if shape is not None and frame.shape != shape:
            raise ValueError(f"{path}: frame of size {frame.shape} after frames of size {shape}")
        shape = frame.shape
        yield frame, round(i * 1e6 / fps)


def _video_frames(path: Path, fps: float | None) -> Iterator[tuple[Any, int]]:
    import imageio.v3 as iio

    try:
        meta = iio.immeta(path)
        frames = iio.imiter(path)
    except Exception as err:  # imageio raises many types for a format it has no plugin for
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ValueError(
            f"{path}: cannot read it as a video ({reason}); "
            "an image, a folder of frames, or a video imageio can read (install imageio-ffmpeg "
            "or av for mp4/avi) is needed"
        ) from None
    rate = fps or meta.get("fps")
    if not rate:
        raise ValueError(f"{path}: the video does not say its frame rate; pass --fps")
    for i, frame in enumerate(frames):
        yield frame, round(i * 1e6 / rate)


def _is_animated(path: Path) -> bool:
    """Whether an image file holds more than one frame (an animated GIF, WebP or PNG)."""
    from PIL import Image

    try:
        with Image.open(path) as image:
            return getattr(image, "n_frames", 1) > 1
    except OSError:
        return False  # load_image reports unreadable files


def _animated_frames(path: Path, fps: float | None) -> Iterator[tuple[Any, int]]:
    """RGB frames of an animated image with their times: ``--fps`` if given, else the file's own
    frame durations (a missing or zero duration counts as 100 ms, as browsers play it)."""
    import numpy as np
    from PIL import Image, ImageSequence

    with Image.open(path) as image:
        t_ms = 0.0
        for i, frame in enumerate(ImageSequence.Iterator(image)):
            t_us = round(i * 1e6 / fps) if fps else round(t_ms * 1000)
            yield np.asarray(frame.convert("RGB")), t_us
            t_ms += frame.info.get("duration") or 100


def simulate_sequence(
    frames: Iterator[tuple[Any, int]],
    out: str,
    config: SimulatorConfig,
    *,
    device: str | None = None,
    progress: bool = True,
) -> tuple[int, int, int, tuple[int, int]]:
    """Stream frames through the simulator into ``out``; returns (frames, events, ON, size)."""
    from tqdm import tqdm

    from evclip.io import open_writer
    from evclip.simulate import EventSimulator

    sim = EventSimulator(config, device=device)
    first_frame, first_t = next(frames)
    sim.step(first_frame, first_t)
    height, width = first_frame.shape[:2]
    n_frames, n_events, n_on = 1, 0, 0
    with (
        open_writer(out, (width, height)) as writer,
        tqdm(unit="frame", disable=not progress, desc="simulate") as bar,
    ):
        for frame, t in frames:
            raise_if_interrupted()
            events = sim.step(frame, t)
            writer.write(events)
            n_frames += 1
            n_events += len(events)
            n_on += int(events["p"].sum())
            bar.update()
    return n_frames, n_events, n_on, (width, height)


def run(args: argparse.Namespace) -> int:
    from evclip.io import write_events
    from evclip.io.atomic import check_output
    from evclip.io.writers import SUPPORTED_EXTENSIONS

    start = time.perf_counter()
    source = Path(args.input)
    config = config_from_args(args)
    if not source.exists():
        raise FileNotFoundError(f"{source}: no such file or folder")
    check_output(args.output, SUPPORTED_EXTENSIONS)
    still = source.is_file() and source.suffix.lower() in IMAGE_EXTENSIONS
    if still and _is_animated(source):
        kind = "animation"
        n_frames, n_events, n_on, size = simulate_sequence(
            _animated_frames(source, args.fps), args.output, config, device=args.device,
            progress=not args.quiet,
        )  # fmt: skip
    elif still:
        from evclip.simulate import simulate_image

        kind = "image"
        stream = simulate_image(
            load_image(str(source)),
            args.motion,
            config,
            sensor_size=tuple(args.sensor_size) if args.sensor_size else None,
            n_frames=args.n_frames,
            duration_us=args.duration_us,
            device=args.device,
        )
        write_events(args.output, stream)
        n_frames = motion_frames(args.motion, args.n_frames)
        n_events, n_on = len(stream), int(stream.events["p"].sum())
        size = stream.sensor_size
    else:
        kind = "frames" if source.is_dir() else "video"
        frames = (
            _folder_frames(source, args.fps or 30.0)
            if source.is_dir()
            else _video_frames(source, args.fps)
        )
        n_frames, n_events, n_on, size = simulate_sequence(
            frames, args.output, config, device=args.device, progress=not args.quiet
        )
    summary = {
        "input": str(source),
        "output": args.output,
        "kind": kind,
        "frames": n_frames,
        "events": n_events,
        "on_fraction": n_on / n_events if n_events else None,
        "sensor_size": list(size),
        "seconds": round(time.perf_counter() - start, 3),
    }
    print(json.dumps(summary))
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "simulate", help="simulate events from an image, a folder of frames or a video"
    )
    parser.add_argument("input", help="an image, a folder of frames (sorted by name) or a video")
    parser.add_argument("output", help="target event file, .npz or .h5")
    parser.add_argument(
        "--fps", type=positive_number, default=None,
        help="frame rate of a folder of frames (default 30), a video or an animation "
        "(default: the file's own)",
    )  # fmt: skip
    parser.add_argument("--device", default=None, help="torch device, e.g. cuda (default: cpu)")
    add_quiet_option(parser)
    add_motion_options(parser)
    add_simulator_options(parser)
    parser.set_defaults(func=run)
