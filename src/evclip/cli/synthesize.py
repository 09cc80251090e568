"""``evclip synthesize IMAGE_ROOT OUT_ROOT``: a labelled image folder to an event dataset.

Resumable: run it again after an interruption and only the missing samples are simulated.
"""

from __future__ import annotations

import argparse
import json

from evclip.cli._common import add_quiet_option, add_workers_option
from evclip.cli.simulate import add_motion_options, add_simulator_options, config_from_args


def run(args: argparse.Namespace) -> int:
    from evclip.simulate.synthesize import synthesize_folder

    options = {"duration_us": args.duration_us}
    if args.n_frames is not None:
        options["n_frames"] = args.n_frames
    if args.sensor_size is not None:
        options["sensor_size"] = tuple(args.sensor_size)
    summary = synthesize_folder(
        args.image_root,
        args.out_root,
        motion=args.motion,
        config=config_from_args(args),
        workers=args.workers,
        overwrite=args.overwrite,
        progress=not args.quiet,
        image_size=tuple(args.image_size) if args.image_size else None,
        extension=args.extension,
        **options,
    )
    print(
        json.dumps(
            {
                "image_root": args.image_root,
                "out_root": args.out_root,
                "written": summary.written,
                "skipped": summary.skipped,
                "failed": [{"image": image, "error": error} for image, error in summary.failed],
                "manifest": str(summary.manifest),
            }
        )
    )
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "synthesize", help="simulate events for every image of a <class>/<image> folder"
    )
    parser.add_argument("image_root", help="folder of class folders of images")
    parser.add_argument("out_root", help="output folder: <class>/<stem>.npz and manifest.jsonl")
    add_workers_option(parser, "worker processes")
    parser.add_argument("--overwrite", action="store_true", help="redo existing outputs")
    parser.add_argument(
        "--image-size", type=int, nargs=2, metavar=("W", "H"), default=None,
        help="resize every image to this size first",
    )  # fmt: skip
    parser.add_argument("--extension", choices=(".npz", ".h5"), default=".npz")
    add_quiet_option(parser, "no progress bar or summary")
    add_motion_options(parser)
    add_simulator_options(parser)
    parser.set_defaults(func=run)
