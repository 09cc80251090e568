"""N-MNIST: ``<root>/Train/<digit>/<id>.bin`` and ``<root>/Test/<digit>/<id>.bin``, 34x34.

Labels are the digit folder names 0..9; class names are the digit words (``zero`` ...) so that
text prompts read naturally.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from evclip.datasets.base import DATASETS, EventDataset, SampleRef
from evclip.datasets.errors import DatasetError
from evclip.datasets.lists import list_files
from evclip.datasets.names import class_names
from evclip.io import read_events

NMNIST_SENSOR = (34, 34)
SPLIT_FOLDERS = {"train": "Train", "test": "Test"}


@DATASETS.register("nmnist")
class NMNIST(EventDataset):
    """N-MNIST, 60 000 train / 10 000 test recordings.

    Args:
        root: folder holding ``Train`` and ``Test``.
        split: ``train`` or ``test``.
        **options: see :class:`~evclip.datasets.base.EventDataset`.
    """

    def __init__(self, root: str | os.PathLike[str], split: str = "train", **options: Any) -> None:
        if split not in SPLIT_FOLDERS:
            raise ValueError(f"split must be 'train' or 'test', got {split!r}")
        root = Path(root)
        if not root.is_dir():
            raise DatasetError(root, "dataset root not found")
        folder = root / SPLIT_FOLDERS[split]
        if not folder.is_dir():
            raise DatasetError(folder, f"split folder for {split!r} not found")
        samples = []
        for digit in range(10):
            digit_folder = folder / str(digit)
            if digit_folder.is_dir():
                files = list_files(digit_folder, (".bin",))
                samples.extend(SampleRef(str(p), digit) for p in files)
        if not samples:
            raise DatasetError(folder, "no .bin files in digit folders 0..9")
        super().__init__(root, split, samples, class_names("nmnist"), **options)

    def _load(self, ref: SampleRef, rng: np.random.Generator | None) -> dict[str, Any]:
        stream = read_events(ref.path, sensor_size=NMNIST_SENSOR)
        return self._render(stream, rng)
