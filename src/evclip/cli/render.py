"""``evclip render FILE OUT``: event images over time as a PNG strip or an animated GIF."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from PIL import Image

from evclip.io import read_events

MODES = ("eclip_rgb", "eclip_grey", "eventclip_grey", "ezsr")
SLICINGS = ("time", "count", "afe")


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
) -> tuple[int, int, int]:
    """Write ``n_frames`` event images of ``source`` to ``target`` (.png strip or .gif).

    Returns:
        (number of frames, width, height) of one rendered frame.
    """
    from evclip.representations import event_images

    suffix = Path(target).suffix.lower()
    if suffix not in (".png", ".gif"):
        raise ValueError(f"{target}: output must end in .png (strip) or .gif (animation)")
    if n_frames < 1 or scale < 1:
        raise ValueError("--frames and --scale must be at least 1")
    stream = read_events(source, format)
    images = event_images(stream.events, stream.sensor_size, n_frames, mode=mode, slicing=slicing)
    if scale > 1:  # nearest-neighbour keeps single events visible as crisp squares
        images = images.repeat(scale, axis=1).repeat(scale, axis=2)
    frames = [Image.fromarray(np.ascontiguousarray(img)) for img in images]  # [H, W, 3] each
    tmp = Path(target).with_name(Path(target).name + ".part")
    try:
        if suffix == ".gif":
            duration_ms = int(round(1000 / fps))
            frames[0].save(
                tmp,
                format="GIF",
                save_all=True,
                append_images=frames[1:],
                duration=duration_ms,
                loop=0,
            )
        else:
            Image.fromarray(np.concatenate(list(images), axis=1)).save(tmp, format="PNG")
        tmp.replace(target)
    finally:
        tmp.unlink(missing_ok=True)
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
    )
    print(json.dumps({"output": args.output, "frames": n, "frame_size": [w, h]}))
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("render", help="render event images as a PNG strip or GIF")
    parser.add_argument("file", help="an event file in any readable format")
    parser.add_argument("output", help="OUT.png (frames side by side) or OUT.gif (animation)")
    parser.add_argument("--frames", type=int, default=8, help="number of event images (8)")
    parser.add_argument("--mode", choices=MODES, default="eclip_rgb", help="colouring")
    parser.add_argument("--slicing", choices=SLICINGS, default="time", help="how to cut time")
    parser.add_argument("--scale", type=int, default=1, help="integer upscaling factor")
    parser.add_argument("--fps", type=float, default=5.0, help="GIF frame rate")
    parser.add_argument("--format", default=None, help="force the input format")
    parser.set_defaults(func=run)
