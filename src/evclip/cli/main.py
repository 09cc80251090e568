"""Entry point of the ``evclip`` command: one sub-command per module in this package.

Each sub-command module defines ``register(subparsers)``, which adds its parser and sets
``func=run`` where ``run(args) -> int`` does the work.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from evclip import __version__
from evclip.io.errors import EventFormatError

COMMANDS = (
    "info", "render", "convert", "synth_dataset", "simulate", "synthesize", "zeroshot",
    "train", "eval_cmd", "predict",
)  # fmt: skip


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="evclip",
        description="Event-camera and RGB pattern recognition with vision-language models.",
    )
    parser.add_argument("--version", action="version", version=f"evclip {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    subparsers.required = True
    for name in COMMANDS:
        importlib.import_module(f"evclip.cli.{name}").register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status (2 for bad input, 130 on Ctrl-C)."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (EventFormatError, FileNotFoundError, ValueError) as err:
        print(f"evclip {args.command}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"evclip {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
