"""Class-name lists shipped with evclip, and their readable forms for text prompts.

The lists live in ``evclip/datasets/classnames/*.txt``, one class a line in label order:

- ``hardvs.txt``: the dataset's own ``HARDVS_300_class.txt`` lines (``Action001-L type clamp
  back``); the number is parsed with a regular expression, the rest is the name.
- ``poker.txt``: SAFE's ``attr_words`` (114 entries; five animal names occur twice, labels are
  positions, never looked up by name).
- ``ncaltech101.txt``: the 101 folder names, sorted as Python sorts strings.
- ``nimagenet.txt``: ``wnid readable name``, sorted by wnid (the N-ImageNet label order).
- ``asl_dvs.txt``: the 24 letters a..y without j; ``dvs_gesture.txt``: the 11 gestures.
"""

from __future__ import annotations

import os
import re
from functools import cache, lru_cache
from importlib import resources
from pathlib import Path

from evclip.datasets.errors import DatasetError

SHIPPED = ("hardvs", "poker", "ncaltech101", "nimagenet", "asl_dvs", "dvs_gesture")
NMNIST_CLASSES = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")

_HARDVS_LINE = re.compile(r"^\s*Action\s*(\d+)\s*-?\s*(.*?)\s*$")
_WNID_LINE = re.compile(r"^(n\d{8})\s+(.+?)\s*$")


def parse_hardvs_classes(text: str, path: str | os.PathLike[str] | None = None) -> list[str]:
    """Parse HARDVS's ``HARDVS_300_class.txt`` (``Action001-L type clamp back`` lines).

    The separator after ``ActionNNN`` varies (``-``, ``- ``, `` ``, `` - ``), so the number is
    taken with a regular expression and the rest is the name. Numbers must run 1, 2, 3, ...

    Raises:
        DatasetError: naming the file and line of a line that does not parse or is out of order.
    """
    names: list[str] = []
    for line_no, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        match = _HARDVS_LINE.match(line)
        if match is None or not match.group(2):
            raise DatasetError(path, f"expected 'ActionNNN <name>', got {line.strip()!r}", line_no)
        number = int(match.group(1))
        if number != len(names) + 1:
            raise DatasetError(path, f"class number {number} out of order", line_no)
        names.append(match.group(2))
    return names


def parse_wnid_names(
    text: str, path: str | os.PathLike[str] | None = None
) -> list[tuple[str, str]]:
    """Parse ``n01440764 tench`` lines into (wnid, readable name) pairs, in file order."""
    pairs: list[tuple[str, str]] = []
    for line_no, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        match = _WNID_LINE.match(line.strip())
        if match is None:
            raise DatasetError(path, f"expected 'nXXXXXXXX <name>', got {line.strip()!r}", line_no)
        pairs.append((match.group(1), match.group(2)))
    return pairs


def _shipped_text(dataset: str) -> str:
    if dataset not in SHIPPED:
        known = ", ".join((*SHIPPED, "nmnist"))
        raise ValueError(f"no class list for dataset {dataset!r}; known: {known}")
    resource = resources.files("evclip.datasets") / "classnames" / f"{dataset}.txt"
    return resource.read_text(encoding="utf-8")


@cache
def _class_names(dataset: str) -> tuple[str, ...]:
    if dataset == "nmnist":
        return NMNIST_CLASSES
    text = _shipped_text(dataset)
    if dataset == "hardvs":
        return tuple(parse_hardvs_classes(text, f"classnames/{dataset}.txt"))
    if dataset == "nimagenet":
        return tuple(name for _, name in parse_wnid_names(text, "classnames/nimagenet.txt"))
    return tuple(line.strip() for line in text.splitlines() if line.strip())


def class_names(dataset: str) -> list[str]:
    """The class names of a dataset, indexed by label.

    Args:
        dataset: one of ``hardvs``, ``poker``, ``ncaltech101``, ``nimagenet``, ``asl_dvs``,
            ``dvs_gesture``, ``nmnist``.

    Returns:
        A new list (callers may modify it). For N-ImageNet these are the readable names in
        sorted-wnid order; :func:`nimagenet_wnids` gives the wnids.
    """
    return list(_class_names(dataset))


@lru_cache(maxsize=1)
def _nimagenet_wnids() -> tuple[str, ...]:
    pairs = parse_wnid_names(_shipped_text("nimagenet"), "classnames/nimagenet.txt")
    return tuple(wnid for wnid, _ in pairs)


def nimagenet_wnids() -> list[str]:
    """The 1000 ImageNet wnids in label order (sorted)."""
    return list(_nimagenet_wnids())


def load_class_file(path: str | os.PathLike[str]) -> list[str]:
    """Read a user's class list: one name per line, or HARDVS's ``ActionNNN name`` format.

    Raises:
        DatasetError: for a missing or empty file, or a malformed HARDVS-style line.
    """
    path = Path(path)
    if not path.is_file():
        raise DatasetError(path, "class list file not found")
    text = path.read_text(encoding="utf-8-sig")
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines:
        raise DatasetError(path, "class list file is empty")
    if _HARDVS_LINE.match(lines[0]):
        return parse_hardvs_classes(text, path)
    if all(_WNID_LINE.match(line) for line in lines):
        return [name for _, name in parse_wnid_names(text, path)]
    return lines


def resolve_class_names(
    class_names_arg: list[str] | tuple[str, ...] | str | os.PathLike[str] | None, default: str
) -> list[str]:
    """A ``class_names=`` argument as a list: a list is copied, a path is read, None -> shipped."""
    if class_names_arg is None:
        return class_names(default)
    if isinstance(class_names_arg, (str, os.PathLike)):
        return load_class_file(class_names_arg)
    names = [str(name) for name in class_names_arg]
    if not names:
        raise ValueError("class_names is empty")
    return names


def readable(name: str) -> str:
    """Turn a class name into words for a text prompt.

    Underscores become spaces (so trailing underscores vanish), runs of spaces collapse, and
    all-capital words of four or more letters are lower-cased (``BACKGROUND_Google`` ->
    ``background Google``, ``JOKER`` -> ``joker``) while short ones (``CD``, ``YTW``, ``A``)
    and mixed-case words keep their case.

    >>> readable("right_arm_clockwise")
    'right arm clockwise'
    >>> readable("wink_ Blink an eye")
    'wink Blink an eye'
    """
    words = name.replace("_", " ").split()
    return " ".join(w.lower() if len(w) >= 4 and w.isalpha() and w.isupper() else w for w in words)
