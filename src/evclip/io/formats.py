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


def detect_format(path: str | os.PathLike[str]) -> str:
    """Name the format of a file from its first bytes, falling back on its extension.

    Raises:
        EventFormatError: when the file is missing, empty, or matches no known format.
    """
    path = Path(path)
    if not path.is_file():
        raise EventFormatError(path, "no such file")
    with open(path, "rb") as f:
        head = f.read(4096)
    suffix = path.suffix.lower()
    if head.startswith(b"#!AER-DAT2"):
        return "aedat2"
    if head.startswith(b"#!AER-DAT3"):
        return "aedat3"
    if head.startswith(b"#!AER-DAT4"):
        return "aedat4"
    if head.startswith(b"#!AER-DAT"):
        version = head[9:12].decode("latin-1", "replace")
        raise EventFormatError(path, f"unsupported AEDAT version {version!r}", offset=0)
    if head.startswith(b"\x93NUMPY"):
        return "npy"
    if head.startswith(b"PK\x03\x04") or (head.startswith(b"PK\x05\x06") and suffix == ".npz"):
        return "npz"
    if head.startswith(b"MATLAB"):
        return "mat"
    if head.startswith(_HDF5_MAGIC):
        return "hdf5"
    if len(head) >= 512 + 8 and head[512:520] == _HDF5_MAGIC:
        # MATLAB 7.3 files are HDF5 with a 512-byte user block.
        return "mat" if suffix == ".mat" else "hdf5"
    if head.startswith(b"%"):
        kind = _prophesee_kind(head)
        if kind is not None:
            return kind
        if suffix == ".dat":
            return "dat"
        if suffix == ".raw":
            raise EventFormatError(
                path,
                "Prophesee .raw header names no EVT 2.0/3.0 format; "
                "pass format='evt2' or format='evt3'",
            )
    if suffix == ".dat":
        return "dat"
    if suffix == ".bin":
        return "nmnist_bin"
    if not head:
        raise EventFormatError(path, "file is empty", offset=0)
    known = ", ".join(sorted(FORMATS))
    raise EventFormatError(
        path, f"unknown event file format (suffix {suffix!r}); pass format= one of: {known}"
    )


def get_format(name: str, path: str | os.PathLike[str] | None = None) -> FormatSpec:
    """Look up a format by name, with an error that lists the known ones."""
    try:
        return FORMATS[name]
    except KeyError:
        known = ", ".join(sorted(FORMATS))
        raise EventFormatError(path, f"unknown format {name!r}; known: {known}") from None
