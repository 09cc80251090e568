"""``evclip synth-dataset OUT``: build evclip's offline RGB + event benchmark (HARDVS layout)."""

from __future__ import annotations

import argparse
import json

from evclip.cli.simulate import add_workers_option
from evclip.datasets.synthetic import build_synthetic_benchmark


def run(args: argparse.Namespace) -> int:
    manifest = build_synthetic_benchmark(
        args.output,
        size=args.size,
        seed=args.seed,
        workers=args.workers,
        progress=not args.no_progress,
    )
    summary = {
        "output": args.output,
        "size": args.size,
        "seed": args.seed,
        "counts": manifest["counts"],
        "written_now": manifest["written_now"],
        "seconds": manifest["seconds"],
    }
    print(json.dumps(summary))
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "synth-dataset",
        help="build the synthetic RGB + event benchmark (coloured digits, HARDVS layout)",
        description="Build evclip's synthetic benchmark. Re-running on the same folder resumes.",
    )
    parser.add_argument("output", help="output folder (created; resumed if it holds this build)")
    parser.add_argument("--size", choices=("small", "full"), default="small", help="preset")
    parser.add_argument("--seed", type=int, default=0, help="everything derives from it (0)")
    add_workers_option(parser, "rendering processes")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.set_defaults(func=run)
