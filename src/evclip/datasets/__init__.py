"""Readers for the published event-camera dataset layouts, all returning one sample format.

>>> from evclip.datasets import get_dataset, class_names, readable, make_dataloader
>>> ds = get_dataset("hardvs", root="/data/HARDVS", split="train", num_frames=5)  # doctest: +SKIP
>>> sample = ds[0]  # doctest: +SKIP
>>> sample["events"].shape  # [T, 3, H, W] uint8  # doctest: +SKIP
>>> readable(class_names("dvs_gesture")[3])
'right arm clockwise'
>>> loader = make_dataloader(ds, batch_size=8, shuffle=True, num_workers=2)  # doctest: +SKIP

Registered names (``DATASETS.names()``): ``hardvs``, ``poker``, ``ncaltech101``, ``nmnist``,
``nimagenet``, ``asl_dvs``, ``dvs_gesture``, ``folder``, ``synthetic``.
"""

from __future__ import annotations

from evclip.datasets.asl_dvs import ASLDVS
from evclip.datasets.base import (
    DATASETS,
    EventDataset,
    SampleRef,
    collate_samples,
    get_dataset,
)
from evclip.datasets.dvs_gesture import DVSGesture, read_gesture_labels
from evclip.datasets.errors import DatasetError, SampleError
from evclip.datasets.folder import EventFolder
from evclip.datasets.frames import sample_indices, segment_positions
from evclip.datasets.hardvs import HARDVS, FrameFolderDataset
from evclip.datasets.lists import read_split_file, stratified_split
from evclip.datasets.loader import EpochKeySampler, make_dataloader
from evclip.datasets.names import (
    class_names,
    load_class_file,
    nimagenet_wnids,
    parse_hardvs_classes,
    readable,
)
from evclip.datasets.ncaltech101 import NCaltech101, centre_events
from evclip.datasets.nimagenet import NImageNet
from evclip.datasets.nmnist import NMNIST
from evclip.datasets.poker import PokerEvent
from evclip.datasets.synthetic import (
    SyntheticBenchmark,
    build_synthetic_benchmark,
    load_synthetic_benchmark,
)

__all__ = [
    "ASLDVS",
    "DATASETS",
    "DVSGesture",
    "DatasetError",
    "EpochKeySampler",
    "EventDataset",
    "EventFolder",
    "FrameFolderDataset",
    "HARDVS",
    "NCaltech101",
    "NImageNet",
    "NMNIST",
    "PokerEvent",
    "build_synthetic_benchmark",
    "load_synthetic_benchmark",
    "make_dataloader",
    "SampleError",
    "SampleRef",
    "SyntheticBenchmark",
    "centre_events",
    "class_names",
    "collate_samples",
    "get_dataset",
    "load_class_file",
    "nimagenet_wnids",
    "parse_hardvs_classes",
    "read_gesture_labels",
    "read_split_file",
    "readable",
    "sample_indices",
    "segment_positions",
    "stratified_split",
]
