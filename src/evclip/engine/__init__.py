"""Training and evaluation engine: method-agnostic, single process or torchrun.

The engine wires an experiment config to a registered method (``evclip.models.METHODS``) and a
registered dataset (``evclip.datasets.DATASETS``), and never branches on a method's name. What
it needs from a method is the contract of ``DESIGN.md`` (``training_step``, ``predict``,
``set_classes``, ``embed``) plus these optional hooks:

- ``parameter_groups() -> {"backbone": [...], "head": [...]}``: the backbone trains at
  ``optim.backbone_lr`` (:mod:`evclip.engine.schedule`);
- ``after_optimizer_step()``: called after every optimiser step (e.g. clamp a temperature);
- ``feature_cache_key() -> str | None`` and ``extract_features(batch) -> dict[str, Tensor]``:
  frozen-backbone features cached on disk, then passed back as ``batch["features"]``
  (:mod:`evclip.engine.cache`);
- ``export_pretrained(folder) -> dict[str, str]``: files a rebuilt model needs offline
  (:mod:`evclip.engine.pretrained`).

Modules: ``config`` (dataclasses, YAML, overrides), ``distributed`` (torchrun, samplers),
``schedule`` (AdamW, warmup + cosine), ``checkpoint`` (atomic, exact resume), ``trainer`` (the
loop), ``evaluate`` (gathered evaluation), ``metrics``, ``plots``, ``sinks`` (JSONL,
TensorBoard, progress), ``cache`` (feature cache), ``pretrained`` (model folders),
``experiment`` (a whole run).
"""

from __future__ import annotations

from evclip.engine.checkpoint import CheckpointError
from evclip.engine.config import (
    ConfigError,
    DataConfig,
    ExperimentConfig,
    MethodConfig,
    OptimConfig,
    RunConfig,
    load_config,
    shipped_configs,
)
from evclip.engine.distributed import is_main_process
from evclip.engine.experiment import train_experiment
from evclip.engine.metrics import classification_metrics
from evclip.engine.pretrained import from_pretrained, load_pretrained
from evclip.engine.trainer import NonFiniteLossError, Trainer, TrainingInterrupted

__all__ = [
    "CheckpointError",
    "ConfigError",
    "DataConfig",
    "ExperimentConfig",
    "MethodConfig",
    "NonFiniteLossError",
    "OptimConfig",
    "RunConfig",
    "Trainer",
    "TrainingInterrupted",
    "classification_metrics",
    "from_pretrained",
    "is_main_process",
    "load_config",
    "load_pretrained",
    "shipped_configs",
    "train_experiment",
]
