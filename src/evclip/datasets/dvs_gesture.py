"""DVS128 Gesture (11 gestures, 128x128), one sample per labelled interval.

Layout under ``root`` (or ``root/DvsGesture``)::

    trials_to_train.txt, trials_to_test.txt    one recording name per line (users 1-23 / 24-29)
    userNN_<lighting>.aedat                    AEDAT 3.1 recording
    userNN_<lighting>_labels.csv               class,startTime_usec,endTime_usec (classes 1..11)

Each CSV row is one sample: the events with start <= t < end of that recording; classes 1..11
become labels 0..10. Only the small CSVs are read when the index is built; the last recording
read is kept in memory because consecutive samples usually come from the same file.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from evclip.datasets.base import DATASETS, EventDataset, SampleRef
from evclip.datasets.errors import DatasetError
from evclip.datasets.names import class_names
from evclip.io import EventStream, Frames, read_events

GESTURE_SENSOR = (128, 128)
TRIAL_LISTS = {"train": "trials_to_train.txt", "test": "trials_to_test.txt"}


def read_gesture_labels(path: str | os.PathLike[str]) -> list[tuple[int, int, int, int]]:
    """Rows of a ``_labels.csv``: (label 0..10, start us, end us, line number).

    Raises:
        DatasetError: naming the file and line for a missing file, a malformed row, a class
            outside 1..11 or an interval that ends before it starts.
    """
    path = Path(path)
    if not path.is_file():
        raise DatasetError(path, "labels file not found")
    rows = []
    with open(path, encoding="utf-8-sig") as f:
        for line_no, line in enumerate(f, start=1):
            text = line.strip()
            if not text or (line_no == 1 and text.lower().startswith("class")):
                continue
            fields = [v.strip() for v in text.split(",")]
            try:
                cls, start, end = (int(v) for v in fields)
            except ValueError:
                raise DatasetError(
                    path, f"expected 'class,startTime_usec,endTime_usec', got {text!r}", line_no
                ) from None
            if not 1 <= cls <= 11:
                raise DatasetError(path, f"class {cls} outside 1..11", line_no)
            if end <= start:
                problem = f"interval ends ({end}) before its start ({start})"
                raise DatasetError(path, problem, line_no)
            rows.append((cls - 1, start, end, line_no))
    return rows


@DATASETS.register("dvs_gesture")
class DVSGesture(EventDataset):
    """DVS128 Gesture.

    Args:
        root: folder with the recordings and trial lists (or its parent holding ``DvsGesture``).
        split: ``train`` or ``test``.
        **options: see :class:`~evclip.datasets.base.EventDataset`.
    """

    def __init__(self, root: str | os.PathLike[str], split: str = "train", **options: Any) -> None:
        if split not in TRIAL_LISTS:
            raise ValueError(f"split must be 'train' or 'test', got {split!r}")
        root = Path(root)
        if not root.is_dir():
            raise DatasetError(root, "dataset root not found")
        if not (root / TRIAL_LISTS[split]).is_file() and (root / "DvsGesture").is_dir():
            root = root / "DvsGesture"
        trial_list = root / TRIAL_LISTS[split]
        if not trial_list.is_file():
            raise DatasetError(trial_list, "trial list not found")
        samples = []
        with open(trial_list, encoding="utf-8-sig") as f:
            trials = [(line.strip(), n) for n, line in enumerate(f, start=1) if line.strip()]
        for trial, trial_line in trials:
            recording = root / trial
            labels = root / f"{Path(trial).stem}_labels.csv"
            for label, start, end, line_no in read_gesture_labels(labels):
                meta = {
                    "start": start,
                    "end": end,
                    "labels": str(labels),
                    "line": line_no,
                    "list": str(trial_list),
                    "list_line": trial_line,
                }
                samples.append(SampleRef(str(recording), label, meta))
        if not samples:
            raise DatasetError(trial_list, "no labelled intervals found")
        self._cached: tuple[str, EventStream] | None = None
        super().__init__(root, split, samples, class_names("dvs_gesture"), **options)

    def _recording(self, path: str) -> EventStream:
        if self._cached is None or self._cached[0] != path:
            self._cached = (path, read_events(path, sensor_size=GESTURE_SENSOR))
        return self._cached[1]

    def _load(self, ref: SampleRef, rng: np.random.Generator | None) -> dict[str, Any]:
        recording = self._recording(ref.path)
        t = recording.events["t"]
        lo, hi = np.searchsorted(t, [ref.meta["start"], ref.meta["end"]], side="left")
        if hi <= lo:
            raise DatasetError(
                ref.path,
                f"no events in [{ref.meta['start']}, {ref.meta['end']}) "
                f"(labels file {ref.meta['labels']} line {ref.meta['line']})",
            )
        events = recording.events[lo:hi].copy()
        return self._render(EventStream(events, GESTURE_SENSOR, Frames(), ref.path), rng)
