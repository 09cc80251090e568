"""The table of event file formats and detection from magic bytes or extension.

Each format lives in its own module under ``evclip.io`` that defines

- ``read(path: Path) -> EventStream``: decode the whole file. The sensor size is the one the
  file declares, else the format's fixed size, else inferred from the events.
- optionally ``iter_chunks(path: Path, chunk_size: int) -> Iterator[EventStream]``: decode the
  file piece by piece with bounded memory, every chunk carrying the same sensor size.

``evclip.io.read_events`` and ``iter_events`` dispatch through this table and then check order and
coordinates, so the modules only decode.
"""

from __future__ import annotations

import importlib
import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from evclip.io.errors import EventFormatError


@dataclass(frozen=True)
class FormatSpec:
    """One readable format.

    Attributes:
        name: the value accepted by ``format=``.
        module: module under ``evclip.io`` that decodes it.
        extensions: file name endings that suggest it (lower case, with the dot).
        description: one line for the README table and error messages.
    """

    name: str
    module: str
    extensions: tuple[str, ...]
    description: str

    def load(self) -> ModuleType:
        return importlib.import_module(f"evclip.io.{self.module}")


FORMATS: dict[str, FormatSpec] = {
    spec.name: spec
    for spec in (
        FormatSpec("nmnist_bin", "nmnist_bin", (".bin",), "N-MNIST / N-Caltech101 5-byte events"),
        FormatSpec("npz", "numpy_formats", (".npz",), "numpy .npz (x,y,t,p or N-ImageNet)"),
        FormatSpec("npy", "numpy_formats", (".npy",), "numpy .npy (structured or EST [N,4])"),
        FormatSpec("hdf5", "hdf5", (".h5", ".hdf5"), "HDF5, DSEC layout (events/x,y,t,p)"),
        FormatSpec("aedat2", "aedat2", (".aedat",), "jAER AEDAT 2.0 (DAVIS, DVS128)"),
        FormatSpec("aedat3", "aedat3", (".aedat",), "AEDAT 3.1 (cAER polarity packets)"),
        FormatSpec("aedat4", "aedat4", (".aedat4",), "AEDAT 4.0 (DV: events and frames)"),
        FormatSpec("dat", "prophesee", (".dat",), "Prophesee .dat (CD events)"),
        FormatSpec("evt2", "prophesee", (".raw",), "Prophesee EVT 2.0 .raw"),
        FormatSpec("evt3", "prophesee", (".raw",), "Prophesee EVT 3.0 .raw"),
        FormatSpec("mat", "matlab", (".mat",), "MATLAB .mat with ts/x/y/pol (ASL-DVS)"),
    )
}

_HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
_HEAD_BYTES = 4096
# a Prophesee header's first line: '%', a word, printable text (binary data rarely is)
_PROPHESEE_FIRST_LINE = re.compile(rb"%[ \t]*[A-Za-z_][\x20-\x7e\t]*\r?\n")
_DAT_EVENT_SIZE = 8

# what the first bytes of a file can show ("families"), the formats that read each, and how an
# error names them
_FAMILY_READERS: dict[str, tuple[str, ...]] = {
    "aedat2": ("aedat2",),
    "aedat3": ("aedat3",),
    "aedat4": ("aedat4",),
    "npy": ("npy",),
    "npz": ("npz",),
    "mat": ("mat", "hdf5"),
    "hdf5": ("hdf5", "mat"),
    "prophesee": ("dat", "evt2", "evt3"),
}
_FAMILY_NAMES = {
    "aedat2": "an AEDAT 2.0 file",
    "aedat3": "an AEDAT 3.x file",
    "aedat4": "an AEDAT 4.0 file",
    "npy": "a numpy .npy array",
    "npz": "a zip archive (.npz)",
    "mat": "a MATLAB .mat file",
    "hdf5": "an HDF5 file",
    "prophesee": "a Prophesee file with a '%' text header (.dat or .raw)",
}
# how an error names a file of each format
_FORMAT_NOUNS = {
    "nmnist_bin": "an N-MNIST .bin file",
    "npz": "an .npz (zip) archive",
    "npy": "an .npy array",
    "hdf5": "an HDF5 file",
    "aedat2": "an AEDAT 2.0 file",
    "aedat3": "an AEDAT 3.x file",
    "aedat4": "an AEDAT 4.0 file",
    "dat": "a Prophesee .dat file",
    "evt2": "a Prophesee EVT 2.0 file",
    "evt3": "a Prophesee EVT 3.0 file",
    "mat": "a MATLAB .mat file",
}
_SUFFIX_ONLY = {".dat": "dat", ".bin": "nmnist_bin"}
_FILE_KINDS = (
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
)


def check_event_file(path: str | os.PathLike[str]) -> None:
    """Refuse a path that cannot be an event file, before anything opens it.

    Raises:
        EventFormatError: when the path does not exist, is a directory, a FIFO or another
            non-regular file (opening a FIFO would block), or is empty.
    """
    path = Path(path)
    try:
        info = path.stat()
    except FileNotFoundError:
        if path.is_symlink():
            raise EventFormatError(
                path, "broken symbolic link (its target does not exist)"
            ) from None
        raise EventFormatError(path, "no such file") from None
    except OSError as error:
        raise EventFormatError(path, f"cannot access: {error.strerror or error}") from None
    if stat.S_ISDIR(info.st_mode):
        raise EventFormatError(path, "is a directory, not an event file")
    if not stat.S_ISREG(info.st_mode):
        kind = next((name for test, name in _FILE_KINDS if test(info.st_mode)), "not a file")
        raise EventFormatError(path, f"is {kind}, not a regular file; event files must be files")
    if info.st_size == 0:
        # no format stores an empty recording as zero bytes; a .bin must not pass as 0 events
        raise EventFormatError(path, "file is empty (0 bytes)")


def _read_head(path: Path) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read(_HEAD_BYTES)
    except OSError as error:
        raise EventFormatError(path, f"cannot read: {error.strerror or error}") from None


def _sniff(head: bytes) -> str | None:
    """The family of formats the first bytes show (a key of _FAMILY_READERS), else None."""
    for magic, family in (
        (b"#!AER-DAT2", "aedat2"),
        (b"#!AER-DAT3", "aedat3"),
        (b"#!AER-DAT4", "aedat4"),
        (b"\x93NUMPY", "npy"),
        (b"PK\x03\x04", "npz"),
        (b"PK\x05\x06", "npz"),  # an archive without members
        (b"MATLAB", "mat"),  # v5, and v7.3 whose 512-byte user block says so
        (_HDF5_MAGIC, "hdf5"),
    ):
        if head.startswith(magic):
            return family
    if head[512:520] == _HDF5_MAGIC:
        return "hdf5"
    if _PROPHESEE_FIRST_LINE.match(head):
        return "prophesee"
    return None


def _prophesee_kind(head: bytes) -> str | None:
    """'evt2' / 'evt3' from a Prophesee '%' header, None when it names neither."""
    text = head.decode("latin-1").lower()
    lines = [ln for ln in text.splitlines() if ln.startswith("%")]
    joined = "\n".join(lines).replace(" ", "")
    if "evt3" in joined or "format=evt3" in joined:
        return "evt3"
    if "evt2" in joined or "format=evt2" in joined:
        return "evt2"
    return None


def _is_dat(head: bytes) -> bool:
    """Whether the '%' header is followed by .dat's event type and event-size (8) bytes."""
    offset = 0
    for line in head.splitlines(keepends=True):
        if not line.startswith(b"%") or not line.endswith(b"\n"):
            break
        offset += len(line)
        if line[1:].strip().lower() == b"end":
            break
    return len(head) >= offset + 2 and head[offset + 1] == _DAT_EVENT_SIZE


def _prophesee_format(path: Path, head: bytes, suffix: str) -> str:
    kind = _prophesee_kind(head)
    if kind is not None:
        return kind
    if suffix == ".dat" or _is_dat(head):
        return "dat"
    if suffix == ".raw":
        raise EventFormatError(
            path,
            "Prophesee .raw header names no EVT 2.0/3.0 format; "
            "pass format='evt2' or format='evt3'",
        )
    raise EventFormatError(
        path,
        f"content starts with a Prophesee '%' text header, but neither the header nor the suffix "
        f"{suffix!r} tells which format; pass format='dat', format='evt2' or format='evt3'",
    )


def detect_format(path: str | os.PathLike[str]) -> str:
    """Name the format of a file from its first bytes, falling back on its extension.

    The content wins over the extension: a Prophesee ``.dat`` renamed to ``.bin`` is read as
    ``.dat``.

    Raises:
        EventFormatError: when the file is missing, not a regular file, empty, or matches no
            known format.
    """
    path = Path(path)
    check_event_file(path)
    head = _read_head(path)
    suffix = path.suffix.lower()
    family = _sniff(head)
    if family is None and head.startswith(b"#!AER-DAT"):
        version = head[9:12].decode("latin-1", "replace")
        raise EventFormatError(path, f"unsupported AEDAT version {version!r}", offset=0)
    if family == "prophesee":
        return _prophesee_format(path, head, suffix)
    if family == "hdf5":
        return "mat" if suffix == ".mat" else "hdf5"
    if family is not None:
        return family
    if suffix in _SUFFIX_ONLY:
        return _SUFFIX_ONLY[suffix]
    known = ", ".join(sorted(FORMATS))
    raise EventFormatError(
        path, f"unknown event file format (suffix {suffix!r}); pass format= one of: {known}"
    )


def check_content(path: str | os.PathLike[str], spec: FormatSpec) -> None:
    """Refuse a forced format that the file's first bytes contradict.

    Raises:
        EventFormatError: naming the format the content looks like, e.g. for ``format="npz"``
            on an AEDAT 4 file.
    """
    path = Path(path)
    check_event_file(path)
    family = _sniff(_read_head(path))
    if family is None or spec.name in _FAMILY_READERS[family]:
        return
    suggest = _FAMILY_READERS[family][0]
    raise EventFormatError(
        path,
        f"not {_FORMAT_NOUNS.get(spec.name, spec.description)} as format={spec.name!r} expects: "
        f"its content looks like {_FAMILY_NAMES[family]}; pass format={suggest!r} or leave "
        "format unset to detect it",
        offset=0,
    )


def get_format(name: str, path: str | os.PathLike[str] | None = None) -> FormatSpec:
    """Look up a format by name, with an error that lists the known ones."""
    try:
        return FORMATS[name]
    except KeyError:
        known = ", ".join(sorted(FORMATS))
        raise EventFormatError(path, f"unknown format {name!r}; known: {known}") from None
