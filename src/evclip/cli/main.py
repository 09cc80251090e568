"""Entry point of the ``evclip`` command: one sub-command per module in this package.

Each sub-command module defines ``register(subparsers)``, which adds its parser and sets
``func=run`` where ``run(args) -> int`` does the work. Command modules import their heavy
dependencies (torch, numba, h5py) inside ``run``, so that ``evclip --help`` stays fast.

Exit status: 0 on success, 2 for bad input or an unwritable output (one line on stderr naming
the path and the problem), 130 on SIGINT (Ctrl-C), 143 on SIGTERM, 141 when the reader of
stdout went away (``evclip info f | head -1``).
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from evclip import __version__
from evclip.cli._signals import Interrupted, handle_signals

COMMANDS = (
    "info", "render", "convert", "synth_dataset", "simulate", "synthesize", "zeroshot",
    "train", "eval_cmd", "predict", "probe", "pretrain_clip", "demo",
)  # fmt: skip

# optional modules -> the extra that installs them (pyproject's [project.optional-dependencies])
EXTRAS = {
    "h5py": "readers",
    "hdf5plugin": "readers",
    "scipy": "readers",
    "numba": "fast",
    "sklearn": "data",
    "skimage": "data",
    "imageio": "data",
    "tensorboard": "train",
    "matplotlib": "train",
}


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


def missing_extra(err: ImportError) -> str | None:
    """A one-line install hint when ``err`` (or its cause) is a missing optional module."""
    for error in (err, err.__cause__):
        name = getattr(error, "name", None) or ""
        extra = EXTRAS.get(name.split(".")[0])
        if extra is not None:
            return f'{name} is not installed; it comes with pip install "evclip[{extra}]"'
    return None


def describe(err: BaseException) -> str:
    """One line naming the path and the problem."""
    if isinstance(err, OSError) and err.filename is not None and err.strerror:
        return f"{err.filename}: {err.strerror}"
    return str(err) or type(err).__name__


def _silence_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's final flush cannot fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # stdout replaced by an object without a descriptor
        pass


@contextmanager
def _one_line_warnings(command: str) -> Iterator[None]:
    """Warnings as ``evclip COMMAND: warning: ...`` lines, without source locations."""

    def show(message, category, filename, lineno, file=None, line=None) -> None:
        print(f"evclip {command}: warning: {message}", file=sys.stderr)

    with warnings.catch_warnings():
        warnings.showwarning = show
        yield


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status (see the module docstring)."""
    from evclip.io.errors import EventFormatError

    args = build_parser().parse_args(argv)
    name = f"evclip {args.command}"
    with handle_signals(), _one_line_warnings(args.command):
        try:
            status = int(args.func(args) or 0)
            sys.stdout.flush()  # a closed pipe shows here, not in the interpreter's exit
            return status
        except Interrupted as stop:
            print(f"{name}: {stop.reason}", file=sys.stderr)
            return stop.exit_status
        except KeyboardInterrupt:
            print(f"{name}: interrupted", file=sys.stderr)
            return 130
        except BrokenPipeError:  # the reader of stdout went away: nothing left to say
            _silence_stdout()
            return 141
        except ImportError as err:
            hint = missing_extra(err)
            if hint is None:
                raise
            print(f"{name}: error: {hint}", file=sys.stderr)
            return 2
        except (EventFormatError, ValueError, OSError) as err:
            print(f"{name}: error: {describe(err)}", file=sys.stderr)
            return 2


if __name__ == "__main__":
    sys.exit(main())
