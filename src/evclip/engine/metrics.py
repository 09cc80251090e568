"""Classification metrics from logits: top-k, mean per-class accuracy, confusion matrix.

All functions take whole-split arrays (after gathering across ranks): logits [N, C] and labels
[N]. Mean per-class accuracy averages over the classes that occur in ``labels`` (a class with
no test sample has no accuracy).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch


def _as_numpy(x: torch.Tensor | np.ndarray) -> np.ndarray:
    return x.detach().float().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)


def topk_predictions(logits: torch.Tensor | np.ndarray, k: int) -> np.ndarray:
    """Indices of the ``k`` largest logits per row, best first. int64 [N, k]."""
    scores = _as_numpy(logits)
    k = min(k, scores.shape[1])
    # stable sort of negated scores: ties go to the lower class index, as argmax does
    return np.argsort(-scores, axis=1, kind="stable")[:, :k].astype(np.int64)


def topk_accuracy(
    logits: torch.Tensor | np.ndarray, labels: Sequence[int] | np.ndarray, k: int
) -> float:
    """Fraction of rows whose label is among the ``k`` best logits."""
    labels = np.asarray(labels, dtype=np.int64)
    if len(labels) == 0:
        return float("nan")
    top = topk_predictions(logits, k)
    return float((top == labels[:, None]).any(axis=1).mean())


def confusion_matrix(
    predictions: Sequence[int] | np.ndarray, labels: Sequence[int] | np.ndarray, num_classes: int
) -> np.ndarray:
    """Counts [true class, predicted class]. int64 [C, C]."""
    labels = np.asarray(labels, dtype=np.int64)
    predictions = np.asarray(predictions, dtype=np.int64)
    flat = labels * num_classes + predictions
    return np.bincount(flat, minlength=num_classes * num_classes).reshape(num_classes, num_classes)


def per_class_accuracy(matrix: np.ndarray) -> np.ndarray:
    """Recall of each class from a confusion matrix; NaN for classes without samples. [C]."""
    totals = matrix.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(totals > 0, np.diag(matrix) / np.maximum(totals, 1), np.nan)


def classification_metrics(
    logits: torch.Tensor | np.ndarray,
    labels: Sequence[int] | np.ndarray,
    class_names: Sequence[str],
) -> dict[str, Any]:
    """Every metric of a split.

    Returns:
        ``{"top1", "top5", "mean_per_class", "num_samples", "confusion": [[...]],
        "per_class": [{"class", "name", "samples", "correct", "accuracy"}]}``; accuracies are
        fractions in [0, 1] (``top5`` is top-min(5, C)).
    """
    scores = _as_numpy(logits)
    labels = np.asarray(labels, dtype=np.int64)
    num_classes = len(class_names)
    if scores.ndim != 2 or scores.shape[1] != num_classes:
        raise ValueError(f"logits of shape {scores.shape} for {num_classes} classes")
    predictions = topk_predictions(scores, 1)[:, 0]
    matrix = confusion_matrix(predictions, labels, num_classes)
    recall = per_class_accuracy(matrix)
    present = ~np.isnan(recall)
    table = [
        {
            "class": c,
            "name": class_names[c],
            "samples": int(matrix[c].sum()),
            "correct": int(matrix[c, c]),
            "accuracy": None if np.isnan(recall[c]) else float(recall[c]),
        }
        for c in range(num_classes)
    ]
    return {
        "top1": topk_accuracy(scores, labels, 1),
        "top5": topk_accuracy(scores, labels, 5),
        "mean_per_class": float(recall[present].mean()) if present.any() else float("nan"),
        "num_samples": int(len(labels)),
        "confusion": matrix.tolist(),
        "per_class": table,
    }


def summary(metrics: dict[str, Any]) -> dict[str, Any]:
    """The scalar part of :func:`classification_metrics` (what logs and tables show)."""
    keys = ("top1", "top5", "mean_per_class", "num_samples")
    return {k: metrics[k] for k in keys if k in metrics}


def per_class_table(metrics: dict[str, Any]) -> str:
    """The per-class table as Markdown text."""
    lines = ["| class | name | samples | correct | accuracy |", "| --- | --- | --- | --- | --- |"]
    for row in metrics["per_class"]:
        acc = "-" if row["accuracy"] is None else f"{100 * row['accuracy']:.2f}"
        cells = [row["class"], row["name"], row["samples"], row["correct"], acc]
        lines.append("| " + " | ".join(str(c) for c in cells) + " |")
    return "\n".join(lines)
