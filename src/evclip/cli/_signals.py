"""SIGINT and SIGTERM for the command line: both stop a command the same way, cleanly.

The handler raises :class:`Interrupted` (a ``KeyboardInterrupt``) in the main thread, so the
``with`` blocks on the way out delete their temporary files. It also records the signal: a
library callback that swallows the exception (h5py's cleanup callbacks print "Exception
ignored" and carry on) cannot make a command run to the end, because loops call
:func:`raise_if_interrupted` between chunks.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager

HANDLED = (signal.SIGINT, signal.SIGTERM)
_pending: list[int] = []  # signals received since handle_signals() started


class Interrupted(KeyboardInterrupt):
    """A command stopped by a signal.

    Attributes:
        signum: the signal number.
        exit_status: 128 + signum, as a shell reports a process killed by that signal.
        reason: "interrupted" for SIGINT, "terminated" for SIGTERM.
    """

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum
        self.exit_status = 128 + signum
        self.reason = "terminated" if signum == signal.SIGTERM else "interrupted"


def _on_signal(signum: int, frame: object) -> None:
    _pending.append(signum)
    raise Interrupted(signum)


def raise_if_interrupted() -> None:
    """Raise :class:`Interrupted` if a signal arrived whose exception was swallowed."""
    if _pending:
        raise Interrupted(_pending[0])


@contextmanager
def handle_signals() -> Iterator[None]:
    """Route SIGINT and SIGTERM to :class:`Interrupted` inside the block (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    _pending.clear()
    previous = {signum: signal.signal(signum, _on_signal) for signum in HANDLED}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        _pending.clear()
