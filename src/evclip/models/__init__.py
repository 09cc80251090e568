"""Recognition methods: one module per method, each registering a builder in ``METHODS``.

A method is an ``nn.Module`` built from keyword arguments that offers ``training_step``,
``predict``, ``set_classes`` and ``embed`` (see ``../shared/DESIGN.md``, "The method contract").
Importing this package registers the built-in methods.
"""

from __future__ import annotations

import os
from typing import Any

from evclip.registry import Registry

METHODS: Registry = Registry("method")


def list_methods(pattern: str | None = None) -> list[str]:
    """Names of the registered methods, sorted; ``pattern`` is a substring filter."""
    return METHODS.names(pattern)


def from_pretrained(path_or_hub_id: str | os.PathLike[str], *, device: object = None) -> Any:
    """A trained model folder (or Hugging Face Hub repo id) as a ready method in eval mode.

    The folder is what ``evclip train`` exports: config, class names, preprocessing and
    safetensors weights, so no original config file is needed.

    >>> model = from_pretrained("runs/safe_poker/model")  # doctest: +SKIP
    >>> logits = model.predict(batch)  # doctest: +SKIP
    """
    # The engine sits above the models in the layer order; this entry point only forwards to it.
    from evclip.engine.pretrained import from_pretrained as _from_pretrained

    return _from_pretrained(path_or_hub_id, device=device)


# Built-in methods register themselves on import (one line each, after METHODS exists).
from evclip.models import eventclip, safe  # noqa: E402,F401
