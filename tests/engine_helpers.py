"""A toy method and a toy in-memory dataset for the engine tests, registered on import.

``engine_toy`` (method): a linear "backbone" over the per-channel means of the frames, then a
linear head sized by ``set_classes``. It offers every optional engine hook (parameter groups,
feature cache, export) so the tests can exercise them. ``engine_toy`` (dataset): samples whose
event and RGB frames are noise around a brightness that depends on the label, learnable in a
few steps; training samples get a per-(seed, epoch, index) jitter like real random frame
offsets.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import Dataset

from evclip.datasets import DATASETS, SampleRef
from evclip.models import METHODS

TOY_CLASSES = ["alpha", "beta", "gamma"]


class ToyMethod(nn.Module):
    """Mean-pooled frames -> linear backbone -> ReLU -> linear head."""

    def __init__(
        self,
        *,
        hidden: int = 8,
        num_frames: int = 2,
        dropout: float = 0.0,
        frozen_backbone: bool = False,
        nan_after: int | None = None,
        config_file: str | None = None,
    ) -> None:
        super().__init__()
        self.num_frames = num_frames
        self.backbone = nn.Linear(6, hidden)
        self.dropout = nn.Dropout(dropout)
        self.head: nn.Linear | None = None
        self.hidden = hidden
        self.nan_after = nan_after
        self.calls = 0
        self.extract_calls = 0
        self.feature_batches = 0  # training steps fed from the feature cache
        self.config_file = config_file
        if config_file is not None:  # an architecture file the builder must find
            assert json.loads(Path(config_file).read_text())["hidden"] == hidden
        if frozen_backbone:
            self.backbone.requires_grad_(False)

    # -- contract ------------------------------------------------------------------------------
    def set_classes(self, names: list[str]) -> None:
        self.class_names = list(names)
        if self.head is None or self.head.out_features != len(names):
            self.head = nn.Linear(self.hidden, len(names))

    def _pooled(self, batch: dict[str, Any]) -> torch.Tensor:
        parts = []
        for key in ("events", "rgb"):
            frames = batch.get(key)
            if frames is None:
                parts.append(torch.zeros(len(batch["label"]), 3))
            else:
                parts.append((frames.float().mean(dim=(1, 3, 4)) / 255.0 - 0.5) * 4)  # (B, 3)
        return torch.cat(parts, dim=1)  # (B, 6)

    def _hidden(self, batch: dict[str, Any]) -> torch.Tensor:
        if "features" in batch:
            assert "events" not in batch and "rgb" not in batch
            return batch["features"]["pooled"]
        return torch.relu(self.backbone(self._pooled(batch)))

    def predict(self, batch: dict[str, Any]) -> torch.Tensor:
        return self.head(self._hidden(batch))

    def training_step(self, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        self.calls += 1
        self.feature_batches += int("features" in batch)
        logits = self.head(self.dropout(self._hidden(batch)))
        ce = nn.functional.cross_entropy(logits, batch["label"])
        if self.nan_after is not None and self.calls > self.nan_after:
            ce = ce * float("nan")
        return {"loss": ce, "ce": ce.detach()}

    def embed(self, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        return {"fused": nn.functional.normalize(self._hidden(batch), dim=-1)}

    # -- optional hooks ------------------------------------------------------------------------
    def parameter_groups(self) -> dict[str, list[nn.Parameter]]:
        return {"backbone": list(self.backbone.parameters())}

    def feature_cache_key(self) -> str | None:
        if any(p.requires_grad for p in self.backbone.parameters()):
            return None
        digest = hashlib.sha256()
        for tensor in self.backbone.state_dict().values():
            digest.update(tensor.numpy().tobytes())
        return f"toy-{digest.hexdigest()[:16]}"

    def extract_features(self, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        self.extract_calls += 1
        return {"pooled": torch.relu(self.backbone(self._pooled(batch)))}

    def export_pretrained(self, folder: Path) -> dict[str, str]:
        if self.config_file is None:
            return {}
        (Path(folder) / "arch.json").write_text(json.dumps({"hidden": self.hidden}))
        return {"config_file": "arch.json"}


if "engine_toy" not in METHODS:
    METHODS.register("engine_toy")(ToyMethod)


class ToyDataset(Dataset):
    """``size`` samples of ``num_frames`` 8x8 frames, label ``i % len(TOY_CLASSES)``."""

    has_rgb = True

    def __init__(
        self,
        root: str,
        split: str = "train",
        *,
        size: int = 12,
        num_frames: int = 2,
        image_size: tuple[int, int] | None = None,
        train: bool | None = None,
        seed: int = 0,
        representation: str = "eclip_rgb",
        slicing: str = "time",
        events_per_window: int | None = None,
        sensor_size: tuple[int, int] = (8, 8),
        class_names: list[str] | None = None,
    ) -> None:
        self.root = str(root)
        self.split = split
        self.size = size
        self.num_frames = num_frames
        self.image_size = tuple(image_size) if image_size is not None else (8, 8)
        self.train = split == "train" if train is None else bool(train)
        self.seed = seed
        self.epoch = 0
        self.transform = None
        self.representation = representation
        self.slicing = slicing
        self.events_per_window = events_per_window
        self.sensor_size = tuple(sensor_size)
        self.class_names = list(class_names or TOY_CLASSES)
        offset = {"train": 0, "val": 1000, "test": 2000}.get(split, 3000)
        self.offset = offset
        self.samples = [
            SampleRef(f"toy://{split}/{i}", i % len(self.class_names)) for i in range(size)
        ]

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, index: int) -> dict[str, Any]:
        ref = self.samples[index]
        rng = np.random.default_rng((self.offset + index, 7))
        level = 40 + 80 * ref.label
        shape = (self.num_frames, 3, *self.image_size)
        events = np.clip(rng.normal(level, 30, shape), 0, 255)
        rgb = np.clip(rng.normal(255 - level, 30, shape), 0, 255)
        if self.train:
            jitter = np.random.default_rng((self.seed, self.epoch, index)).normal(0, 10, shape)
            events = np.clip(events + jitter, 0, 255)
        return {
            "events": torch.from_numpy(events.astype(np.uint8)),
            "rgb": torch.from_numpy(rgb.astype(np.uint8)),
            "label": ref.label,
            "class_name": self.class_names[ref.label],
            "path": ref.path,
        }


if "engine_toy" not in DATASETS:
    DATASETS.register("engine_toy")(ToyDataset)


def toy_config(out_dir: Path, *overrides: str):
    """A small experiment on the toy method and dataset (no plots, no progress bars)."""
    from evclip.engine.config import load_config

    base = [
        "method.name=engine_toy",
        "data.dataset=engine_toy",
        f"data.root={out_dir}",
        "data.num_frames=2",
        "data.batch_size=4",
        "data.val_split=val",
        "data.options={size: 12}",
        "optim.lr=0.05",
        "optim.epochs=2",
        f"run.out_dir={out_dir}",
        "run.plots=false",
        "run.progress=false",
        "run.tensorboard=false",
        "run.log_every=1",
        f"run.cache_dir={out_dir / 'cache'}",
    ]
    return load_config(None, [*base, *overrides])


def ddp_main(out_dir: str, overrides: list[str]) -> None:
    """One rank of a torchrun run (RANK, WORLD_SIZE, MASTER_* set by torchrun).

    Writes ``rank<r>.json``: the weights this rank held after its last optimiser step, the run's
    results, and the gathered test predictions of the chosen model.
    """
    torch.set_num_threads(1)
    from evclip.engine import distributed as D
    from evclip.engine.evaluate import predict_dataset
    from evclip.engine.experiment import train_experiment

    config = toy_config(Path(out_dir), *overrides)
    ctx = D.init_distributed("cpu")
    seen: dict[str, Any] = {}

    def keep(trainer) -> None:
        seen["trainer"] = trainer
        seen["weights"] = {k: v.tolist() for k, v in trainer.method.state_dict().items()}

    try:
        results = train_experiment(config, callbacks=[keep])
        test = ToyDataset(out_dir, "test", size=config.data.options["size"])
        predictions = predict_dataset(seen["trainer"].method, test, batch_size=2)
        out = {
            "results": results,
            "weights": seen["weights"],
            "indices": predictions.indices.tolist(),
            "labels": predictions.labels.tolist(),
            "logits": predictions.logits.tolist(),
        }
        Path(out_dir, f"rank{ctx.rank}.json").write_text(json.dumps(out))
    finally:
        D.close_distributed()
