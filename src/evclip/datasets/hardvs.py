"""HARDVS (300 human activities, DAVIS346) in its published layout.

Layout under ``root``::

    train_label.txt / val_label.txt / test_label.txt   action_XXX/dvSave-... <num_frames> <label>
    action_XXX/<sample>/<sample>_dvs/00000000.png ...   event images (index from 0)
    action_XXX/<sample>/<sample>_aps/00000000.png ...   RGB frames
    action_XXX/<sample>.npz  or  action_XXX/<sample>/<sample>.npz   compact events (x, y, t, p)

The label is the file's label column; for class folders named ``action_XXX`` the folder must
agree (XXX - 1), which catches shifted or hand-edited lists at construction. Other data in the
same layout (such as evclip's own synthetic benchmark) reuse the reader with ``class_names=``.

With ``source="npz"`` the RGB frames come from the ``<sample>_aps`` folder beside the event file
(at either depth the folder is ``action_XXX/<sample>/<sample>_aps``), sampled at the same
fractions of the clip as the event windows (``slicing="time"`` and ``"count"``: windows centred
on those fractions; ``slicing="afe"``: the AFE leaf that
:func:`~evclip.representations.afe.pick_leaves` chooses for each, the k-th event image paired
with the k-th RGB frame by order). Whether samples carry ``"rgb"`` is decided once for
the whole dataset (see :class:`FrameFolderDataset`), never sample by sample: a batch needs the
same keys in every sample, and a fusion model needs RGB in all of them.
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

    Which samples carry ``"rgb"`` (``with_rgb``):

    - ``None`` (default): with ``source="png"``, every sample (the ``_aps`` folder is part of
      that layout). With an event file, RGB when the ``_aps`` folders are there: if every
      listed sample has one, every sample carries ``"rgb"``; if none has (a download of the
      compact files only, the usual case) none does. If only some have one, the download is
      incomplete and a model would get batches with and without RGB, so with
      ``on_error="raise"`` construction fails naming the first sample without RGB, its list line
      and how many lack it (pass ``with_rgb=False`` to use the events only); with
      ``on_error="skip"`` the samples without RGB are skipped and reported like any bad sample.
    - ``True``: every sample must have RGB; with ``on_error="raise"`` and ``check_files`` a
      sample without it fails construction, otherwise its load fails (or is skipped).
    - ``False``: events only.

    Args:
        root: dataset folder.
        split: ``train``, ``val`` or ``test`` (reads ``<split>_label.txt``).
        class_names: list, path of a class list file, or None for the shipped list.
        source: ``"png"`` (event and RGB PNGs) or an event file kind (see subclasses).
        with_rgb: None, True or False, as above; resolved to a bool in ``self.with_rgb``.
        split_file: a list file to read instead of ``root/<split>_label.txt``.
        sensor_size: (width, height) of the event files.
        **options: see :class:`~evclip.datasets.base.EventDataset`.
    """

    shipped_names = ""
    event_suffix = ".npz"
    sources = ("png", "npz")
    #: True where the event file holds the RGB frames itself (AEDAT 4 APS frames).
    rgb_in_event_file = False

    def __init__(
        self,
        root: str | os.PathLike[str],
        split: str = "train",
        *,
        class_names: list[str] | str | os.PathLike[str] | None = None,
        source: str = "png",
        with_rgb: bool | None = None,
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
        self.sensor_size = (int(sensor_size[0]), int(sensor_size[1]))
        if source == "png":
            self._check_png_options(options)
        super().__init__(root, split, samples, names, **options)
        self.with_rgb = self._resolve_rgb(with_rgb, options.get("check_files", True))
        self.has_rgb = self.with_rgb

    def _check_png_options(self, options: dict[str, Any]) -> None:
        """Refuse event-file options with ``source="png"``, which would silently ignore them."""
        kinds = " or ".join(f"source={kind!r}" for kind in self.sources if kind != "png")
        shipped = "(source='png' reads the event images the dataset ships)"
        if options.get("representation", "eclip_rgb") is None:
            raise ValueError(
                f"representation=None (raw event streams) needs the event files: pass {kinds} "
                + shipped
            )
        slicing, per_window = options.get("slicing", "time"), options.get("events_per_window")
        if slicing != "time" or per_window is not None:
            asked = f"slicing={slicing!r}"
            if slicing == "time":
                asked = f"events_per_window={per_window}"
            raise ValueError(f"{asked} cuts the event files: pass {kinds} {shipped}")

    def _resolve_rgb(self, with_rgb: bool | None, check_files: bool) -> bool:
        """Whether every sample carries ``"rgb"`` (the rules are in the class docstring)."""
        if with_rgb is False:
            return False
        if self.source == "png" or self.rgb_in_event_file:
            return True
        if with_rgb and (not check_files or self.on_error == "skip"):
            return True  # nothing to decide: a sample without RGB fails (or is skipped) on load
        missing = [ref for ref in self.samples if not self._aps_folder(Path(ref.path)).is_dir()]
        if with_rgb is None and len(missing) == len(self.samples):
            return False  # the compact event files alone
        if missing and self.on_error == "raise":
            ref = missing[0]
            raise DatasetError(
                ref.meta["list"],
                f"{len(missing)} of {len(self.samples)} samples have no RGB frames; the first: "
                f"{self._aps_folder(Path(ref.path))} not found (pass with_rgb=False to read the "
                "events only, or on_error='skip' to skip these samples)",
                ref.meta["list_line"],
            )
        return True

    @staticmethod
    def _aps_folder(sample: Path) -> Path:
        """The folder of a sample's RGB frames (the same for both event file depths)."""
        return sample / f"{sample.name}_aps"

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
        sample = Path(ref.path)
        positions = segment_positions(self.num_frames, train=self.train, rng=rng)
        out: dict[str, Any] = {}
        if self.source == "png":
            dvs = image_files(sample / f"{sample.name}_dvs")
            out["events"] = load_frames(dvs, positions_to_indices(positions, len(dvs)))
        else:
            out.update(self._render(self._read_stream(sample), rng, positions=positions))
        if self.with_rgb:
            aps = self._aps_folder(sample)
            if not aps.is_dir():
                raise DatasetError(aps, "RGB frames folder not found (with_rgb=False: events only)")
            files = image_files(aps)
            out["rgb"] = load_frames(files, positions_to_indices(positions, len(files)))
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
    representation (or returns the raw ``"stream"`` with ``representation=None``), plus
    ``"rgb"`` from the ``_aps`` folders when they are there (see ``with_rgb`` in
    :class:`FrameFolderDataset`). Every ``slicing`` applies to the event files (``"afe"``
    included, with the leaf choice of :func:`~evclip.representations.event_images`); with
    ``source="png"`` only the default ``"time"`` is accepted, as the PNGs are already cut.
    """

    shipped_names = "hardvs"
