"""ASL-DVS (24 letters a..y without j, DAVIS240, 240x180): ``<root>/<letter>/<file>.mat``.

The dataset has no official split. evclip uses a seeded split stratified by letter: in each
letter folder the files (sorted by name) are shuffled with a generator seeded by
(``split_seed``, label) and the first 80 % (``train_fraction``) are ``train``, the rest
``test``; ``split="all"`` takes every file. y is flipped as tonic does (y = 179 - y), so
letters appear upright.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from evclip.datasets.base import DATASETS, EventDataset, SampleRef
from evclip.datasets.errors import DatasetError
from evclip.datasets.lists import list_files, stratified_split
from evclip.datasets.names import class_names

ASL_SENSOR = (240, 180)
TRAIN_FRACTION = 0.8


@DATASETS.register("asl_dvs")
class ASLDVS(EventDataset):
    """ASL-DVS letters.

    Args:
        root: folder with one sub-folder per letter (``a`` .. ``y``, no ``j``).
        split: ``train``, ``test`` or ``all``.
        train_fraction: share of each letter in ``train``.
        split_seed: seed of the split; independent of ``seed`` (the frame offsets), so that
            train and test built with different ``seed`` never overlap.
        flip_y: flip rows as tonic does.
        **options: see :class:`~evclip.datasets.base.EventDataset`.
    """

    def __init__(
        self,
        root: str | os.PathLike[str],
        split: str = "train",
        *,
        train_fraction: float = TRAIN_FRACTION,
        split_seed: int = 0,
        flip_y: bool = True,
        **options: Any,
    ) -> None:
        root = Path(root)
        if not root.is_dir():
            raise DatasetError(root, "dataset root not found")
        names = class_names("asl_dvs")
        every: list[SampleRef] = []
        for label, letter in enumerate(names):
            folder = root / letter
            if folder.is_dir():
                every.extend(SampleRef(str(p), label) for p in list_files(folder, (".mat",)))
        if not every:
            raise DatasetError(root, "no .mat files in letter folders a..y")
        keep = stratified_split(
            [r.label for r in every],
            split,
            train_fraction=train_fraction,
            seed=split_seed,
        )
        self.flip_y = flip_y
        super().__init__(root, split, [every[i] for i in keep], names, **options)

    def _load(self, ref: SampleRef, rng: np.random.Generator | None) -> dict[str, Any]:
        from evclip.io.matlab import read_asl_dvs

        return self._render(read_asl_dvs(ref.path, flip_y=self.flip_y), rng)
