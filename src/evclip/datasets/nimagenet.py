"""N-ImageNet (1000 classes, 640x480) and its robustness variants.

Layout under ``root``::

    train_list.txt, val_list.txt               one sample path per line (often absolute paths
                                                from the authors' machines)
    extracted_train/<wnid>/<wnid>_<n>.npz      event_data (x, y, t in us, p) or older keys
    extracted_val/<wnid>/...
    extracted_val_mode_{1,3,5,6,7}/...         validation under other camera trajectories
    extracted_val_brightness_{4,5,6,7}/...     validation under other lighting

A listed path is re-rooted at its ``extracted_*`` folder, so lists written on another machine
work. Without a list file (the variants have none) the folder is scanned. Labels are the
positions of the wnids in sorted order; class names are readable ImageNet names.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from evclip.datasets.base import DATASETS, EventDataset, SampleRef
from evclip.datasets.errors import DatasetError
from evclip.datasets.lists import list_class_folders, list_files, read_path_list
from evclip.datasets.names import class_names, nimagenet_wnids
from evclip.io import read_events

NIMAGENET_SENSOR = (640, 480)
VARIANTS = ("mode_1", "mode_3", "mode_5", "mode_6", "mode_7") + tuple(
    f"brightness_{k}" for k in range(4, 8)
)


def _from_list(list_path: Path, root: Path, index: dict[str, int]) -> list[SampleRef]:
    samples = []
    for listed, line_no in read_path_list(list_path):
        parts = listed.replace("\\", "/").split("/")
        starts = [i for i, part in enumerate(parts) if part.startswith("extracted_")]
        relative = parts[starts[-1] :] if starts else parts
        if len(relative) < 2:
            raise DatasetError(list_path, f"cannot find <wnid>/<file> in {listed!r}", line_no)
        wnid = relative[-2]
        if wnid not in index:
            raise DatasetError(list_path, f"unknown wnid {wnid!r} in {listed!r}", line_no)
        meta = {"list": str(list_path), "list_line": line_no}
        samples.append(SampleRef(str(root.joinpath(*relative)), index[wnid], meta))
    return samples


def _scan(folder: Path, index: dict[str, int]) -> list[SampleRef]:
    samples = []
    for wnid in list_class_folders(folder):
        if wnid not in index:
            raise DatasetError(folder / wnid, "folder is not an ImageNet-1k wnid")
        samples.extend(SampleRef(str(p), index[wnid]) for p in list_files(folder / wnid, (".npz",)))
    if not samples:
        raise DatasetError(folder, "no .npz files found in wnid folders")
    return samples


@DATASETS.register("nimagenet")
class NImageNet(EventDataset):
    """N-ImageNet.

    Args:
        root: dataset folder.
        split: ``train`` or ``val``.
        variant: None, or one of ``mode_1, mode_3, mode_5, mode_6, mode_7, brightness_4 ..
            brightness_7`` (validation only): reads ``extracted_val_<variant>``.
        list_file: a list to read instead of ``root/<split>_list.txt``; the folder is scanned
            when neither exists.
        **options: see :class:`~evclip.datasets.base.EventDataset`.
    """

    def __init__(
        self,
        root: str | os.PathLike[str],
        split: str = "train",
        *,
        variant: str | None = None,
        list_file: str | os.PathLike[str] | None = None,
        **options: Any,
    ) -> None:
        if split not in ("train", "val"):
            raise ValueError(f"split must be 'train' or 'val', got {split!r}")
        if variant is not None and (variant not in VARIANTS or split != "val"):
            raise ValueError(f"variant must be one of {VARIANTS} with split='val', got {variant!r}")
        root = Path(root)
        if not root.is_dir():
            raise DatasetError(root, "dataset root not found")
        index = {wnid: i for i, wnid in enumerate(nimagenet_wnids())}
        folder = root / (f"extracted_val_{variant}" if variant else f"extracted_{split}")
        default_list = root / f"{split}_list.txt"
        if list_file is not None:
            samples = _from_list(Path(list_file), root, index)
        elif variant is None and default_list.is_file():
            samples = _from_list(default_list, root, index)
        elif folder.is_dir():
            samples = _scan(folder, index)
        else:
            raise DatasetError(folder, f"neither {default_list.name} nor this folder exists")
        self.variant = variant
        super().__init__(root, split, samples, class_names("nimagenet"), **options)

    def _load(self, ref: SampleRef, rng: np.random.Generator | None) -> dict[str, Any]:
        stream = read_events(ref.path, sensor_size=NIMAGENET_SENSOR, sort=True)
        return self._render(stream, rng)
