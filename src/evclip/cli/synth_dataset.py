"""``evclip synth-dataset OUT``: build evclip's offline RGB + event benchmark (HARDVS layout)."""

from __future__ import annotations

import argparse
import errno
import json
from pathlib import Path

from evclip.cli._common import add_quiet_option, add_workers_option


def run(args: argparse.Namespace) -> int:
    output = Path(args.output)
    if output.exists() and not output.is_dir():
        raise NotADirectoryError(errno.ENOTDIR, "is a file; give a folder", args.output)
    from evclip.datasets.synthetic import build_synthetic_benchmark

    manifest = build_synthetic_benchmark(
        args.output,
        size=args.size,
        seed=args.seed,
        workers=args.workers,
        progress=not args.quiet,
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
    add_quiet_option(parser)
    parser.set_defaults(func=run)
