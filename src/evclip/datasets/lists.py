"""Split and label list files, file discovery and seeded stratified splits.

Everything here reads only names and small text files, never the samples themselves, so that a
dataset's index is cheap to build.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from evclip.datasets.errors import DatasetError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp")


@dataclass(frozen=True)
class ListEntry:
    """One line of a split file such as HARDVS's ``train_label.txt``.

    Attributes:
        sample: the sample's path relative to the dataset root (``action_001/dvSave-...``).
        label: the 0-based label from the file.
        num_frames: the frame count column, or None when the line has no such column.
        line: 1-based line number, for error messages.
    """

    sample: str
    label: int
    num_frames: int | None
    line: int


def read_split_file(path: str | os.PathLike[str], num_classes: int) -> list[ListEntry]:
    """Parse an mmaction-style list: ``<sample> <num_frames> <label>`` (or ``<sample> <label>``).

    Blank lines are ignored; a Windows line ending or a BOM is accepted.

    Raises:
        DatasetError: when the file is missing or empty, or naming the line that has the wrong
            number of fields, a non-integer field, or a label outside [0, num_classes).
    """
    path = Path(path)
    if not path.is_file():
        raise DatasetError(path, "split file not found")
    entries: list[ListEntry] = []
    with open(path, encoding="utf-8-sig") as f:
        for line_no, line in enumerate(f, start=1):
            fields = line.split()
            if not fields:
                continue
            if len(fields) not in (2, 3):
                raise DatasetError(
                    path,
                    f"expected '<sample> <num_frames> <label>', got {line.strip()!r}",
                    line_no,
                )
            try:
                numbers = [int(v) for v in fields[1:]]
            except ValueError:
                raise DatasetError(
                    path, f"frame count and label must be integers, got {line.strip()!r}", line_no
                ) from None
            label = numbers[-1]
            if not 0 <= label < num_classes:
                raise DatasetError(
                    path, f"label {label} outside [0, {num_classes}) in {line.strip()!r}", line_no
                )
            num_frames = numbers[0] if len(numbers) == 2 else None
            entries.append(ListEntry(fields[0].replace("\\", "/"), label, num_frames, line_no))
    if not entries:
        raise DatasetError(path, "split file lists no samples")
    return entries


def read_path_list(path: str | os.PathLike[str]) -> list[tuple[str, int]]:
    """Read a file of one path per line (N-ImageNet's ``train_list.txt``); (path, line) pairs."""
    path = Path(path)
    if not path.is_file():
        raise DatasetError(path, "list file not found")
    with open(path, encoding="utf-8-sig") as f:
        rows = [(line.strip(), n) for n, line in enumerate(f, start=1) if line.strip()]
    if not rows:
        raise DatasetError(path, "list file lists no samples")
    return rows


def natural_key(name: str) -> tuple:
    """Sort key that orders ``2.png`` before ``10.png`` (and zero-padded names as usual)."""
    return tuple(int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name))


def list_files(folder: str | os.PathLike[str], suffixes: Iterable[str]) -> list[Path]:
    """Files in ``folder`` whose suffix (lower case) is in ``suffixes``, naturally sorted.

    Raises:
        DatasetError: when the folder does not exist.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise DatasetError(folder, "folder not found")
    wanted = {s.lower() for s in suffixes}
    files = [p for p in folder.iterdir() if p.suffix.lower() in wanted and p.is_file()]
    return sorted(files, key=lambda p: natural_key(p.name))


def list_class_folders(root: str | os.PathLike[str]) -> list[str]:
    """Names of the sub-folders of ``root`` (hidden ones excluded), sorted as Python sorts."""
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(root, "dataset root not found")
    return sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))


def stratified_split(
    labels: Sequence[int], split: str, *, train_fraction: float, seed: int
) -> list[int]:
    """Indices of a seeded, per-class split into ``train`` and ``test`` (or ``all``).

    Within each class the sample indices are shuffled with
    ``numpy.random.default_rng((seed, label))`` (so a class's split does not depend on which
    other classes are present) and the first ``round(train_fraction * n)`` go to ``train``, the
    rest to ``test``; a class with at least two samples keeps at least one on each side.
    Returned indices are sorted.
    """
    if split == "all":
        return list(range(len(labels)))
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train', 'test' or 'all', got {split!r}")
    if not 0.0 < train_fraction < 1.0:
        raise ValueError(f"train_fraction must be in (0, 1), got {train_fraction}")
    label_array = np.asarray(labels, dtype=np.int64)
    chosen: list[int] = []
    for label in np.unique(label_array):
        rng = np.random.default_rng((seed, int(label)))
        members = np.flatnonzero(label_array == label)
        members = members[rng.permutation(members.size)]
        n_train = int(round(train_fraction * members.size))
        if members.size >= 2:
            n_train = min(max(n_train, 1), members.size - 1)
        part = members[:n_train] if split == "train" else members[n_train:]
        chosen.extend(int(i) for i in part)
    return sorted(chosen)
