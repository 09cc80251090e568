"""On-disk, memory-mapped cache of a frozen backbone's features, filled once and reused.

A method opts in with two hooks (both optional; without them nothing is cached)::

    def feature_cache_key(self) -> str | None:
        # None: not cacheable now (e.g. the backbone is trainable). Otherwise a string that
        # changes whenever the features would: backbone weights digest, preprocessing, frames.
    def extract_features(self, batch) -> dict[str, Tensor]:
        # the backbone's outputs for a batch, each [B, ...]; the method must then accept
        # batch["features"] (the same dict, stacked from the cache) in training_step, predict
        # and embed instead of batch["rgb"] / batch["events"].

The cache folder is keyed by sha256 of (method key, dataset fingerprint); the fingerprint holds
the dataset class, its simple settings (frames, representation, slicing, image size, sampling
mode, ...), and every sample's path, label, size and modification time. Change any of them and
a new folder is used; the old one is never read again.

Layout of one cache folder (rank r of W writes rows for the indices r, r + W, ...)::

    shard-<r>-of-<W>/<feature>.npy    memory-mapped [rows, ...] arrays
    shard-<r>-of-<W>/labels.npy       int64 [rows] labels of the samples
    shard-<r>-of-<W>/filled.npy       uint8 [rows]: 1 once written (a killed fill resumes)
    fill-<r>-of-<W>.lock              held while a process fills that shard (others wait)
    complete.json                     world size, sample count, feature shapes, paths
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import Dataset

from evclip.engine import distributed as D
from evclip.engine.checkpoint import atomic_write_text
from evclip.engine.data import IndexedDataset, make_loader, move_batch

FORMAT = 1
_SIMPLE = (str, int, float, bool, type(None))


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/evclip/features`` (``~/.cache/evclip/features``)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "evclip" / "features"


def method_cache_key(method: nn.Module) -> str | None:
    """The method's ``feature_cache_key()``, or None when it has no such hook."""
    hook = getattr(method, "feature_cache_key", None)
    if hook is None or not hasattr(method, "extract_features"):
        return None
    key = hook()
    return None if key is None else str(key)


def dataset_is_deterministic(dataset: Any) -> bool:
    """False when the dataset draws random frames (``train=True``) or has a transform."""
    return not getattr(dataset, "train", False) and getattr(dataset, "transform", None) is None


def _simple_settings(dataset: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in sorted(vars(dataset).items()):
        if key.startswith("_") or key in ("epoch", "samples", "class_names"):
            continue
        if key == "seed" and not getattr(dataset, "train", False):
            continue  # the seed only draws training offsets: fixed frames are the same for any
        if isinstance(value, _SIMPLE):
            out[key] = value
        elif isinstance(value, (tuple, list)) and all(isinstance(v, _SIMPLE) for v in value):
            out[key] = list(value)
    return out


def dataset_fingerprint(dataset: Any) -> dict[str, Any]:
    """What identifies a dataset's inputs (see the module docstring)."""
    digest = hashlib.sha256()
    for i, ref in enumerate(getattr(dataset, "samples", [])):
        path = str(getattr(ref, "path", ref))
        try:
            stat = os.stat(path)
            stamp = f"{stat.st_size}:{stat.st_mtime_ns}"
        except OSError:
            stamp = "missing"
        digest.update(f"{i}\t{path}\t{getattr(ref, 'label', '')}\t{stamp}\n".encode())
    return {
        "type": f"{type(dataset).__module__}.{type(dataset).__qualname__}",
        "size": len(dataset),
        "settings": _simple_settings(dataset),
        "samples": digest.hexdigest(),
    }


def cache_folder(cache_dir: str | os.PathLike[str], dataset: Any, key: str) -> Path:
    """The folder of ``dataset``'s features under method key ``key``."""
    payload = json.dumps(
        {"format": FORMAT, "method": key, "dataset": dataset_fingerprint(dataset)}, sort_keys=True
    )
    return Path(cache_dir) / hashlib.sha256(payload.encode()).hexdigest()[:24]


class FeatureCache:
    """The features of one dataset in one cache folder (see the module docstring)."""

    def __init__(self, folder: str | os.PathLike[str]) -> None:
        self.folder = Path(folder)
        self._arrays: dict[tuple[int, str], np.ndarray] = {}
        self._info: dict[str, Any] | None = None

    @property
    def info(self) -> dict[str, Any]:
        if self._info is None:
            self._info = json.loads((self.folder / "complete.json").read_text())
        return self._info

    @property
    def complete(self) -> bool:
        return (self.folder / "complete.json").is_file()

    def __len__(self) -> int:
        return int(self.info["size"])

    def _shard(self, rank: int, world: int) -> Path:
        return self.folder / f"shard-{rank}-of-{world}"

    def _array(self, shard: int, name: str) -> np.ndarray:
        key = (shard, name)
        if key not in self._arrays:  # opened lazily, once per process (DataLoader workers too)
            path = self._shard(shard, self.info["world"]) / f"{name}.npy"
            self._arrays[key] = np.load(path, mmap_mode="r")
        return self._arrays[key]

    def read(self, index: int) -> tuple[dict[str, torch.Tensor], int]:
        """Features and label of sample ``index``."""
        world = int(self.info["world"])
        shard, row = index % world, index // world
        features = {
            name: torch.from_numpy(np.array(self._array(shard, name)[row]))
            for name in self.info["features"]
        }
        return features, int(self._array(shard, "labels")[row])

    # -- filling -------------------------------------------------------------------------------
    def fill(
        self,
        method: nn.Module,
        dataset: Dataset,
        *,
        batch_size: int,
        num_workers: int = 0,
        device: torch.device | str = "cpu",
        autocast: Callable[[], AbstractContextManager] = nullcontext,
        progress: bool = False,
    ) -> None:
        """Extract and store every sample's features (this rank's share; all ranks call it)."""
        if self.complete:
            return
        rank, world = D.get_rank(), D.get_world_size()
        self._drop_other_layouts(world)
        # two programs filling the same folder (runs of one config with different seeds, side
        # by side) take turns: the second finds the rows written and only reads them
        with exclusive_lock(self.folder / f"fill-{rank}-of-{world}.lock"):
            mine = list(range(rank, len(dataset), world))  # type: ignore[arg-type]
            writer = _ShardWriter(self._shard(rank, world), len(mine))
            todo = [i for j, i in enumerate(mine) if not writer.is_filled(j)]
            if todo:
                loader = make_loader(
                    IndexedDataset(dataset),
                    batch_size=batch_size,
                    sampler=todo,  # a list is a valid sampler
                    num_workers=num_workers,
                )
                was_training = method.training
                method.eval()
                try:
                    self._extract_all(method, loader, writer, device, autocast, progress, world)
                finally:
                    method.train(was_training)
            writer.close()
        D.barrier()
        if D.is_main_process():
            self._write_complete(dataset, world)
        D.barrier()
        self._info = None

    @staticmethod
    def _extract_all(method, loader, writer, device, autocast, progress, world) -> None:
        from tqdm.auto import tqdm

        bar = tqdm(loader, desc="feature cache", disable=not progress, leave=False)
        for batch in bar:
            labels = batch["label"].numpy()
            rows = (batch["index"] // world).numpy()
            with torch.no_grad(), autocast():
                features = method.extract_features(move_batch(batch, device))
            writer.write(rows, {k: _to_numpy(v) for k, v in features.items()}, labels)

    def _drop_other_layouts(self, world: int) -> None:
        """Partial shards written by a different number of ranks cannot be resumed."""
        if D.is_main_process() and self.folder.is_dir():
            for path in self.folder.glob("shard-*-of-*"):
                if not path.name.endswith(f"-of-{world}"):
                    shutil.rmtree(path, ignore_errors=True)
        D.barrier()

    def _write_complete(self, dataset: Any, world: int) -> None:
        shard = self._shard(0, world)
        features = {}
        for path in sorted(shard.glob("*.npy")):
            if path.stem in ("labels", "filled"):
                continue
            array = np.load(path, mmap_mode="r")
            features[path.stem] = {"shape": list(array.shape[1:]), "dtype": str(array.dtype)}
        info = {"format": FORMAT, "world": world, "size": len(dataset), "features": features}
        atomic_write_text(self.folder / "complete.json", json.dumps(info, indent=1))


@contextmanager
def exclusive_lock(path: Path) -> Iterator[None]:
    """Hold an advisory lock on ``path`` inside the block: another process asking for the same
    lock waits until this one leaves (``fcntl.flock``; where it does not exist, or the file
    system refuses locks, as some network file systems do, no lock)."""
    try:
        import fcntl
    except ImportError:  # not POSIX
        yield
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX)
        except OSError:  # e.g. ENOLCK: go on unlocked, as before locks existed
            yield
            return
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _to_numpy(tensor: torch.Tensor) -> np.ndarray:
    tensor = tensor.detach()
    if tensor.dtype == torch.bfloat16:  # numpy has no bfloat16
        tensor = tensor.float()
    return tensor.cpu().numpy()


class _ShardWriter:
    """Writes rows of one rank's shard; arrays are created at the first write."""

    def __init__(self, folder: Path, rows: int) -> None:
        self.folder = folder
        self.rows = rows
        folder.mkdir(parents=True, exist_ok=True)
        filled_path = folder / "filled.npy"
        self.filled = self._open(filled_path, (rows,), np.uint8)
        self.arrays: dict[str, np.ndarray] = {}

    def _open(self, path: Path, shape: tuple[int, ...], dtype: Any) -> np.ndarray:
        if path.is_file():
            array = np.load(path, mmap_mode="r+")
            if array.shape == shape and array.dtype == np.dtype(dtype):
                return array
            path.unlink()
        return np.lib.format.open_memmap(path, mode="w+", dtype=dtype, shape=shape)

    def is_filled(self, row: int) -> bool:
        return bool(self.filled[row])

    def write(
        self, rows: np.ndarray, features: Mapping[str, np.ndarray], labels: np.ndarray
    ) -> None:
        if not self.arrays:
            if not features:
                raise ValueError("extract_features() returned no features")
            for name, values in features.items():
                if not name.isidentifier():
                    raise ValueError(f"feature name {name!r} is not a plain identifier")
                shape = (self.rows, *values.shape[1:])
                self.arrays[name] = self._open(self.folder / f"{name}.npy", shape, values.dtype)
            self.arrays["labels"] = self._open(self.folder / "labels.npy", (self.rows,), np.int64)
        for name, values in features.items():
            if name not in self.arrays:
                raise ValueError(f"extract_features() returned a new feature {name!r}")
            self.arrays[name][rows] = values
        self.arrays["labels"][rows] = labels
        for array in self.arrays.values():
            array.flush()
        self.filled[rows] = 1  # only after the rows are on disk
        self.filled.flush()

    def close(self) -> None:
        missing = int((np.asarray(self.filled) == 0).sum())
        if missing:
            raise RuntimeError(f"{self.folder}: {missing} rows were not filled")
        for array in (*self.arrays.values(), self.filled):
            array.flush()


class CachedDataset(Dataset):
    """Samples read from a complete :class:`FeatureCache` instead of the files.

    Each sample is ``{"features": {...}, "label", "class_name", "index"}``.
    """

    def __init__(self, cache: FeatureCache, class_names: list[str], paths: list[str] | None = None):
        if not cache.complete:
            raise ValueError(f"{cache.folder}: feature cache is not complete")
        self.cache = cache
        self.class_names = list(class_names)
        self.paths = paths

    def __len__(self) -> int:
        return len(self.cache)

    def __getitem__(self, key: int | tuple[int, int]) -> dict[str, Any]:
        index = key[1] if isinstance(key, tuple) else key
        features, label = self.cache.read(int(index))
        sample: dict[str, Any] = {
            "features": features,
            "label": label,
            "class_name": self.class_names[label],
            "index": int(index),
        }
        if self.paths is not None:
            sample["path"] = self.paths[int(index)]
        return sample


def sample_paths(dataset: Any) -> list[str] | None:
    """Paths of the samples from ``dataset.samples`` (None when it has none)."""
    samples = getattr(dataset, "samples", None)
    if samples is None:
        return None
    return [str(getattr(ref, "path", ref)) for ref in samples]
