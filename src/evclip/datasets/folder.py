"""A generic folder layout for your own recordings: one folder per class, one per sample.

Layout (``<split>/`` is optional; with ``split=None`` the class folders sit under ``root``)::

    <root>/<split>/<class>/<sample>/
        frames/000.png ...        RGB frames (PNG/JPG), or the images directly in <sample>/
        timestamps.txt            optional: one frame time in microseconds per line
        recording.<ext>           exactly one event file in any format evclip reads
    <root>/<split>/<class>/<sample>.<ext>   a sample that is just an event file

Labels follow the sorted class-folder names, or the order of ``class_names=`` when given.
When a sample has frames, T of them are sampled like every other reader; its event images are
the events during each chosen frame when ``timestamps.txt`` exists, and otherwise T windows of
the whole recording centred on the same fractions of the clip as the frames (which line up with
the frames when both cover the same time).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from evclip.datasets.base import DATASETS, EventDataset, SampleRef
from evclip.datasets.errors import DatasetError
from evclip.datasets.frames import (
    aligned_event_images,
    load_frames,
    positions_to_indices,
    segment_positions,
)
from evclip.datasets.lists import IMAGE_SUFFIXES, list_class_folders, list_files, natural_key
from evclip.datasets.names import resolve_class_names
from evclip.io import FORMATS, read_events

EVENT_SUFFIXES = tuple(sorted({ext for spec in FORMATS.values() for ext in spec.extensions}))


def _read_timestamps(path: Path, n_frames: int) -> np.ndarray:
    """Frame times from ``timestamps.txt`` (one integer per line). int64 [n_frames]."""
    values = []
    with open(path, encoding="utf-8-sig") as f:
        for line_no, line in enumerate(f, start=1):
            if line.strip():
                try:
                    values.append(int(float(line.split()[0])))
                except ValueError:
                    problem = f"not a timestamp: {line.strip()!r}"
                    raise DatasetError(path, problem, line_no) from None
    if len(values) != n_frames:
        raise DatasetError(path, f"{len(values)} timestamps for {n_frames} frames")
    return np.asarray(values, dtype=np.int64)


@DATASETS.register("folder")
class EventFolder(EventDataset):
    """Samples in ``<class>/<sample>/`` folders (see the module docstring).

    Args:
        root: dataset folder.
        split: a sub-folder of ``root`` holding the class folders, or None for ``root`` itself.
        class_names: names (or a class list file) fixing the label order; default: sorted
            folder names.
        with_rgb: load the frames of samples that have them.
        **options: see :class:`~evclip.datasets.base.EventDataset`.
    """

    def __init__(
        self,
        root: str | os.PathLike[str],
        split: str | None = None,
        *,
        class_names: list[str] | str | os.PathLike[str] | None = None,
        with_rgb: bool = True,
        **options: Any,
    ) -> None:
        root = Path(root)
        base = root / split if split else root
        folders = list_class_folders(base)
        names = folders if class_names is None else resolve_class_names(class_names, "")
        index = {name: i for i, name in enumerate(names)}
        samples = []
        for folder in folders:
            if folder not in index:
                raise DatasetError(base / folder, "class folder is not in class_names")
            for entry in sorted((base / folder).iterdir(), key=lambda p: natural_key(p.name)):
                if entry.is_dir() or entry.suffix.lower() in EVENT_SUFFIXES:
                    samples.append(SampleRef(str(entry), index[folder]))
        if not samples:
            raise DatasetError(base, "no sample folders or event files in the class folders")
        self.with_rgb = with_rgb
        self.has_rgb = with_rgb
        super().__init__(root, split or "all", samples, names, **options)

    def _load(self, ref: SampleRef, rng: np.random.Generator | None) -> dict[str, Any]:
        path = Path(ref.path)
        if path.is_file():
            return self._render(read_events(path), rng)
        if not path.is_dir():
            raise DatasetError(path, "sample not found")
        event_files = list_files(path, EVENT_SUFFIXES)
        if len(event_files) > 1:
            raise DatasetError(path, f"more than one event file: {[p.name for p in event_files]}")
        frame_dir = path / "frames" if (path / "frames").is_dir() else path
        frames = list_files(frame_dir, IMAGE_SUFFIXES) if self.with_rgb else []
        if not event_files and not frames:
            raise DatasetError(path, "sample holds neither an event file nor frames")
        out: dict[str, Any] = {}
        positions = segment_positions(self.num_frames, train=self.train, rng=rng)
        if frames:
            indices = positions_to_indices(positions, len(frames))
            out["rgb"] = load_frames(frames, indices)
        if event_files:
            stream = read_events(event_files[0])
            stamps = path / "timestamps.txt"
            if frames and stamps.is_file() and self.representation is not None:
                frame_t = _read_timestamps(stamps, len(frames))
                out["events"] = aligned_event_images(stream, frame_t, indices, self.representation)
            else:
                out.update(self._render(stream, rng, positions=positions))
        return out
