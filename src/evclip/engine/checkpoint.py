"""Atomic checkpoints: safetensors weights + a small ``weights_only`` training state.

A checkpoint is a folder::

    <run>/checkpoints/step-00000120/model.safetensors   the method's state_dict
    <run>/checkpoints/step-00000120/state.pt            optimiser, scheduler, RNG, data order
    <run>/checkpoints/step-00000120/meta.json           method name, epoch, step, metric
    <run>/checkpoints/latest.json                       {"dir": "step-00000120"}
    <run>/checkpoints/best.json                         {"dir": ..., "metric": ..., "value": ...}

Each folder is written under a temporary name, every file fsync'ed, then renamed into place;
only then does the pointer file change (itself written to a temporary file and renamed). A kill
or a full disk at any moment leaves the previous pointer naming a complete checkpoint.
``state.pt`` holds tensors and plain Python values only and is read with
``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

FORMAT = 1
MODEL_FILE = "model.safetensors"
STATE_FILE = "state.pt"
META_FILE = "meta.json"


class CheckpointError(ValueError):
    """A checkpoint is missing, corrupt, or does not fit the model; the message names the file."""


def fsync_dir(folder: Path) -> None:
    """Make a rename inside ``folder`` durable (no-op where directories cannot be opened)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write(path: str | os.PathLike[str], write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp_path)``, fsync, then rename onto ``path``; the old file survives a crash."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # process and thread in the name: two writers of one file never share a temporary
    tmp = path.with_name(f".tmp-{path.name}-{os.getpid()}-{threading.get_ident()}")
    try:
        write(tmp)
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    fsync_dir(path.parent)
    return path


def atomic_write_text(path: str | os.PathLike[str], text: str) -> Path:
    """Write a text file atomically."""
    return atomic_write(path, lambda tmp: tmp.write_text(text))


def save_weights(state: Mapping[str, torch.Tensor], path: str | os.PathLike[str]) -> None:
    """Write a state dict as safetensors (tied tensors are stored as separate copies)."""
    from safetensors.torch import save_file

    tensors = {k: v.detach().to("cpu", copy=True).contiguous() for k, v in state.items()}
    save_file(tensors, os.fspath(path), metadata={"format": "pt"})


def load_weights(path: str | os.PathLike[str]) -> dict[str, torch.Tensor]:
    """Read a safetensors file; a clear :class:`CheckpointError` when missing or corrupt."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: weights file not found")
    try:
        return load_file(os.fspath(path))
    except (SafetensorError, OSError, ValueError, RuntimeError) as err:
        raise CheckpointError(f"{path}: corrupt or unreadable weights file: {err}") from None


def load_state_file(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read ``state.pt`` with ``weights_only=True``; a clear error when corrupt."""
    import pickle

    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: training state file not found")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except (RuntimeError, pickle.UnpicklingError, EOFError, OSError, ValueError) as err:
        raise CheckpointError(f"{path}: corrupt or unreadable training state: {err}") from None
    if not isinstance(state, dict):
        raise CheckpointError(f"{path}: training state is not a dictionary")
    return state


def read_json(path: Path) -> dict[str, Any]:
    """Read a JSON object; a clear error naming the file when missing or broken."""
    if not path.is_file():
        raise CheckpointError(f"{path}: not found")
    try:
        data = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise CheckpointError(f"{path}: corrupt JSON: {err}") from None
    if not isinstance(data, dict):
        raise CheckpointError(f"{path}: expected a JSON object")
    return data


@dataclass
class Checkpoint:
    """A loaded checkpoint folder."""

    path: Path
    model: dict[str, torch.Tensor]
    state: dict[str, Any]
    meta: dict[str, Any]


def save_checkpoint(
    root: str | os.PathLike[str],
    name: str,
    model_state: Mapping[str, torch.Tensor],
    train_state: Mapping[str, Any],
    meta: Mapping[str, Any],
    *,
    pointer: str | None = "latest",
    write_weights: Callable[[Mapping[str, torch.Tensor], Path], None] = save_weights,
) -> Path:
    """Write checkpoint folder ``root/name`` atomically and point ``root/<pointer>.json`` at it.

    Returns the checkpoint folder.
    """
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    _remove_stale_temporaries(root)
    tmp = root / f".tmp-{name}-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    try:
        write_weights(model_state, tmp / MODEL_FILE)
        torch.save(dict(train_state), tmp / STATE_FILE)
        (tmp / META_FILE).write_text(json.dumps({"format": FORMAT, **meta}, indent=1))
        for file in tmp.iterdir():
            with open(file, "rb+") as handle:
                os.fsync(handle.fileno())
        fsync_dir(tmp)
        final = root / name
        if final.exists():
            old = root / f".old-{name}-{os.getpid()}"
            os.replace(final, old)
            os.replace(tmp, final)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, final)
        fsync_dir(root)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    if pointer is not None:
        set_pointer(root, pointer, {"dir": name})
    return root / name


def _remove_stale_temporaries(root: Path) -> None:
    """Temporary folders left by a process that was killed while writing."""
    for path in root.glob(".tmp-*"):
        shutil.rmtree(path, ignore_errors=True) if path.is_dir() else path.unlink(missing_ok=True)
    for path in root.glob(".old-*"):
        shutil.rmtree(path, ignore_errors=True)


def set_pointer(root: Path, pointer: str, content: Mapping[str, Any]) -> None:
    """Atomically write ``root/<pointer>.json``."""
    atomic_write_text(root / f"{pointer}.json", json.dumps(dict(content), indent=1))


def read_pointer(root: str | os.PathLike[str], pointer: str = "latest") -> dict[str, Any] | None:
    """The content of ``root/<pointer>.json``, or None when there is none."""
    path = Path(root) / f"{pointer}.json"
    return read_json(path) if path.exists() else None


def resolve_checkpoint(path: str | os.PathLike[str], pointer: str = "latest") -> Path:
    """The checkpoint folder meant by ``path``: a checkpoint folder, a ``checkpoints`` folder
    (its ``latest``), or a run folder (its ``checkpoints/latest``)."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"{path}: checkpoint not found")
    if (path / MODEL_FILE).is_file() and (path / STATE_FILE).is_file():
        return path
    for root in (path, path / "checkpoints"):
        target = read_pointer(root, pointer) if root.is_dir() else None
        if target is not None:
            folder = root / str(target.get("dir", ""))
            if not (folder / MODEL_FILE).is_file():
                raise CheckpointError(f"{root / (pointer + '.json')}: names missing {folder}")
            return folder
    raise CheckpointError(
        f"{path}: not a checkpoint (no {MODEL_FILE} + {STATE_FILE}, no checkpoints/{pointer}.json)"
    )


def load_checkpoint(path: str | os.PathLike[str], pointer: str = "latest") -> Checkpoint:
    """Read a checkpoint folder (see :func:`resolve_checkpoint` for what ``path`` may be)."""
    folder = resolve_checkpoint(path, pointer)
    meta = read_json(folder / META_FILE) if (folder / META_FILE).exists() else {}
    return Checkpoint(
        folder,
        load_weights(folder / MODEL_FILE),
        load_state_file(folder / STATE_FILE),
        meta,
    )


def prune_checkpoints(root: str | os.PathLike[str], keep: int, prefix: str = "step-") -> None:
    """Delete all but the ``keep`` newest ``prefix*`` folders, never one a pointer names."""
    root = Path(root)
    protected = set()
    for pointer in root.glob("*.json"):
        try:
            protected.add(str(read_json(pointer).get("dir")))
        except CheckpointError:
            continue
    folders = sorted(p for p in root.glob(f"{prefix}*") if p.is_dir())
    for folder in folders[: max(len(folders) - keep, 0)]:
        if folder.name not in protected:
            shutil.rmtree(folder, ignore_errors=True)


def load_model_state(model: nn.Module, state: Mapping[str, torch.Tensor], source: Path) -> None:
    """``model.load_state_dict(state)`` with an error naming ``source`` and what does not fit."""
    own = model.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    mismatched = [
        f"{k} {tuple(state[k].shape)} vs {tuple(own[k].shape)}"
        for k in sorted(set(own) & set(state))
        if tuple(state[k].shape) != tuple(own[k].shape)
    ]
    if missing or unexpected or mismatched:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing keys (first: {missing[:3]})")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected keys (first: {unexpected[:3]})")
        if mismatched:
            parts.append(f"{len(mismatched)} shape mismatches (first: {mismatched[:3]})")
        raise CheckpointError(
            f"{source}: does not fit {type(model).__name__} (a checkpoint of another model or "
            f"other settings?): {'; '.join(parts)}"
        )
    model.load_state_dict(state, strict=True)


def capture_rng_state() -> dict[str, Any]:
    """Python, numpy and torch (CPU and CUDA) random states as tensors and plain values."""
    py_version, py_state, py_gauss = random.getstate()
    np_state = np.random.get_state()  # noqa: NPY002 - the global generator others use
    state: dict[str, Any] = {
        "python": [py_version, list(py_state), py_gauss],
        "numpy": {
            "keys": torch.from_numpy(np.asarray(np_state[1], dtype=np.int64)),
            "pos": int(np_state[2]),
            "has_gauss": int(np_state[3]),
            "cached": float(np_state[4]),
        },
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng_state(state: Mapping[str, Any]) -> None:
    """Undo :func:`capture_rng_state`."""
    version, py_state, gauss = state["python"]
    random.setstate((version, tuple(py_state), gauss))
    np_state = state["numpy"]
    keys = np_state["keys"].numpy().astype(np.uint32)
    np.random.set_state(  # noqa: NPY002
        ("MT19937", keys, np_state["pos"], np_state["has_gauss"], np_state["cached"])
    )
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
