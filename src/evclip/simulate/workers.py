"""Running many independent rendering or simulation jobs in worker processes.

Shared by the RGB-to-event synthesis (:mod:`evclip.simulate.synthesize`) and the offline
benchmark builder (:mod:`evclip.datasets.synthetic`): spawned processes with one thread each, a
bounded number of jobs in flight so that Ctrl-C stops promptly, and results as they finish.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from multiprocessing import get_context
from typing import Any, TypeVar

T = TypeVar("T")
R = TypeVar("R")


def init_worker() -> None:
    """One thread per worker process: pools of threads from several processes thrash the cores."""
    import torch

    from evclip.representations import limit_threads

    torch.set_num_threads(1)
    limit_threads(1)


def run_in_workers(
    function: Callable[..., R],
    items: Iterable[T],
    args: tuple[Any, ...] = (),
    *,
    workers: int = 1,
    in_flight_per_worker: int = 2,
) -> Iterator[R]:
    """Yield ``function(item, *args)`` for every item, in the order the jobs finish.

    With ``workers <= 1`` the jobs run here, in order. Otherwise they run in ``workers`` spawned
    processes (``function`` and the arguments must pickle), with at most
    ``in_flight_per_worker * workers`` submitted at a time; an interruption (Ctrl-C) or a
    failing job cancels the queued ones at once and waits only for those already running.
    """
    if workers <= 1:
        for item in items:
            yield function(item, *args)
        return
    context = get_context("spawn")
    with ProcessPoolExecutor(workers, mp_context=context, initializer=init_worker) as pool:
        queue, pending = iter(items), set[Future]()
        try:
            while True:
                for item in queue:
                    pending.add(pool.submit(function, item, *args))
                    if len(pending) >= in_flight_per_worker * workers:
                        break
                if not pending:
                    return
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    yield future.result()
        except BaseException:
            pool.shutdown(wait=True, cancel_futures=True)  # let running ones finish
            raise
