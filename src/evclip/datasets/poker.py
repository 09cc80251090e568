"""PokerEvent (114 classes: playing-card symbols and animals, DVS346) in its published layout.

Layout under ``root``::

    train_label.txt / test_label.txt              <class_dir>/<sample> <num_frames> <label>
    <class_dir>/<sample>/<sample>_aps/*.png        RGB frames (file names sorted naturally)
    <class_dir>/<sample>/<sample>_dvs/*.png        event images
    <class_dir>/<sample>.aedat4                    raw: events and APS frames in one file

Labels are the list file's label column, a position in the 114-name list (five names occur
twice, so a label is never looked up by name).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from evclip.datasets.base import DATASETS, SampleRef
from evclip.datasets.errors import DatasetError
from evclip.datasets.frames import aligned_event_images, sample_indices
from evclip.datasets.hardvs import FrameFolderDataset


@DATASETS.register("poker")
class PokerEvent(FrameFolderDataset):
    """PokerEvent; arguments as :class:`~evclip.datasets.hardvs.FrameFolderDataset`.

    ``source="png"`` reads the PNG folders; ``source="aedat4"`` reads the raw recording: T of
    its APS frames (``"rgb"``, unless ``with_rgb=False``) and, for each, an event image of the
    events during that frame (``"events"``); with ``with_rgb=False`` the T event images are cut
    from the whole stream instead.
    """

    shipped_names = "poker"
    event_suffix = ".aedat4"
    sources = ("png", "aedat4")
    rgb_in_event_file = True

    def _load(self, ref: SampleRef, rng: np.random.Generator | None) -> dict[str, Any]:
        if self.source == "png":
            return super()._load(ref, rng)
        stream = self._read_stream(Path(ref.path))
        if not self.with_rgb:
            return self._render(stream, rng)
        if len(stream.frames) == 0:
            raise DatasetError(stream.path, "recording holds no APS frames (pass with_rgb=False)")
        indices = sample_indices(len(stream.frames), self.num_frames, train=self.train, rng=rng)
        out: dict[str, Any] = {"rgb": stream.frames.images[indices]}
        if self.representation is None:
            out["stream"] = stream
        else:
            out["events"] = aligned_event_images(
                stream, stream.frames.t, indices, self.representation
            )
        return out
