"""numba's threads inside DataLoader worker processes, without the fork + OpenMP deadlock.

A DataLoader worker started with ``fork`` inherits the parent's OpenMP state (torch's, and
numba's when its ``omp`` threading layer shares torch's ``libgomp``) but none of its threads.
Once the parent has run an OpenMP region (any sizeable torch operation: a matmul, a copy of a
few tens of thousands of elements), starting numba's ``omp`` layer in the worker raises the
OpenMP thread count again, and the worker's next parallel torch operation waits forever for the
parent's threads. numba's ``workqueue`` layer uses plain threads of its own and is fork-safe, and
in a worker the kernels run on one thread anyway, so the layer costs nothing there.
"""

from __future__ import annotations

import os
import sys

from torch.utils.data import get_worker_info

from evclip.representations import limit_threads

#: The numba threading layer started in worker processes (fork-safe, see the module docstring).
WORKER_THREADING_LAYER = "workqueue"

_worker_threads_limited = False


def _numba_layer_started(numba) -> bool:
    """Whether numba has started a threading layer in this process (it cannot change after)."""
    try:
        numba.threading_layer()
    except ValueError:  # "Threading layer is not initialized."
        return False
    return True


def use_fork_safe_threading_layer() -> None:
    """Make numba start its fork-safe ``workqueue`` layer, unless a layer is already running.

    Call it in a worker process before any numba kernel runs. It imports nothing (the kernels
    import numba only for long streams): numba, when imported later, reads the layer from the
    environment variable set here; when imported already, its configuration is set too.
    """
    os.environ["NUMBA_THREADING_LAYER"] = WORKER_THREADING_LAYER
    numba = sys.modules.get("numba")
    if numba is not None and not _numba_layer_started(numba):
        numba.config.THREADING_LAYER = WORKER_THREADING_LAYER


def limit_threads_in_worker() -> None:
    """In a DataLoader worker process, run the numba kernels on one thread (as torch does).

    Chooses a fork-safe numba threading layer first (see the module docstring); in the main
    process it does nothing. Neither step imports numba. Cheap after the first call, so
    ``__getitem__`` may call it always.
    """
    global _worker_threads_limited
    if not _worker_threads_limited and get_worker_info() is not None:
        use_fork_safe_threading_layer()
        limit_threads(1)
        _worker_threads_limited = True


def init_worker(worker_id: int) -> None:
    """``worker_init_fn`` of :func:`evclip.datasets.make_dataloader`: one numba thread, safely."""
    del worker_id  # torch has already seeded random, numpy and torch from the loader's generator
    limit_threads_in_worker()
