"""Read the tensors of a TorchScript archive (OpenAI's ``ViT-B-16.pt``) without running its code.

A TorchScript archive is a zip: ``<root>/data.pkl`` pickles the module tree (objects of
``__torch__.*`` classes whose state is a dict of attributes) and ``<root>/data/<key>`` holds the raw
bytes of every storage. The unpickler below resolves only a fixed list of harmless names: the
``__torch__`` classes become plain attribute holders, tensors are rebuilt from the raw bytes,
and any other global is refused. Nothing from the archive is executed.
"""

from __future__ import annotations

import pickle
import zipfile
from collections import OrderedDict
from pathlib import Path

import torch

from evclip.backbones.errors import BackboneError

STORAGE_DTYPES = {
    "FloatStorage": torch.float32, "HalfStorage": torch.float16, "BFloat16Storage": torch.bfloat16,
    "DoubleStorage": torch.float64, "LongStorage": torch.int64, "IntStorage": torch.int32,
    "ShortStorage": torch.int16, "CharStorage": torch.int8, "ByteStorage": torch.uint8,
    "BoolStorage": torch.bool,
}  # fmt: skip


class _ScriptObject:
    """Stands in for any ``__torch__`` class: keeps the pickled attribute dict, nothing else."""

    def __setstate__(self, state: object) -> None:
        self.state = state


class _Storage:
    def __init__(self, data: bytes, dtype: torch.dtype) -> None:
        self.data = data
        self.dtype = dtype


def _rebuild_tensor(storage: _Storage, offset: int, size, stride, *_ignored) -> torch.Tensor:
    flat = torch.frombuffer(bytearray(storage.data), dtype=storage.dtype)
    return torch.as_strided(flat, tuple(size), tuple(stride), offset).clone()


def _rebuild_parameter(data: torch.Tensor, *_ignored) -> torch.Tensor:
    return data


def _as_list(values, *_ignored) -> list:
    return list(values)


def _keep_value(value, *_ignored):
    return value


_ALLOWED = {
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
    ("torch._utils", "_rebuild_tensor"): _rebuild_tensor,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    ("collections", "OrderedDict"): OrderedDict,
    ("torch.jit._pickle", "build_intlist"): _as_list,
    ("torch.jit._pickle", "build_doublelist"): _as_list,
    ("torch.jit._pickle", "build_boollist"): _as_list,
    ("torch.jit._pickle", "build_tensorlist"): _as_list,
    ("torch.jit._pickle", "restore_type_tag"): _keep_value,
}


class _TensorOnlyUnpickler(pickle.Unpickler):
    def __init__(self, archive: zipfile.ZipFile, root: str, data: bytes, path: Path) -> None:
        import io

        super().__init__(io.BytesIO(data))
        self._archive = archive
        self._root = root
        self._path = path

    def find_class(self, module: str, name: str):
        if module == "__torch__" or module.startswith("__torch__."):
            return _ScriptObject
        if module == "torch" and name in STORAGE_DTYPES:
            return STORAGE_DTYPES[name]
        try:
            return _ALLOWED[(module, name)]
        except KeyError:
            raise BackboneError(
                f"{self._path}: the TorchScript archive refers to {module}.{name}, which a "
                f"tensor-only reader does not load"
            ) from None

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and pid and pid[0] == "storage"):
            raise BackboneError(f"{self._path}: unexpected persistent id {pid!r}")
        dtype, key = pid[1], pid[2]
        return _Storage(self._archive.read(f"{self._root}/data/{key}"), dtype)


def _flatten(node: object, prefix: str, out: dict[str, torch.Tensor]) -> None:
    if isinstance(node, torch.Tensor):
        out[prefix.rstrip(".")] = node
    elif isinstance(node, _ScriptObject) and isinstance(node.state, dict):
        for key, value in node.state.items():
            _flatten(value, f"{prefix}{key}.", out)


def archive_root(archive: zipfile.ZipFile) -> str | None:
    """The top folder of a TorchScript archive (one holding data.pkl and code/), else None."""
    names = archive.namelist()
    roots = {name.split("/", 1)[0] for name in names if name.count("/") == 1}
    for root in roots:
        has_code = any(name.startswith(f"{root}/code/") for name in names)
        if has_code and f"{root}/data.pkl" in names:
            return root
    return None


def is_torchscript_archive(path: str | Path) -> bool:
    """True when ``path`` is a zip laid out as a TorchScript archive."""
    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as archive:
        return archive_root(archive) is not None


def read_torchscript_tensors(path: str | Path) -> dict[str, torch.Tensor]:
    """Flat ``{dotted.name: tensor}`` of every tensor attribute in a TorchScript archive."""
    path = Path(path)
    with zipfile.ZipFile(path) as archive:
        root = archive_root(archive)
        if root is None:
            raise BackboneError(f"{path} is not a TorchScript archive")
        order_file = f"{root}/byteorder"
        if order_file in archive.namelist() and archive.read(order_file).strip() != b"little":
            raise BackboneError(f"{path}: big-endian TorchScript archives are not supported")
        data = archive.read(f"{root}/data.pkl")
        try:
            tree = _TensorOnlyUnpickler(archive, root, data, path).load()
        except (pickle.UnpicklingError, EOFError, KeyError, RuntimeError, ValueError) as error:
            if isinstance(error, BackboneError):
                raise
            raise BackboneError(f"cannot read the tensors of {path}: {error}") from error
    tensors: dict[str, torch.Tensor] = {}
    _flatten(tree, "", tensors)
    return tensors
