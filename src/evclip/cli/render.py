"""``evclip render FILE OUT``: event images over time as a PNG strip or an animated GIF."""

from __future__ import annotations

import argparse
import json
import math
import warnings
from pathlib import Path

from evclip.cli._common import add_input_options, at_least_one, positive_number

MODES = ("eclip_rgb", "eclip_grey", "eventclip_grey", "ezsr")
SLICINGS = ("time", "count", "afe")
SUFFIXES = (".png", ".gif")
FPS_RANGE = (0.01, 100.0)  # GIF frame delays are whole hundredths of a second, 16 bits


def check_fps(fps: float) -> float:
    """``fps`` if a GIF can play at that rate, else a ValueError saying the range."""
    low, high = FPS_RANGE
    if not (math.isfinite(fps) and low <= fps <= high):
        raise ValueError(
            f"fps must be between {low} and {high:g} (GIF frame delays are whole hundredths "
            f"of a second), got {fps}"
        )
    return fps


def usable_slicing(events, slicing: str, source: str) -> str:
    """``slicing``, or ``"count"`` with a warning when every event has the same timestamp (time
    slices of a zero-length stream would all be empty); warns about a stream with no events."""
    if len(events) == 0:
        warnings.warn(f"{source}: holds no events; the frames are blank", stacklevel=2)
    elif slicing == "time" and events["t"][0] == events["t"][-1]:
        warnings.warn(
            f"{source}: all {len(events)} events share one timestamp ({int(events['t'][0])} us), "
            "so slices of time would be empty; cutting by event count instead (--slicing count)",
            stacklevel=2,
        )
        return "count"
    return slicing


def render(
    source: str,
    target: str,
    *,
    n_frames: int = 8,
    mode: str = "eclip_rgb",
    slicing: str = "time",
    scale: int = 1,
    fps: float = 5.0,
    format: str | None = None,
    sort: bool = False,
) -> tuple[int, int, int]:
    """Write ``n_frames`` event images of ``source`` to ``target`` (.png strip or .gif).

    The target is checked (extension, folder, permission) before the source is read, and
    written atomically.

    Returns:
        (number of frames, width, height) of one rendered frame.

    Raises:
        ValueError: for a bad target extension, count, scale or frame rate.
        OSError: when the target cannot be written.
        EventFormatError: for an unreadable source.
    """
    import numpy as np
    from PIL import Image

    from evclip.io import read_events
    from evclip.io.atomic import atomic_output, check_output

    check_output(target, SUFFIXES)
    if n_frames < 1 or scale < 1:
        raise ValueError("--frames and --scale must be at least 1")
    check_fps(fps)
    stream = read_events(source, format, sort=sort)
    slicing = usable_slicing(stream.events, slicing, source)
    from evclip.representations import event_images

    images = event_images(stream.events, stream.sensor_size, n_frames, mode=mode, slicing=slicing)
    if scale > 1:  # nearest-neighbour keeps single events visible as crisp squares
        images = images.repeat(scale, axis=1).repeat(scale, axis=2)
    frames = [Image.fromarray(np.ascontiguousarray(img)) for img in images]  # [H, W, 3] each
    with atomic_output(target) as tmp:
        if Path(target).suffix.lower() == ".gif":
            frames[0].save(
                tmp,
                format="GIF",
                save_all=True,
                append_images=frames[1:],
                duration=int(round(1000 / fps)),
                loop=0,
            )
        else:
            Image.fromarray(np.concatenate(list(images), axis=1)).save(tmp, format="PNG")
    return len(frames), frames[0].width, frames[0].height


def run(args: argparse.Namespace) -> int:
    n, w, h = render(
        args.file,
        args.output,
        n_frames=args.frames,
        mode=args.mode,
        slicing=args.slicing,
        scale=args.scale,
        fps=args.fps,
        format=args.format,
        sort=args.sort,
    )
    print(json.dumps({"output": args.output, "frames": n, "frame_size": [w, h]}))
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("render", help="render event images as a PNG strip or GIF")
    parser.add_argument("file", help="an event file in any readable format")
    parser.add_argument("output", help="OUT.png (frames side by side) or OUT.gif (animation)")
    parser.add_argument("--frames", type=at_least_one, default=8, help="event images (8)")
    parser.add_argument("--mode", choices=MODES, default="eclip_rgb", help="colouring")
    parser.add_argument("--slicing", choices=SLICINGS, default="time", help="how to cut time")
    parser.add_argument("--scale", type=at_least_one, default=1, help="integer upscaling factor")
    parser.add_argument(
        "--fps", type=positive_number, default=5.0,
        help=f"GIF frame rate, {FPS_RANGE[0]} to {FPS_RANGE[1]:g} (5)",
    )  # fmt: skip
    add_input_options(parser)
    parser.set_defaults(func=run)
