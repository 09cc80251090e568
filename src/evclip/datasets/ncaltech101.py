"""N-Caltech101 (101 classes incl. ``BACKGROUND_Google``) in its three published forms.

1. The original ``.bin`` files, ``<root>/Caltech101/<class>/image_NNNN.bin`` (or class folders
   directly under ``root``). There is no official split: a seeded stratified split with
   ``train_fraction`` (default 0.8, close to EventBind's 6 968 / 1 741) and ``split_seed``
   is used, or ``split="all"``.
2. EventBind's list files (``Caltech101_train.txt`` / ``Caltech101_val.txt`` in ``root``, or
   ``split_file=``): tab-separated ``.../<class>/image_NNNN.bin`` and
   ``.../<class>/image_NNNN.jpg`` pairs, as absolute paths from the authors' machines or
   relative ones. The ``.bin`` is found under ``root`` (or ``root/Caltech101``) and the jpg
   under ``image_root`` (default ``root``; or its ``101_ObjectCategories``) by the longest tail
   of the listed path that exists (see :class:`ListedPathLocator`), giving an ``"rgb"``
   [1, 3, H, W].
   The label is the class folder's position in the sorted 101 names.
3. The EST re-release: ``<root>/{training,validation,testing}/<class>/*.npy`` float arrays
   [N, 4] = x, y, t (seconds), p; ``split`` train / val / test picks the folder.

Recordings differ in extent; every stream is centred on a 240x180 canvas (``canvas=``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from evclip.datasets.base import DATASETS, EventDataset, SampleRef
from evclip.datasets.errors import DatasetError
from evclip.datasets.frames import read_image
from evclip.datasets.lists import list_class_folders, list_files, stratified_split
from evclip.datasets.names import class_names as shipped_class_names
from evclip.io import EventStream, read_events

CANVAS = (240, 180)
EST_FOLDERS = {"train": "training", "val": "validation", "test": "testing"}
EVENTBIND_LISTS = {"train": "Caltech101_train.txt", "val": "Caltech101_val.txt"}


def centre_events(
    events: np.ndarray, canvas: tuple[int, int], path: str | os.PathLike[str] | None = None
) -> np.ndarray:
    """Shift events so that their bounding box [0, max] is centred on a (width, height) canvas.

    Returns a new array; the input is not modified.

    Raises:
        EventFormatError: when the events span more than the canvas.
    """
    from evclip.io import EventFormatError

    out = events.copy()
    if len(out) == 0:
        return out
    for name, size in (("x", canvas[0]), ("y", canvas[1])):
        extent = int(out[name].max()) + 1
        if extent > size:
            raise EventFormatError(path, f"events span {name} 0..{extent - 1}, wider than {size}")
        out[name] += (size - extent) // 2
    return out


def _split_eventbind_line(line: str) -> list[str]:
    """The fields of a list line: tab-separated, or whitespace-separated when it has no tab."""
    text = line.rstrip("\r\n")
    fields = text.split("\t") if "\t" in text else text.split()
    return [field.strip().replace("\\", "/") for field in fields if field.strip()]


def _read_eventbind_list(path: Path, names: list[str]) -> list[tuple[str, str | None, int, int]]:
    """(bin path, jpg path or None, label, line) per line of an EventBind list file."""
    if not path.is_file():
        raise DatasetError(path, "split file not found")
    index = {name: i for i, name in enumerate(names)}
    rows = []
    with open(path, encoding="utf-8-sig") as f:
        for line_no, line in enumerate(f, start=1):
            if not line.strip():
                continue
            fields = _split_eventbind_line(line)
            bin_path = fields[0]
            parts = bin_path.split("/")
            if len(fields) > 2 or len(parts) < 2 or not bin_path.endswith(".bin"):
                problem = f"expected '<class>/<file>.bin<TAB><image>', got {line.strip()!r}"
                raise DatasetError(path, problem, line_no)
            if parts[-2] not in index:
                raise DatasetError(path, f"unknown class folder {parts[-2]!r}", line_no)
            jpg = fields[1] if len(fields) == 2 else None
            rows.append((bin_path, jpg, index[parts[-2]], line_no))
    if not rows:
        raise DatasetError(path, "split file lists no samples")
    return rows


class ListedPathLocator:
    """Find the files a list names under one of ``bases``.

    EventBind's lists hold absolute paths from the authors' machines
    (``/home/.../N-Caltech101/accordion/image_0001.bin``), so a path is tried as given, then
    every tail of it of at least ``<class>/<file>`` under each base, longest tail first.
    When nothing exists, the ``<class>/<file>`` place under the first base is returned (and
    later reported as missing). The lines of one list share their layout, so the (tail length,
    base) that found the previous file is tried first: one look-up per line, not dozens.
    """

    def __init__(self, bases: list[Path]) -> None:
        self.bases = bases
        self.hint: tuple[int, Path] | None = None

    def __call__(self, listed: str) -> Path:
        given = Path(listed)
        if given.is_absolute() and given.exists():
            return given
        parts = [part for part in listed.split("/") if part]
        if self.hint is not None and self.hint[0] <= len(parts):
            candidate = self.hint[1].joinpath(*parts[len(parts) - self.hint[0] :])
            if candidate.exists():
                return candidate
        for start in range(max(len(parts) - 1, 1)):
            for base in self.bases:
                candidate = base.joinpath(*parts[start:])
                if candidate.exists():
                    self.hint = (len(parts) - start, base)
                    return candidate
        return self.bases[0].joinpath(*parts[-2:])


@DATASETS.register("ncaltech101")
class NCaltech101(EventDataset):
    """N-Caltech101; see the module docstring for the three layouts.

    Args:
        root: dataset folder.
        split: ``train``, ``val``, ``test`` or ``all`` (availability depends on the layout).
        split_file: an EventBind-style list to use.
        image_root: folder the list's jpg paths are relative to (default ``root``).
        with_rgb: load the paired Caltech-101 image when the list names one.
        train_fraction: share of each class in ``train`` for the seeded split of ``.bin`` files.
        split_seed: seed of that split; independent of ``seed`` (the frame offsets), so that
            train and test built with different ``seed`` never overlap.
        canvas: (width, height) to centre events on.
        **options: see :class:`~evclip.datasets.base.EventDataset`.
    """

    def __init__(
        self,
        root: str | os.PathLike[str],
        split: str = "train",
        *,
        split_file: str | os.PathLike[str] | None = None,
        image_root: str | os.PathLike[str] | None = None,
        with_rgb: bool = True,
        train_fraction: float = 0.8,
        split_seed: int = 0,
        canvas: tuple[int, int] = CANVAS,
        **options: Any,
    ) -> None:
        root = Path(root)
        if not root.is_dir():
            raise DatasetError(root, "dataset root not found")
        names = shipped_class_names("ncaltech101")
        self.canvas = (int(canvas[0]), int(canvas[1]))
        self.with_rgb = with_rgb
        default_list = root / EVENTBIND_LISTS.get(split, "Caltech101_none.txt")
        if split_file is None and default_list.is_file():
            split_file = default_list
        if split_file is not None:
            image_base = Path(image_root) if image_root is not None else root
            locate_bin = ListedPathLocator([root, root / "Caltech101"])
            locate_image = ListedPathLocator([image_base, image_base / "101_ObjectCategories"])
            samples = []
            for bin_path, jpg, label, line in _read_eventbind_list(Path(split_file), names):
                meta = {
                    "image": str(locate_image(jpg)) if jpg else "",
                    "list": str(split_file),
                    "list_line": line,
                }
                samples.append(SampleRef(str(locate_bin(bin_path)), label, meta))
        elif all((root / folder).is_dir() for folder in EST_FOLDERS.values()):
            if split not in EST_FOLDERS:
                raise ValueError(f"EST layout has splits {sorted(EST_FOLDERS)}, got {split!r}")
            samples = self._scan(root / EST_FOLDERS[split], names, ".npy")
        else:
            base = root / "Caltech101" if (root / "Caltech101").is_dir() else root
            every = self._scan(base, names, ".bin")
            keep = stratified_split(
                [r.label for r in every], split, train_fraction=train_fraction, seed=split_seed
            )
            samples = [every[i] for i in keep]
        self.has_rgb = with_rgb and any(ref.meta.get("image") for ref in samples)
        super().__init__(root, split, samples, names, **options)

    def _sample_exists(self, ref: SampleRef) -> bool:
        image = ref.meta.get("image")
        image_ok = not self.with_rgb or not image or os.path.isfile(image)
        return os.path.isfile(ref.path) and image_ok

    @staticmethod
    def _scan(folder: Path, names: list[str], suffix: str) -> list[SampleRef]:
        index = {name: i for i, name in enumerate(names)}
        samples = []
        for class_name in list_class_folders(folder):
            if class_name not in index:
                raise DatasetError(folder / class_name, "not one of the 101 N-Caltech101 classes")
            for path in list_files(folder / class_name, (suffix,)):
                samples.append(SampleRef(str(path), index[class_name]))
        if not samples:
            raise DatasetError(folder, f"no {suffix} files found in class folders")
        return samples

    def _load(self, ref: SampleRef, rng: np.random.Generator | None) -> dict[str, Any]:
        stream = read_events(ref.path)
        centred = centre_events(stream.events, self.canvas, ref.path)
        stream = EventStream(centred, self.canvas, stream.frames, stream.path)
        out: dict[str, Any] = {}
        if self.with_rgb and ref.meta.get("image"):
            out["rgb"] = read_image(ref.meta["image"])[None]
        out.update(self._render(stream, rng))
        return out
