"""Evaluation over a whole split, sharded across ranks and gathered exactly once per sample.

Rank r of W predicts the samples r, r + W, ... (:class:`~evclip.engine.distributed.ShardSampler`),
then every rank gathers (index, logits, label) from all ranks and keeps one row per index, so
the metrics count each sample exactly once whatever the number of ranks. Evaluation is
deterministic: the datasets use segment centres when not training.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import Dataset

from evclip.engine import distributed as D
from evclip.engine.data import IndexedDataset, make_loader, move_batch
from evclip.engine.metrics import classification_metrics
from evclip.engine.sinks import progress_bar


@dataclass
class Predictions:
    """Gathered outputs of a split, sorted by dataset index.

    Attributes:
        indices: int64 [N].
        logits: float32 [N, C].
        labels: int64 [N].
        embeddings: float32 [N, D] (``embed(batch)["fused"]`` or its first entry), or None.
    """

    indices: np.ndarray
    logits: np.ndarray
    labels: np.ndarray
    embeddings: np.ndarray | None = None


def pick_embedding(embeddings: dict[str, torch.Tensor]) -> torch.Tensor:
    """``embeddings["fused"]`` when present, else the first entry."""
    if not embeddings:
        raise ValueError("embed() returned no embeddings")
    return embeddings["fused"] if "fused" in embeddings else next(iter(embeddings.values()))


def _local_predictions(
    method: nn.Module,
    loader: Any,
    device: torch.device,
    autocast: Callable[[], AbstractContextManager],
    embed: bool,
    progress: bool,
) -> dict[str, list[np.ndarray]]:
    parts: dict[str, list[np.ndarray]] = {"indices": [], "logits": [], "labels": [], "emb": []}
    bar = progress_bar(len(loader), "evaluate", enabled=progress)
    for batch in loader:
        moved = move_batch(batch, device)
        with torch.no_grad(), autocast():
            logits = method.predict(moved)
            emb = pick_embedding(method.embed(moved)) if embed else None
        parts["indices"].append(batch["index"].numpy())
        parts["labels"].append(batch["label"].numpy())
        parts["logits"].append(logits.detach().float().cpu().numpy())
        if emb is not None:
            parts["emb"].append(emb.detach().float().flatten(1).cpu().numpy())
        bar.update(1)
    bar.close()
    return parts


def _concat(parts: Sequence[np.ndarray], empty_shape: tuple[int, ...], dtype: Any) -> np.ndarray:
    return np.concatenate(parts) if len(parts) else np.zeros(empty_shape, dtype)


def predict_dataset(
    method: nn.Module,
    dataset: Dataset,
    *,
    batch_size: int,
    num_workers: int = 0,
    device: torch.device | str = "cpu",
    autocast: Callable[[], AbstractContextManager] = nullcontext,
    embed: bool = False,
    progress: bool = False,
    indexed: bool = False,
) -> Predictions:
    """Predict every sample of ``dataset`` (sharded over ranks), gathered on every rank.

    Args:
        method: the method (not DDP-wrapped).
        dataset: the split; ``indexed=True`` when its samples already carry ``"index"``.
        embed: also collect embeddings (for t-SNE).
    """
    rank, world = D.get_rank(), D.get_world_size()
    size = len(dataset)  # type: ignore[arg-type]
    source = dataset if indexed else IndexedDataset(dataset)
    loader = make_loader(
        source,
        batch_size=batch_size,
        sampler=D.ShardSampler(size, rank=rank, world_size=world),
        num_workers=num_workers,
    )
    was_training = method.training
    method.eval()
    try:
        parts = _local_predictions(method, loader, device, autocast, embed, progress)
    finally:
        method.train(was_training)
    local = {
        "indices": _concat(parts["indices"], (0,), np.int64),
        "labels": _concat(parts["labels"], (0,), np.int64),
        "logits": _concat(parts["logits"], (0, 0), np.float32),
        "emb": _concat(parts["emb"], (0, 0), np.float32) if embed else None,
    }
    return _merge(D.all_gather_objects(local), size, embed)


def _merge(gathered: list[dict[str, Any]], size: int, embed: bool) -> Predictions:
    """One row per dataset index from every rank's outputs; an error if any index is missing."""
    indices = np.concatenate([g["indices"] for g in gathered])
    nonempty = [g for g in gathered if len(g["indices"])]
    logits = np.concatenate([g["logits"] for g in nonempty]) if nonempty else np.zeros((0, 0))
    labels = np.concatenate([g["labels"] for g in gathered])
    unique, first = np.unique(indices, return_index=True)  # sorted, one row per index
    if len(unique) != size:
        raise RuntimeError(f"evaluation gathered {len(unique)} distinct samples of {size}")
    emb = None
    if embed and nonempty:
        emb = np.concatenate([g["emb"] for g in nonempty])[first]
    return Predictions(unique.astype(np.int64), logits[first], labels[first], emb)


def evaluate_dataset(
    method: nn.Module,
    dataset: Dataset,
    class_names: Sequence[str],
    **kwargs: Any,
) -> tuple[dict[str, Any], Predictions]:
    """:func:`predict_dataset` then :func:`~evclip.engine.metrics.classification_metrics`."""
    predictions = predict_dataset(method, dataset, **kwargs)
    metrics = classification_metrics(predictions.logits, predictions.labels, list(class_names))
    return metrics, predictions
