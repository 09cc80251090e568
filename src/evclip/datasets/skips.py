"""Bookkeeping of skipped samples that reaches the main process and is printed at the end.

DataLoader workers are separate processes, so a count kept on the dataset object stays in the
worker that made it. :class:`SkipLog` therefore appends every skip as one line to a small file in
the temporary folder (created at the first skip); every copy of the dataset, in any worker,
writes to the same file, and the main process reads it back. The main process prints a summary
of whatever it has not yet reported when the dataset is garbage-collected or the interpreter
exits, and then removes the file.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
import uuid
from collections.abc import Sequence
from typing import TextIO


class SkipLog:
    """Skips of one dataset, shared by its copies in DataLoader worker processes.

    Args:
        owner: name printed in the summary (the dataset's class name).
    """

    def __init__(self, owner: str) -> None:
        self.owner = owner
        self.file = os.path.join(
            tempfile.gettempdir(), f"evclip-skips-{os.getpid()}-{uuid.uuid4().hex}.tsv"
        )
        self.reported = 0
        self._main_pid = os.getpid()
        self._memory: list[tuple[int, str]] = []

    def record(self, index: int, reason: str) -> None:
        """Note that sample ``index`` was skipped for ``reason`` (one line per skipped request)."""
        reason = " ".join(reason.split())  # one line, no tabs
        self._memory.append((index, reason))
        try:
            with open(self.file, "a", encoding="utf-8") as f:
                f.write(f"{index}\t{reason}\n")
        except OSError:  # an unwritable temp folder only loses the workers' share of the summary
            pass

    def entries(self) -> list[tuple[int, str]]:
        """(index, reason) of every skipped request so far, from all processes."""
        try:
            with open(self.file, encoding="utf-8") as f:
                lines = f.read().splitlines()
        except OSError:
            return list(self._memory)
        rows = []
        for line in lines:
            index, _, reason = line.partition("\t")
            if index.isdigit():
                rows.append((int(index), reason))
        return rows

    def summary(self, paths: Sequence[str]) -> dict[str, str]:
        """{path: first reason} of every bad sample, in index order."""
        first: dict[int, str] = {}
        for index, reason in self.entries():
            first.setdefault(index, reason)
        return {paths[i]: first[i] for i in sorted(first) if 0 <= i < len(paths)}

    def report(self, paths: Sequence[str], file: TextIO | None = None) -> int:
        """Print the summary (nothing when nothing was skipped); returns the bad-sample count."""
        entries = self.entries()
        summary = self.summary(paths)
        self.reported = len(entries)
        if summary:
            out = file if file is not None else sys.stderr
            print(
                f"{self.owner}: {len(summary)} bad sample(s), {len(entries)} request(s) skipped",
                file=out,
            )
            for path, reason in summary.items():
                print(f"  {path}: {reason}", file=out)
        return len(summary)

    def close(self, paths: Sequence[str]) -> None:
        """At the end (dataset collected or interpreter exit): print what is unreported, clean up.

        Does nothing in worker processes, which must leave the file to the main process.
        """
        if os.getpid() != self._main_pid:
            return
        try:
            if len(self.entries()) > self.reported:
                self.report(paths)
        finally:
            with contextlib.suppress(OSError):
                os.remove(self.file)
