"""The one error type every reader raises for bad input."""

from __future__ import annotations

import os


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
