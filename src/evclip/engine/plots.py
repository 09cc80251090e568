"""PNG plots of a run: training curves, confusion matrix, t-SNE, and a grid of predictions.

matplotlib is imported lazily and only through its object API with the Agg canvas (no pyplot,
no global backend change), so plotting works headless and inside other programs.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np


def _figure(width: float, height: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(figure)
    return figure


def _save(figure: Any, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, bbox_inches="tight")
    return path


def _last_per_step(records: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """One record per step (a resumed run logs some steps twice: keep the later one)."""
    by_step = {int(r["step"]): r for r in records}
    return [by_step[s] for s in sorted(by_step)]


def plot_training_curves(
    train: Sequence[dict[str, Any]], val: Sequence[dict[str, Any]], path: str | Path
) -> Path:
    """Loss and learning rate per optimiser step, validation metrics per evaluation."""
    train, val = _last_per_step(train), _last_per_step(val)
    figure = _figure(12, 3.6)
    axes = figure.subplots(1, 3)
    steps = [r["step"] for r in train]
    for name in sorted({k for r in train for k in r} - {"kind", "step", "time", "epoch"}):
        if name in ("lr", "lr_backbone", "samples_per_s", "grad_norm"):
            continue
        values = [r.get(name) for r in train]
        axes[0].plot(steps, [np.nan if v is None else v for v in values], label=name)
    axes[0].set(title="training loss", xlabel="optimiser step")
    for name in ("lr", "lr_backbone"):
        if any(name in r for r in train):
            axes[1].plot(steps, [r.get(name, np.nan) for r in train], label=name)
    axes[1].set(title="learning rate", xlabel="optimiser step")
    val_steps = [r["step"] for r in val]
    for name in ("top1", "top5", "mean_per_class"):
        if any(name in r for r in val):
            axes[2].plot(val_steps, [r.get(name, np.nan) for r in val], marker="o", label=name)
    axes[2].set(title="validation", xlabel="optimiser step")
    for ax in axes:
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8)
    return _save(figure, path)


def plot_confusion(matrix: np.ndarray, class_names: Sequence[str], path: str | Path) -> Path:
    """Row-normalised confusion matrix (true class down, predicted across)."""
    matrix = np.asarray(matrix, dtype=np.float64)
    rows = matrix.sum(axis=1, keepdims=True)
    normalised = np.divide(matrix, rows, out=np.zeros_like(matrix), where=rows > 0)
    n = len(class_names)
    side = min(max(4.0, 0.35 * n + 2), 30.0)
    figure = _figure(side + 1, side)
    ax = figure.subplots()
    image = ax.imshow(normalised, vmin=0, vmax=1, cmap="Blues")
    figure.colorbar(image, ax=ax, fraction=0.046)
    ax.set(xlabel="predicted", ylabel="true", title="confusion (row-normalised)")
    if n <= 15:  # counts in the cells
        for (i, j), count in np.ndenumerate(matrix):
            if count:
                colour = "white" if normalised[i, j] > 0.5 else "black"
                ax.text(j, i, f"{int(count)}", ha="center", va="center", fontsize=8, color=colour)
    if n <= 60:
        ax.set_xticks(range(n), [str(c) for c in class_names], rotation=90, fontsize=7)
        ax.set_yticks(range(n), [str(c) for c in class_names], fontsize=7)
    return _save(figure, path)


def plot_tsne(
    embeddings: np.ndarray,
    labels: np.ndarray,
    class_names: Sequence[str],
    path: str | Path,
    *,
    seed: int = 0,
) -> Path | None:
    """2-D t-SNE of embeddings coloured by true class; None when there are under 5 samples."""
    embeddings = np.asarray(embeddings, dtype=np.float32)
    if len(embeddings) < 5:
        return None
    from sklearn.manifold import TSNE

    perplexity = float(min(30.0, (len(embeddings) - 1) / 3))
    tsne = TSNE(n_components=2, perplexity=perplexity, random_state=seed, init="pca")
    points = tsne.fit_transform(embeddings.reshape(len(embeddings), -1))
    figure = _figure(7, 6)
    ax = figure.subplots()
    scatter = ax.scatter(points[:, 0], points[:, 1], c=labels, cmap="tab20", s=12)
    ax.set(title="t-SNE of embeddings (colour = true class)", xticks=[], yticks=[])
    if len(class_names) <= 20:
        handles, _ = scatter.legend_elements(num=None)
        present = sorted(set(int(x) for x in labels))
        ax.legend(handles, [class_names[i] for i in present], fontsize=7, loc="best")
    return _save(figure, path)


def _strip(frames: Any, gap: int = 2) -> np.ndarray | None:
    """uint8 [T, 3, H, W] frames side by side, white gaps between. uint8 [H, T*W + gaps, 3]."""
    if frames is None:
        return None
    array = np.asarray(frames)
    t, _, h, w = array.shape
    out = np.full((h, t * w + (t - 1) * gap, 3), 255, np.uint8)
    for k in range(t):
        out[:, k * (w + gap) : k * (w + gap) + w] = np.transpose(array[k], (1, 2, 0))
    return out


def plot_prediction_grid(
    samples: Sequence[dict[str, Any]],
    top5: Sequence[Sequence[tuple[str, float]]],
    path: str | Path,
) -> Path:
    """One row per sample: its RGB frames, its event images, its top-5 classes.

    Args:
        samples: dataset samples (``"rgb"`` and/or ``"events"`` [T, 3, H, W], ``"class_name"``).
        top5: per sample, (class name, probability) best first.
    """
    keys = [k for k in ("rgb", "events") if any(k in s for s in samples)]
    figure = _figure(4.0 * len(keys) + 3.5, 1.6 * len(samples))
    axes = np.asarray(figure.subplots(len(samples), len(keys) + 1, squeeze=False))
    for i, (sample, best) in enumerate(zip(samples, top5, strict=True)):
        for j, key in enumerate(keys):
            strip = _strip(sample.get(key))
            if strip is not None:
                axes[i, j].imshow(strip, interpolation="nearest")
            if i == 0:
                axes[i, j].set_title(f"{key} frames", fontsize=8)
        text = [f"true: {sample.get('class_name', '?')}"]
        text += [f"{p * 100:5.1f}%  {name}" for name, p in best]
        axes[i, -1].text(0, 0.5, "\n".join(text), fontsize=7, va="center", family="monospace")
        for ax in axes[i]:
            ax.axis("off")
    return _save(figure, path)
