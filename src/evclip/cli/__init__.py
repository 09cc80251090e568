"""The ``evclip`` command line."""

from evclip.cli.main import main

__all__ = ["main"]
