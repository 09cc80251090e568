"""The one error type every reader raises for bad input."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import TypeVar

T = TypeVar("T")


class EventFormatError(ValueError):
    """A file cannot be read as events: wrong format, truncated, corrupt or inconsistent.

    The message always names the file and, where it applies, the byte offset of the problem.

    Attributes:
        path: the file that failed, as a string (empty when not known).
        offset: byte offset of the problem, or None.
        problem: the bare description, without path and offset.
    """

    def __init__(
        self, path: str | os.PathLike[str] | None, problem: str, offset: int | None = None
    ) -> None:
        self.path = os.fspath(path) if path is not None else ""
        self.offset = offset
        self.problem = problem
        where = f" (at byte offset {offset})" if offset is not None else ""
        prefix = f"{self.path}: " if self.path else ""
        super().__init__(f"{prefix}{problem}{where}")


def reraise_as_format_errors(
    path: str | os.PathLike[str],
    chunks: Iterator[T],
    errors: tuple[type[BaseException], ...],
    what: str,
) -> Iterator[T]:
    """Yield from ``chunks``; a library error among ``errors`` becomes an EventFormatError.

    Args:
        path: the file named in the error.
        chunks: a decoding generator.
        errors: the exceptions that mean a damaged file (EventFormatError passes unchanged).
        what: the start of the message, e.g. "corrupt HDF5 file".
    """
    while True:
        try:
            chunk = next(chunks)
        except StopIteration:
            return
        except EventFormatError:
            raise
        except errors as error:
            raise EventFormatError(path, f"{what}: {error}") from error
        yield chunk


class TimestampUnitWarning(UserWarning):
    """A float ``t`` column that should hold microseconds looked like seconds and was converted.

    Filter it with ``warnings.simplefilter("ignore", TimestampUnitWarning)`` once the files are
    known to store seconds.
    """
