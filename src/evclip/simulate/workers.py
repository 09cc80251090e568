"""Running many independent rendering or simulation jobs in worker processes.

Shared by the RGB-to-event synthesis (:mod:`evclip.simulate.synthesize`) and the offline
benchmark builder (:mod:`evclip.datasets.synthetic`): spawned processes with one thread each, a
bounded number of jobs in flight so that Ctrl-C stops promptly, and results as they finish.

Workers never outlive the process that started them. On Linux each asks the kernel for SIGKILL
when its parent goes (``prctl(PR_SET_PDEATHSIG)``); everywhere a watchdog thread also checks the
parent's pid every :data:`WATCH_INTERVAL_S` seconds. Without this, killing only the main process
left idle workers (and multiprocessing's resource tracker, which waits for them) holding the
caller's pipes open for minutes. An interruption (Ctrl-C, or SIGTERM turned into an exception by
the command line) cancels the queued jobs, gives the running ones :data:`GRACE_S` seconds to
finish (a second interruption cuts that short) and then terminates the workers.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from multiprocessing import get_context
from typing import Any, TypeVar

T = TypeVar("T")
R = TypeVar("R")

WATCH_INTERVAL_S = 0.5
GRACE_S = 5.0  # how long an interrupted pool lets its running jobs finish
_PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>


def init_worker() -> None:
    """One thread per worker process: pools of threads from several processes thrash the cores."""
    import torch

    from evclip.representations import limit_threads

    torch.set_num_threads(1)
    limit_threads(1)


def _watch_parent(parent_pid: int) -> None:
    while True:
        time.sleep(WATCH_INTERVAL_S)
        if os.getppid() != parent_pid:
            os._exit(1)  # the parent is gone: nobody will read our results


def die_with_parent(parent_pid: int) -> None:
    """Make this process exit when ``parent_pid`` (its parent) exits, however it ends."""
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        except (OSError, AttributeError):  # no usable libc: the watchdog still works
            pass
    if os.getppid() != parent_pid:  # died before the request took effect
        os._exit(1)
    threading.Thread(target=_watch_parent, args=(parent_pid,), daemon=True).start()


def _start_worker(parent_pid: int, initializer: Callable[[], None] | None) -> None:
    die_with_parent(parent_pid)
    if initializer is not None:
        initializer()


def _stop(pool: ProcessPoolExecutor, pending: set[Future], grace: float) -> None:
    """Cancel queued jobs, let running ones finish for up to ``grace`` s, then stop workers."""
    for future in pending:
        future.cancel()
    with contextlib.suppress(KeyboardInterrupt):  # interrupted again: stop now
        wait(pending, timeout=grace)
    _terminate(pool)


def _terminate(pool: ProcessPoolExecutor) -> None:
    """Stop every worker now (running jobs included) and release the pool."""
    terminate = getattr(pool, "terminate_workers", None)  # Python 3.14+
    if terminate is not None:
        terminate()
        return
    processes = list((getattr(pool, "_processes", None) or {}).values())
    for process in processes:
        process.terminate()
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        process.join(timeout=5)


def _run_here(function: Callable[..., R], items: Iterable[T], args: tuple[Any, ...]) -> Iterator[R]:
    """The jobs in this process, on one torch thread as in a worker, restored afterwards.

    The jobs are many small simulations: torch's intra-op pool costs more than it saves on them,
    and collapses (a 48x48 ``torch.log`` in 16 ms instead of 8 us) when other processes keep the
    cores busy.
    """
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        for item in items:
            yield function(item, *args)
    finally:
        torch.set_num_threads(threads)


def run_in_workers(
    function: Callable[..., R],
    items: Iterable[T],
    args: tuple[Any, ...] = (),
    *,
    workers: int = 1,
    in_flight_per_worker: int = 2,
    initializer: Callable[[], None] | None = init_worker,
) -> Iterator[R]:
    """Yield ``function(item, *args)`` for every item, in the order the jobs finish.

    With ``workers <= 1`` the jobs run here, in order. Otherwise they run in ``workers`` spawned
    processes (``function``, the arguments and ``initializer`` must pickle), with at most
    ``in_flight_per_worker * workers`` submitted at a time. A failing job cancels the queued ones
    and waits for those already running; an interruption (``KeyboardInterrupt``, including the
    command line's SIGTERM, or closing the generator) waits at most :data:`GRACE_S` seconds for
    them and then terminates the workers. Iterate the generator in the thread that started it:
    on Linux a worker is killed when that thread ends.
    """
    if workers <= 1:
        yield from _run_here(function, items, args)
        return
    pool = ProcessPoolExecutor(
        workers,
        mp_context=get_context("spawn"),
        initializer=_start_worker,
        initargs=(os.getpid(), initializer),
    )
    queue, pending = iter(items), set[Future]()
    try:
        while True:
            for item in queue:
                pending.add(pool.submit(function, item, *args))
                if len(pending) >= in_flight_per_worker * workers:
                    break
            if not pending:
                break
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                yield future.result()
    except (KeyboardInterrupt, SystemExit, GeneratorExit):
        _stop(pool, pending, GRACE_S)
        raise
    except BaseException:
        pool.shutdown(wait=True, cancel_futures=True)  # let running ones finish
        raise
    pool.shutdown(wait=True)
