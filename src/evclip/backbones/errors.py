"""Errors raised while finding and loading CLIP backbones."""

from __future__ import annotations


class BackboneError(ValueError):
    """A CLIP model could not be built or loaded; the message names the model and the cause."""


class BackboneNotFoundError(BackboneError, FileNotFoundError):
    """The named model, folder or checkpoint does not exist (or is not downloaded)."""
