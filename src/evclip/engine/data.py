"""Datasets and loaders for the engine: built from the ``data`` config section by name.

Every sample the engine sees carries its dataset ``"index"`` (for gathering evaluation results
and for the feature cache). Training loaders ask for ``(epoch, index)`` pairs so that the
dataset's per-epoch random frame offsets follow the epoch even inside persistent workers.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from evclip.engine.config import ConfigError, DataConfig, image_size_of


def dataset_kwargs(config: DataConfig, *, train: bool, seed: int = 0) -> dict[str, Any]:
    """Keyword arguments for ``get_dataset`` (split and root not included)."""
    kwargs: dict[str, Any] = {"num_frames": config.num_frames, "seed": seed}
    size = image_size_of(config)
    if size is not None:
        kwargs["image_size"] = size
    for key in ("representation", "slicing", "events_per_window"):
        value = getattr(config, key)
        if value is not None:
            kwargs[key] = value
    kwargs["train"] = bool(train and config.random_frames)
    kwargs.update(config.options)
    return kwargs


def build_dataset(config: DataConfig, split: str, *, train: bool, seed: int = 0) -> Dataset:
    """``get_dataset(config.dataset, root=config.root, split=split, ...)`` with clear errors."""
    from evclip.datasets import DATASETS, get_dataset

    if config.dataset not in DATASETS:
        known = ", ".join(DATASETS.names())
        raise ConfigError(f"data.dataset: unknown dataset {config.dataset!r}; known: {known}")
    if config.root is None:
        raise ConfigError(f"data.root is required (the folder of the {config.dataset} dataset)")
    kwargs = dataset_kwargs(config, train=train, seed=seed)
    try:
        return get_dataset(config.dataset, root=config.root, split=split, **kwargs)
    except TypeError as err:
        given = ", ".join(sorted(kwargs))
        raise ConfigError(
            f"data: dataset {config.dataset!r} rejected its arguments ({given}): {err}; "
            "check data.options"
        ) from None


def class_names_of(dataset: Any) -> list[str]:
    """The class names of a dataset (``dataset.class_names``); an error when it has none."""
    names = getattr(dataset, "class_names", None)
    if not names:
        raise ValueError(f"{type(dataset).__name__} has no class_names")
    return list(names)


class IndexedDataset(Dataset):
    """Adds ``"index"`` to every sample; keys may be ``index`` or ``(epoch, index)``.

    With an ``(epoch, index)`` key the wrapped dataset's ``set_epoch`` is called first when its
    epoch differs, in whichever process loads the sample.
    """

    def __init__(self, dataset: Dataset) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]

    def __getitem__(self, key: int | tuple[int, int]) -> dict[str, Any]:
        if isinstance(key, tuple):
            epoch, index = key
            if getattr(self.dataset, "epoch", epoch) != epoch:
                self.dataset.set_epoch(epoch)  # type: ignore[attr-defined]
        else:
            index = key
        sample = dict(self.dataset[index])
        sample["index"] = int(index)
        return sample


class EpochKeys(Sampler[tuple[int, int]]):
    """Yields ``(epoch, index)`` for each index of ``sampler`` (see :class:`IndexedDataset`)."""

    def __init__(self, sampler: Sampler[int]) -> None:
        self.sampler = sampler
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)
        if hasattr(self.sampler, "set_epoch"):
            self.sampler.set_epoch(epoch)

    def __iter__(self) -> Iterator[tuple[int, int]]:
        epoch = self.epoch
        return ((epoch, int(i)) for i in self.sampler)

    def __len__(self) -> int:
        return len(self.sampler)  # type: ignore[arg-type]


def collate_batch(samples: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Collate engine samples: tensors stacked, ``"index"`` and ``"label"`` int64 [B],
    ``"features"`` (a dict of tensors per sample) stacked key by key, the rest as lists."""
    from evclip.datasets import collate_samples

    rest = [{k: v for k, v in s.items() if k not in ("index", "features")} for s in samples]
    batch = collate_samples(rest)
    if "index" in samples[0]:
        batch["index"] = torch.tensor([int(s["index"]) for s in samples], dtype=torch.int64)
    if "features" in samples[0]:
        names = samples[0]["features"].keys()
        batch["features"] = {n: torch.stack([s["features"][n] for s in samples]) for n in names}
    return batch


def make_loader(
    dataset: Dataset,
    *,
    batch_size: int,
    sampler: Sampler | None = None,
    num_workers: int = 0,
    seed: int = 0,
) -> DataLoader:
    """``evclip.datasets.make_dataloader``: workers that cannot deadlock (forkserver, persistent).

    The loader has its own seeded generator, so creating an iterator never draws from the
    global torch RNG (which would break exact resume).
    """
    from evclip.datasets import make_dataloader

    return make_dataloader(
        dataset,
        batch_size=batch_size,
        sampler=sampler,
        num_workers=num_workers,
        collate_fn=collate_batch,
        generator=torch.Generator().manual_seed(seed),
        seed=seed,
    )


def move_batch(batch: Mapping[str, Any], device: torch.device) -> dict[str, Any]:
    """Tensors (also inside ``"features"``) moved to ``device``; the rest untouched."""
    out: dict[str, Any] = {}
    for key, value in batch.items():
        if isinstance(value, torch.Tensor):
            out[key] = value.to(device, non_blocking=True)
        elif isinstance(value, Mapping):
            out[key] = move_batch(value, device)
        else:
            out[key] = value
    return out


def batch_size_of(batch: Mapping[str, Any]) -> int:
    """Number of samples in a batch."""
    if "label" in batch:
        return len(batch["label"])
    if "index" in batch:
        return len(batch["index"])
    raise ValueError("batch has neither 'label' nor 'index'")
