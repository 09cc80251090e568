"""Calling the Rust decoders (``aedat``, ``evt3``) so that every failure is an EventFormatError.

pyo3 turns a Rust panic into ``pyo3_runtime.PanicException``, a BaseException: a corrupt file
must not escape as one, but Ctrl-C and ``sys.exit`` still must.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

from evclip.io.errors import EventFormatError

T = TypeVar("T")
_DONE = object()


def call_decoder(path: Path, what: str, function: Callable[..., T], *args: Any, **kw: Any) -> T:
    """Return ``function(*args, **kw)``; any decoder failure becomes an EventFormatError.

    Args:
        path: the file named in the error.
        what: the decoder's name for the message, e.g. "AEDAT 4".
    """
    try:
        return function(*args, **kw)
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as error:  # pyo3 panics are BaseExceptions
        message = f"{what} decoder failed: {type(error).__name__}: {error}"
        raise EventFormatError(path, message) from error


def iterate_decoder(path: Path, what: str, iterator: Iterator[T]) -> Iterator[T]:
    """Yield from a decoder's iterator, turning its failures into EventFormatError."""
    while True:
        item = call_decoder(path, what, next, iterator, _DONE)
        if item is _DONE:
            return
        yield item
