"""A DataLoader for the dataset readers that cannot deadlock and is seeded end to end.

>>> from evclip.datasets import get_dataset, make_dataloader
>>> ds = get_dataset("synthetic", root="bench", split="train")  # doctest: +SKIP
>>> loader = make_dataloader(ds, batch_size=8, shuffle=True, num_workers=2)  # doctest: +SKIP
>>> for epoch in range(3):  # doctest: +SKIP
...     ds.set_epoch(epoch)
...     for batch in loader:
...         ...

What it does beyond ``torch.utils.data.DataLoader``:

- worker processes start from a clean ``forkserver`` (``spawn`` where there is none), never by
  forking the training process: a forked worker inherits the parent's OpenMP, CUDA and HDF5
  state without their threads, which is how worker processes hang (see
  :mod:`evclip.datasets.workers`). The forkserver has imported torch and the datasets once, so
  starting a worker costs milliseconds. As with ``spawn``, a script must guard its entry point
  with ``if __name__ == "__main__":`` and the dataset, sampler and ``collate_fn`` must pickle.
- workers persist across epochs by default (started once, not every epoch), and follow
  :meth:`~evclip.datasets.EventDataset.set_epoch` anyway: each index is sent with the epoch
  current when the epoch's iteration starts, so the random frame offsets change every epoch.
- one seed makes the shuffle order and every worker's ``random``/``numpy``/``torch`` state
  reproducible (torch seeds each worker from the loader's generator).
- worker processes run numba kernels on one thread, on a fork-safe threading layer.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset, RandomSampler, Sampler, SequentialSampler

from evclip.datasets.base import EventDataset, collate_samples
from evclip.datasets.workers import init_worker

#: Modules the forkserver imports once, so that each worker it forks starts with them loaded.
FORKSERVER_PRELOAD = ("__main__", "torch", "evclip.datasets")


class EpochKeySampler(Sampler):
    """Yields ``(epoch, index)`` for every index of ``sampler``, the epoch read from the dataset
    when iteration starts, so that persistent worker processes follow ``set_epoch``.

    Keys that are already ``(epoch, index)`` pairs pass through unchanged.
    """

    def __init__(self, sampler: Sampler | Sequence[int], dataset: EventDataset) -> None:
        self.sampler = sampler
        self.dataset = dataset

    def __iter__(self) -> Iterator[tuple[int, int]]:
        epoch = int(self.dataset.epoch)  # now, in the main process, not when the first key is sent
        return (key if isinstance(key, tuple) else (epoch, int(key)) for key in self.sampler)

    def __len__(self) -> int:
        return len(self.sampler)  # type: ignore[arg-type]

    def set_epoch(self, epoch: int) -> None:
        """Passed on to the wrapped sampler (a ``DistributedSampler`` needs it)."""
        if hasattr(self.sampler, "set_epoch"):
            self.sampler.set_epoch(epoch)


def worker_context() -> multiprocessing.context.BaseContext:
    """``forkserver`` (preloading :data:`FORKSERVER_PRELOAD`) where available, else ``spawn``."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(list(FORKSERVER_PRELOAD))  # read when the server first starts
    return context


def make_dataloader(
    dataset: Dataset,
    *,
    batch_size: int | None,
    shuffle: bool = False,
    num_workers: int = 0,
    sampler: Sampler | Sequence[int] | None = None,
    drop_last: bool = False,
    seed: int = 0,
    persistent_workers: bool | None = None,
    collate_fn: Callable[[list[Any]], Any] | None = None,
    generator: torch.Generator | None = None,
    pin_memory: bool = False,
    multiprocessing_context: str | multiprocessing.context.BaseContext | None = None,
) -> DataLoader:
    """A ``DataLoader`` whose worker processes cannot deadlock (see the module docstring).

    Args:
        dataset: any map-style dataset; an :class:`~evclip.datasets.EventDataset` gets its
            indices as ``(epoch, index)`` keys so that persistent workers follow ``set_epoch``.
        batch_size: samples per batch (None: samples one by one, not collated into batches).
        shuffle: a new random order every epoch, drawn from ``generator``.
        num_workers: worker processes (0 loads in this process).
        sampler: the order of indices (exclusive with ``shuffle``), e.g. a
            ``DistributedSampler``.
        drop_last: drop the last incomplete batch.
        seed: seeds ``generator`` when none is given.
        persistent_workers: keep workers between epochs; default True (ignored without
            workers).
        collate_fn: how samples become a batch; default
            :func:`~evclip.datasets.collate_samples` (torch's default with ``batch_size=None``).
        generator: the loader's random generator (shuffle order, worker seeds); default
            ``torch.Generator().manual_seed(seed)``, so the global torch RNG is never drawn from.
        pin_memory: page-locked batches, for fast copies to a GPU.
        multiprocessing_context: how workers start; default :func:`worker_context`. ``"fork"``
            is accepted but is the start method that can hang.

    Returns:
        The ``torch.utils.data.DataLoader``.

    Raises:
        ValueError: ``shuffle`` together with ``sampler``, or a negative ``num_workers``.
    """
    if num_workers < 0:
        raise ValueError(f"num_workers must be 0 or more, got {num_workers}")
    if shuffle and sampler is not None:
        raise ValueError("pass either shuffle=True or a sampler, not both")
    if generator is None:
        generator = torch.Generator().manual_seed(int(seed))
    if sampler is None:
        sampler = (
            RandomSampler(dataset, generator=generator) if shuffle else SequentialSampler(dataset)
        )
    if isinstance(dataset, EventDataset):
        sampler = EpochKeySampler(sampler, dataset)
    workers: dict[str, Any] = {}
    if num_workers > 0:
        workers = {
            "multiprocessing_context": multiprocessing_context or worker_context(),
            "persistent_workers": True if persistent_workers is None else persistent_workers,
            "worker_init_fn": init_worker,
        }
    return DataLoader(
        dataset,
        batch_size=batch_size,
        sampler=sampler,
        num_workers=num_workers,
        collate_fn=collate_fn if collate_fn is not None or batch_size is None else collate_samples,
        drop_last=drop_last,
        generator=generator,
        pin_memory=pin_memory,
        **workers,
    )
