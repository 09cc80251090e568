"""Linear probes on a frozen backbone's cached features: how much of the answer the inputs hold.

A head trained on frozen features can do no better than what those features carry. A linear
probe (multinomial logistic regression, its inverse regularisation ``C`` chosen on the
validation split, the test split only scored) measures a floor of that ceiling without any
fusion architecture. When a full head and its ablations all land at the probe's accuracy, the
inputs, not the head's stages, are what limits them: an ablation cannot show its worth.

The probe reads the same feature cache as training (``run.feature_cache``): the features a run
of the same config trained on, computed once.

Pooling over a sample's tokens (each modality's ``[T, N, D]``):

- ``"frames"``: every token of every frame, in frame order, concatenated (what the paper head's
  temporal embedding keeps);
- ``"mean"``: tokens averaged over the frames (what the public code does before fusing: the
  order of the frames is gone; what one frame shows on its own survives).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from evclip.engine import distributed as D
from evclip.engine.build import seed_everything
from evclip.engine.config import ConfigError, ExperimentConfig, validate

POOLINGS = ("frames", "mean")
DEFAULT_CS = (0.01, 0.1, 1.0, 10.0)


@dataclass
class ProbeResult:
    """A probe's choice and scores (accuracies are fractions)."""

    pooling: str
    features: int
    chosen_c: float
    val_top1: dict[float, float] = field(default_factory=dict)  # per C
    test_top1: float | None = None
    test_top5: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "pooling": self.pooling,
            "features": self.features,
            "chosen_c": self.chosen_c,
            "val_top1": {str(c): v for c, v in self.val_top1.items()},
            "test_top1": self.test_top1,
            "test_top5": self.test_top5,
        }


def pool_features(features: dict[str, torch.Tensor], pooling: str) -> np.ndarray:
    """One sample's cached tokens (``{name: [T, N, D]}``) as one vector, modalities in name
    order."""
    if pooling not in POOLINGS:
        raise ValueError(f"pooling must be one of {', '.join(POOLINGS)}, got {pooling!r}")
    parts = []
    for name in sorted(features):
        tokens = features[name].float()
        if tokens.ndim != 3:
            raise ValueError(f"feature {name!r} has shape {tuple(tokens.shape)}, not [T, N, D]")
        parts.append((tokens.mean(0) if pooling == "mean" else tokens).flatten())
    return torch.cat(parts).numpy()


def split_arrays(dataset: Dataset, pooling: str) -> tuple[np.ndarray, np.ndarray]:
    """(features [n, F], labels [n]) of a cached split."""
    rows, labels = [], []
    for i in range(len(dataset)):
        sample = dataset[i]
        rows.append(pool_features(sample["features"], pooling))
        labels.append(int(sample["label"]))
    if not rows:
        raise ValueError("the split is empty: nothing to probe")
    return np.stack(rows), np.asarray(labels)


def fit_probe(
    train: tuple[np.ndarray, np.ndarray],
    val: tuple[np.ndarray, np.ndarray],
    test: tuple[np.ndarray, np.ndarray] | None = None,
    *,
    cs: tuple[float, ...] = DEFAULT_CS,
    pooling: str = "frames",
    seed: int = 0,
) -> ProbeResult:
    """Standardise on the training split, fit one logistic regression per ``C``, keep the one
    with the best validation top-1 (the smaller ``C`` on ties) and score it on ``test``."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    if not cs:
        raise ValueError("cs: give at least one value of C")
    scaler = StandardScaler().fit(train[0])
    x_train, x_val = scaler.transform(train[0]), scaler.transform(val[0])
    result = ProbeResult(pooling=pooling, features=int(train[0].shape[1]), chosen_c=cs[0])
    best, best_model = -1.0, None
    for c in sorted(cs):
        model = LogisticRegression(C=c, max_iter=2000, random_state=seed)
        model.fit(x_train, train[1])
        score = float((model.predict(x_val) == val[1]).mean())
        result.val_top1[c] = score
        if score > best:
            best, best_model, result.chosen_c = score, model, c
    if test is not None and best_model is not None:
        proba = best_model.predict_proba(scaler.transform(test[0]))
        order = best_model.classes_[np.argsort(-proba, axis=1)]
        result.test_top1 = float((order[:, 0] == test[1]).mean())
        result.test_top5 = float((order[:, :5] == test[1][:, None]).any(1).mean())
    return result


def linear_probe(
    config: ExperimentConfig,
    poolings: tuple[str, ...] = POOLINGS,
    *,
    cs: tuple[float, ...] = DEFAULT_CS,
) -> list[ProbeResult]:
    """Probe the frozen features of ``config``'s method on its train / val / test splits.

    Raises:
        ConfigError: the config has no validation split, or its method offers no feature cache
            (a trained backbone has no fixed features to probe).
    """
    from evclip.engine.experiment import (
        build_experiment_method,
        load_splits,
        prepare_split,
        use_feature_cache,
    )

    validate(config)
    if not config.data.val_split:
        raise ConfigError("a linear probe chooses C on data.val_split: set it")
    seed_everything(config.run.seed)
    splits = load_splits(config)
    ctx = D.DistContext(device=D.pick_device(config.run.device))
    method = build_experiment_method(config, splits.class_names).to(ctx.device)
    cache_train, _ = use_feature_cache(config, method, splits.train)
    if not cache_train:
        raise ConfigError(
            "a linear probe needs fixed features: a frozen backbone, deterministic training "
            "inputs (data.random_frames=false) and run.feature_cache on or auto"
        )
    data = {
        name: prepare_split(ds, method, config, ctx, cached=True)
        for name, ds in (("train", splits.train), ("val", splits.val), ("test", splits.test))
        if ds is not None
    }
    results = []
    for pooling in poolings:
        arrays = {name: split_arrays(ds, pooling) for name, ds in data.items()}
        results.append(
            fit_probe(
                arrays["train"],
                arrays["val"],
                arrays.get("test"),
                cs=cs,
                pooling=pooling,
                seed=config.run.seed,
            )  # fmt: skip
        )
    return results
