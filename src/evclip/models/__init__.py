"""Recognition methods: one module per method, each registering a builder in ``METHODS``.

A method is an ``nn.Module`` built from keyword arguments that offers ``training_step``,
``predict``, ``set_classes`` and ``embed`` (see ``../shared/DESIGN.md``, "The method contract").
Importing this package registers the built-in methods.
"""

from __future__ import annotations

from evclip.registry import Registry

METHODS: Registry = Registry("method")


def list_methods(pattern: str | None = None) -> list[str]:
    """Names of the registered methods, sorted; ``pattern`` is a substring filter."""
    return METHODS.names(pattern)


# Built-in methods register themselves on import (one line each, after METHODS exists).
from evclip.models import eventclip, safe  # noqa: E402,F401
