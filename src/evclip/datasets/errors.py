"""Errors for dataset layouts: a missing root or list file, a malformed line, a bad sample."""

from __future__ import annotations

import os


class DatasetError(ValueError):
    """A dataset's layout or one of its list files is wrong.

    The message names the file or folder and, for list files, the 1-based line number.

    Attributes:
        path: the file or folder, as a string (empty when not known).
        line: 1-based line number, or None.
        problem: the bare description.
    """

    def __init__(
        self, path: str | os.PathLike[str] | None, problem: str, line: int | None = None
    ) -> None:
        self.path = os.fspath(path) if path is not None else ""
        self.line = line
        self.problem = problem
        where = f"{self.path}:{line}" if line is not None else self.path
        super().__init__(f"{where}: {problem}" if where else problem)


class SampleError(DatasetError):
    """One sample could not be loaded (missing or corrupt file); raised with ``on_error="raise"``.

    Attributes:
        index: the sample's position in the dataset.
    """

    def __init__(self, path: str | os.PathLike[str], problem: str, index: int) -> None:
        self.index = index
        super().__init__(path, f"sample {index} could not be loaded: {problem}")
