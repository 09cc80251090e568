"""The one sample format shared by every dataset reader, the error policy, and the registry.

Every reader is an :class:`EventDataset` whose ``__getitem__`` returns a dict:

- ``"rgb"``: uint8 tensor [T, 3, H, W], only when the dataset has RGB frames (and they are asked
  for);
- ``"events"``: uint8 tensor [T, 3, H, W], event images made by the chosen representation, or
  the event PNGs the dataset ships;
- ``"stream"``: the :class:`~evclip.io.EventStream`, only with ``representation=None``;
- ``"label"`` (int), ``"class_name"`` (str), ``"path"`` (str).

T frames are taken in temporal order (see :mod:`evclip.datasets.frames`): segment centres when
evaluating, a seeded random point in each segment when training. Event files follow the same
rule: each of the T event windows is centred on that point (:meth:`EventDataset._render`), so
training sees a different cut of the stream every epoch and evaluation always the same one. The
random offsets depend only on (seed, epoch, index), so they are the same with any number of
DataLoader workers.

Error policy: ``on_error="raise"`` raises :class:`SampleError` naming the sample's path;
``on_error="skip"`` warns once per bad sample (per process), returns the next valid one (so
batches keep their size) and records the skip. Skips made in DataLoader worker processes reach
the main process through a small log file (:mod:`evclip.datasets.skips`), so
:meth:`EventDataset.skip_summary` and :meth:`EventDataset.report_skips` see them all; whatever
has not been reported with :meth:`EventDataset.report_skips` is printed to stderr when the
dataset is garbage-collected or the program exits.

A sample named by a list file that does not exist is a list error: with ``on_error="raise"``
construction fails naming the list file and line (``check_files=False`` skips this look-up);
with ``on_error="skip"`` it is skipped like any unreadable sample, its reason naming the line.
"""

from __future__ import annotations

import os
import warnings
import weakref
import zipfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TextIO

import numpy as np
import torch
from torch.utils.data import Dataset

from evclip.datasets.errors import DatasetError, SampleError
from evclip.datasets.frames import SLICINGS, segment_positions, stream_event_images, to_tensor
from evclip.datasets.skips import SkipLog
from evclip.datasets.workers import limit_threads_in_worker
from evclip.io import EventStream
from evclip.registry import Registry

DATASETS: Registry[Callable[..., EventDataset]] = Registry("dataset")

#: Frames per sample unless ``num_frames=`` says otherwise (SAFE's best setting; the synthetic
#: benchmark stores 5 frames per clip and reads its own count from its manifest).
DEFAULT_NUM_FRAMES = 5

# what a missing or corrupt sample file raises (EventFormatError and DatasetError are ValueErrors)
LOAD_ERRORS: tuple[type[BaseException], ...] = (OSError, ValueError, EOFError, zipfile.BadZipFile)


def get_dataset(name: str, **kwargs: Any) -> EventDataset:
    """Build a registered dataset: ``get_dataset("hardvs", root=..., split="train")``.

    Raises:
        DatasetError: an unknown name (the message lists the registered ones), or a dataset
            folder or list file that is missing or wrong.
    """
    if name not in DATASETS:
        known = ", ".join(DATASETS.names())
        raise DatasetError(None, f"unknown dataset {name!r}; known: {known}")
    return DATASETS.get(name)(**kwargs)


@dataclass(frozen=True)
class SampleRef:
    """Where one sample lives; built when the index is built, without opening the sample.

    Attributes:
        path: the file or folder that holds the sample.
        label: 0-based class index.
        meta: reader-specific details (a paired image, a time interval, ...); ``"list"`` and
            ``"list_line"`` say which list file line named the sample.
    """

    path: str
    label: int
    meta: Mapping[str, Any] = field(default_factory=dict)


class EventDataset(Dataset):
    """Base class of the dataset readers; subclasses build ``samples`` and implement ``_load``.

    Args:
        root: the dataset folder.
        split: the split name, used for the default of ``train``.
        samples: one :class:`SampleRef` per sample.
        class_names: names indexed by label.
        num_frames: T, frames per sample; default :data:`DEFAULT_NUM_FRAMES` (5: SAFE's
            setting, and the frames each clip of the synthetic benchmark stores, so none is
            repeated). A clip with fewer frames than T repeats some.
        representation: event-image mode for :func:`evclip.representations.event_images`
            (for example ``"eclip_rgb"``); None returns the raw ``"stream"`` instead.
        slicing: ``"time"``, ``"count"`` or ``"afe"``: how a stream is cut into T windows.
        events_per_window: window length for ``slicing="count"``.
        image_size: (H, W) to resize every frame to; None keeps the stored size.
        train: random frame offsets and event windows (True) or segment centres (False);
            default ``split == "train"``.
        seed: seed of the training offsets.
        transform: callable applied to the finished sample dict.
        on_error: ``"raise"`` or ``"skip"``.
        check_files: with ``on_error="raise"``, check at construction that every sample a list
            file names exists.
    """

    has_rgb: bool = False

    def __init__(
        self,
        root: str | os.PathLike[str],
        split: str,
        samples: Sequence[SampleRef],
        class_names: Sequence[str],
        *,
        num_frames: int = DEFAULT_NUM_FRAMES,
        representation: str | None = "eclip_rgb",
        slicing: str = "time",
        events_per_window: int | None = None,
        image_size: tuple[int, int] | None = None,
        train: bool | None = None,
        seed: int = 0,
        transform: Callable[[dict[str, Any]], Any] | None = None,
        on_error: str = "raise",
        check_files: bool = True,
    ) -> None:
        if on_error not in ("raise", "skip"):
            raise ValueError(f"on_error must be 'raise' or 'skip', got {on_error!r}")
        if num_frames < 1:
            raise ValueError(f"num_frames must be at least 1, got {num_frames}")
        if slicing not in SLICINGS:
            raise ValueError(f"slicing must be one of {SLICINGS}, got {slicing!r}")
        if image_size is not None and (len(image_size) != 2 or min(image_size) < 1):
            raise ValueError(f"image_size must be (height, width), got {image_size!r}")
        self.root = os.fspath(root)
        self.split = split
        self.samples = list(samples)
        self.class_names = list(class_names)
        self.num_frames = int(num_frames)
        self.representation = representation
        self.slicing = slicing
        self.events_per_window = events_per_window
        self.image_size = None if image_size is None else (int(image_size[0]), int(image_size[1]))
        self.train = split == "train" if train is None else bool(train)
        self.seed = int(seed)
        self.epoch = 0
        self.transform = transform
        self.on_error = on_error
        self._bad: dict[int, str] = {}
        self._skips = SkipLog(type(self).__name__)
        weakref.finalize(self, self._skips.close, [ref.path for ref in self.samples])
        for ref in self.samples:
            if not 0 <= ref.label < len(self.class_names):
                raise DatasetError(ref.path, f"label {ref.label} has no class name")
        if check_files and on_error == "raise":
            self._check_listed()

    def _check_listed(self) -> None:
        """Raise naming the list file and line of the first listed sample that does not exist."""
        for ref in self.samples:
            if "list" in ref.meta and not self._sample_exists(ref):
                raise DatasetError(
                    ref.meta["list"],
                    f"names a sample that does not exist: {ref.path}",
                    ref.meta.get("list_line"),
                )

    # -- subclass hooks ------------------------------------------------------------------------
    def _sample_exists(self, ref: SampleRef) -> bool:
        """Whether the files of a listed sample are there (a cheap check, no decoding)."""
        return os.path.exists(ref.path)

    def _load(self, ref: SampleRef, rng: np.random.Generator | None) -> dict[str, Any]:
        """Return numpy frames: ``"rgb"``/``"events"`` uint8 [T, H, W, 3] and/or ``"stream"``."""
        raise NotImplementedError

    def _render(
        self,
        stream: EventStream,
        rng: np.random.Generator | None,
        *,
        positions: np.ndarray | None = None,
    ) -> dict[str, Any]:
        """``{"stream": ...}`` with ``representation=None``, else ``{"events": [T, H, W, 3]}``.

        The T windows are centred on ``positions`` (fractions of the clip), by default drawn
        from ``rng`` as frames are (:func:`~evclip.datasets.frames.segment_positions`): random
        points in T equal segments when training, the segment centres when evaluating. Pass the
        positions used for a sample's RGB frames so that both show the same moments.
        """
        if self.representation is None:
            return {"stream": stream}
        if positions is None:
            positions = segment_positions(self.num_frames, train=self.train, rng=rng)
        images = stream_event_images(
            stream,
            self.num_frames,
            self.representation,
            slicing=self.slicing,
            events_per_window=self.events_per_window,
            positions=positions,
        )
        return {"events": images}

    # -- public API ----------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.samples)

    @property
    def labels(self) -> list[int]:
        """Label of every sample, in index order (for samplers and class counts)."""
        return [ref.label for ref in self.samples]

    def set_epoch(self, epoch: int) -> None:
        """Change the training frame offsets from one epoch to the next."""
        self.epoch = int(epoch)

    def load(self, index: int, epoch: int | None = None) -> dict[str, Any]:
        """Load sample ``index`` without the error policy (any error propagates).

        ``epoch`` chooses the training frame offsets; default the dataset's :attr:`epoch`.
        """
        epoch = self.epoch if epoch is None else int(epoch)
        ref = self.samples[index]
        rng = np.random.default_rng((self.seed, epoch, index)) if self.train else None
        raw = self._load(ref, rng)
        sample: dict[str, Any] = {}
        for key in ("rgb", "events"):
            if raw.get(key) is not None:
                sample[key] = to_tensor(raw[key], self.image_size)
        if raw.get("stream") is not None:
            sample["stream"] = raw["stream"]
        sample["label"] = int(ref.label)
        sample["class_name"] = self.class_names[ref.label]
        sample["path"] = ref.path
        return sample

    def __getitem__(self, key: int | tuple[int, int]) -> dict[str, Any]:
        """Sample ``key``: an index, or an ``(epoch, index)`` pair.

        The pair lets a worker process that keeps its own copy of the dataset (a persistent
        DataLoader worker, see :func:`~evclip.datasets.make_dataloader`) use the epoch of the
        main process's :meth:`set_epoch`.
        """
        limit_threads_in_worker()
        epoch, index = key if isinstance(key, tuple) else (None, key)
        n = len(self.samples)
        if not -n <= index < n:
            raise IndexError(f"index {index} out of range for {n} samples")
        index %= n
        for attempt in range(n):
            i = (index + attempt) % n
            if i in self._bad:
                self._skips.record(i, self._bad[i])
                continue
            try:
                sample = self.load(i, epoch)
            except LOAD_ERRORS as err:
                problem = f"{err}{self._listed_at(self.samples[i])}"
                if self.on_error == "raise":
                    raise SampleError(self.samples[i].path, problem, i) from err
                self._record_skip(i, f"{type(err).__name__}: {problem}")
                continue
            return self.transform(sample) if self.transform is not None else sample
        raise DatasetError(self.root, f"all {n} samples failed to load: {self.skip_summary()}")

    @staticmethod
    def _listed_at(ref: SampleRef) -> str:
        """`` (listed at file:line)`` for a sample named by a list file, else ``""``."""
        if "list" not in ref.meta:
            return ""
        line = ref.meta.get("list_line")
        return f" (listed at {ref.meta['list']}{'' if line is None else f':{line}'})"

    def _record_skip(self, index: int, reason: str) -> None:
        path = self.samples[index].path
        self._bad[index] = reason
        self._skips.record(index, reason)
        warnings.warn(f"skipping sample {index} ({path}): {reason}", RuntimeWarning, stacklevel=3)

    @property
    def num_skipped(self) -> int:
        """How many requests were answered with another sample because theirs was bad."""
        return len(self._skips.entries())

    def skip_summary(self) -> dict[str, str]:
        """{path: reason} of every sample found bad so far, in any DataLoader worker."""
        return self._skips.summary([ref.path for ref in self.samples])

    def report_skips(self, file: TextIO | None = None) -> int:
        """Print what was skipped (nothing when nothing was) to ``file`` (default stderr).

        Returns the number of bad samples. What this reports is not printed again at exit.
        """
        return self._skips.report([ref.path for ref in self.samples], file)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(root={self.root!r}, split={self.split!r}, "
            f"samples={len(self)}, classes={len(self.class_names)}, num_frames={self.num_frames}, "
            f"representation={self.representation!r}, train={self.train})"
        )


def collate_samples(batch: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """DataLoader ``collate_fn`` for sample dicts.

    Tensors (``rgb``, ``events``) are stacked to [B, T, 3, H, W], labels become an int64 tensor
    [B], everything else (``class_name``, ``path``, ``stream``) becomes a list.

    Raises:
        ValueError: when frames in the batch differ in size (pass ``image_size=``).
    """
    if not batch:
        raise ValueError("cannot collate an empty batch")
    out: dict[str, Any] = {}
    for key in batch[0]:
        values = [sample[key] for sample in batch]
        if key == "label":
            out[key] = torch.tensor(values, dtype=torch.int64)
        elif isinstance(values[0], torch.Tensor):
            shapes = {tuple(v.shape) for v in values}
            if len(shapes) > 1:
                raise ValueError(
                    f"cannot stack {key!r} frames of shapes {sorted(shapes)}; pass image_size="
                )
            out[key] = torch.stack(values)
        else:
            out[key] = values
    return out
