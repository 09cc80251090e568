"""Per-class description files: several sentences per class (SAFE's rewritten class text).

Formats:
- ``.json``: ``{"class name": ["sentence", ...], ...}`` (a single string is one sentence);
- text (``.txt`` or any other suffix): one ``class name: sentence`` per line (a tab also
  separates), blank lines and lines starting with ``#`` ignored;
- a folder: one ``<class name>.txt`` per class, one sentence per line.
"""

from __future__ import annotations

import json
from pathlib import Path


class DescriptionError(ValueError):
    """A description file is malformed; the message names the file (and line) and the problem."""


def _clean(sentences: list[str], where: str) -> list[str]:
    cleaned = [s.strip() for s in sentences]
    if not cleaned or any(not s for s in cleaned):
        raise DescriptionError(f"{where}: empty description")
    return cleaned


def _from_json(path: Path) -> dict[str, list[str]]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as error:
        raise DescriptionError(f"{path}: not valid JSON ({error})") from error
    if not isinstance(data, dict):
        raise DescriptionError(f"{path}: expected an object {{class: [sentences]}}")
    result: dict[str, list[str]] = {}
    for name, value in data.items():
        sentences = [value] if isinstance(value, str) else value
        if not isinstance(sentences, list) or not all(isinstance(s, str) for s in sentences):
            raise DescriptionError(f"{path}: class {name!r} must map to a list of strings")
        result[name.strip()] = _clean(sentences, f"{path}: class {name!r}")
    return result


def _split_line(line: str, where: str) -> tuple[str, str]:
    for separator in ("\t", ":"):
        if separator in line:
            name, sentence = line.split(separator, 1)
            if name.strip() and sentence.strip():
                return name.strip(), sentence.strip()
    raise DescriptionError(f"{where}: expected 'class name: sentence', got {line!r}")


def _from_text(path: Path) -> dict[str, list[str]]:
    result: dict[str, list[str]] = {}
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        name, sentence = _split_line(line, f"{path}:{number}")
        result.setdefault(name, []).append(sentence)
    return result


def _from_folder(folder: Path) -> dict[str, list[str]]:
    result: dict[str, list[str]] = {}
    for path in sorted(folder.glob("*.txt")):
        lines = [line.strip() for line in path.read_text(encoding="utf-8").splitlines()]
        result[path.stem] = _clean([line for line in lines if line], str(path))
    return result


def load_descriptions(path: str | Path) -> dict[str, list[str]]:
    """Reads per-class descriptions.

    Args:
        path: a ``.json`` file, a ``class: sentence`` text file, or a folder of ``<class>.txt``.

    Returns:
        ``{class name: [sentence, ...]}``, every class with at least one non-empty sentence.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        DescriptionError: the content is malformed or holds no description.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"description file {path} does not exist")
    if path.is_dir():
        result = _from_folder(path)
    elif path.suffix.lower() == ".json":
        result = _from_json(path)
    else:
        result = _from_text(path)
    if not result:
        raise DescriptionError(f"{path}: no class descriptions found")
    return result
