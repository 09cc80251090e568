"""HARDVS (300 human activities, DAVIS346) in its published layout.

Layout under ``root``::

    train_label.txt / val_label.txt / test_label.txt   action_XXX/dvSave-... <num_frames> <label>
    action_XXX/<sample>/<sample>_dvs/00000000.png ...   event images (index from 0)
    action_XXX/<sample>/<sample>_aps/00000000.png ...   RGB frames
    action_XXX/<sample>.npz  or  action_XXX/<sample>/<sample>.npz   compact events (x, y, t, p)

The label is the file's label column; for class folders named ``action_XXX`` the folder must
agree (XXX - 1), which catches shifted or hand-edited lists at construction. Other data in the
same layout (such as evclip's own synthetic benchmark) reuse the reader with ``class_names=``.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import numpy as np

from evclip.datasets.base import DATASETS, EventDataset, SampleRef
from evclip.datasets.errors import DatasetError
from evclip.datasets.frames import (
    image_files,
    load_frames,
    positions_to_indices,
    segment_positions,
)
from evclip.datasets.lists import read_split_file
from evclip.datasets.names import resolve_class_names
from evclip.io import EventStream, read_events

HARDVS_SENSOR = (346, 260)
_ACTION_FOLDER = re.compile(r"^action_(\d+)$")


class FrameFolderDataset(EventDataset):
    """A dataset whose samples are folders with ``<sample>_dvs`` and ``<sample>_aps`` PNGs,
    listed in mmaction-style split files (shared by HARDVS and PokerEvent).

    Args:
        root: dataset folder.
        split: ``train``, ``val`` or ``test`` (reads ``<split>_label.txt``).
        class_names: list, path of a class list file, or None for the shipped list.
        source: ``"png"`` (event and RGB PNGs) or an event file kind (see subclasses).
        with_rgb: load the RGB frames too.
        split_file: a list file to read instead of ``root/<split>_label.txt``.
        sensor_size: (width, height) of the event files.
        **options: see :class:`~evclip.datasets.base.EventDataset`.
    """

    shipped_names = ""
    event_suffix = ".npz"
    sources = ("png", "npz")

    def __init__(
        self,
        root: str | os.PathLike[str],
        split: str = "train",
        *,
        class_names: list[str] | str | os.PathLike[str] | None = None,
        source: str = "png",
        with_rgb: bool = True,
        split_file: str | os.PathLike[str] | None = None,
        sensor_size: tuple[int, int] = HARDVS_SENSOR,
        **options: Any,
    ) -> None:
        if source not in self.sources:
            raise ValueError(f"source must be one of {self.sources}, got {source!r}")
        root = Path(root)
        if not root.is_dir():
            raise DatasetError(root, "dataset root not found")
        names = resolve_class_names(class_names, self.shipped_names)
        list_path = Path(split_file) if split_file is not None else root / f"{split}_label.txt"
        entries = read_split_file(list_path, len(names))
        samples = []
        for entry in entries:
            folder = entry.sample.split("/")[0]
            self._check_folder(folder, entry.label, list_path, entry.line)
            meta = {"list": str(list_path), "list_line": entry.line}
            samples.append(SampleRef(str(root / entry.sample), entry.label, meta))
        self.source = source
        self.with_rgb = with_rgb
        self.sensor_size = (int(sensor_size[0]), int(sensor_size[1]))
        self.has_rgb = with_rgb and source == "png"
        if source == "png" and options.get("representation", "eclip_rgb") is None:
            raise ValueError("representation=None (raw streams) needs an event-file source")
        super().__init__(root, split, samples, names, **options)

    @staticmethod
    def _check_folder(folder: str, label: int, list_path: Path, line: int) -> None:
        match = _ACTION_FOLDER.match(folder)
        if match is not None and int(match.group(1)) - 1 != label:
            raise DatasetError(
                list_path,
                f"label {label} disagrees with class folder {folder!r} (expected "
                f"{int(match.group(1)) - 1})",
                line,
            )

    def _sample_exists(self, ref: SampleRef) -> bool:
        sample = Path(ref.path)
        if self.source == "png":
            return (sample / f"{sample.name}_dvs").is_dir()
        return any(path.is_file() for path in self._event_file_candidates(sample))

    def _event_file_candidates(self, sample: Path) -> list[Path]:
        """The sample's event file at either published depth, shallow first."""
        return [
            sample.parent / f"{sample.name}{self.event_suffix}",
            sample / f"{sample.name}{self.event_suffix}",
        ]

    def _load(self, ref: SampleRef, rng: np.random.Generator | None) -> dict[str, Any]:
        if self.source == "png":
            return self._load_png(Path(ref.path), rng)
        return self._render(self._read_stream(Path(ref.path)))

    def _load_png(self, sample: Path, rng: np.random.Generator | None) -> dict[str, Any]:
        positions = segment_positions(self.num_frames, train=self.train, rng=rng)
        out: dict[str, Any] = {}
        dvs = image_files(sample / f"{sample.name}_dvs")
        out["events"] = load_frames(dvs, positions_to_indices(positions, len(dvs)))
        if self.with_rgb:
            aps = image_files(sample / f"{sample.name}_aps")
            out["rgb"] = load_frames(aps, positions_to_indices(positions, len(aps)))
        return out

    def _read_stream(self, sample: Path) -> EventStream:
        """Read the sample's event file, at either published depth."""
        candidates = self._event_file_candidates(sample)
        for path in candidates:
            if path.is_file():
                return read_events(path, sensor_size=self.sensor_size)
        tried = " or ".join(str(p) for p in candidates)
        raise DatasetError(sample, f"no event file: tried {tried}")


@DATASETS.register("hardvs")
class HARDVS(FrameFolderDataset):
    """HARDVS: 300 activity classes; see the module docstring for the layout.

    ``source="png"`` gives ``"events"`` (the shipped event PNGs) and ``"rgb"``;
    ``source="npz"`` reads the compact event files and renders ``"events"`` with the chosen
    representation (or returns the raw ``"stream"`` with ``representation=None``).
    """

    shipped_names = "hardvs"
