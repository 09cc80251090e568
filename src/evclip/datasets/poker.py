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
from evclip.datasets.frames import aligned_event_images, positions_to_indices, segment_positions
from evclip.datasets.hardvs import FrameFolderDataset


@DATASETS.register("poker")
class PokerEvent(FrameFolderDataset):
    """PokerEvent; arguments as :class:`~evclip.datasets.hardvs.FrameFolderDataset`.

    ``source="png"`` reads the PNG folders (``slicing`` does not apply to them: asking for
    ``"count"`` or ``"afe"`` there is an error). ``source="aedat4"`` reads the raw recording:
    T of its APS frames as ``"rgb"`` (unless ``with_rgb=False``), taken at the positions of
    :func:`~evclip.datasets.frames.segment_positions` (segment centres when evaluating, a
    seeded random point in each segment when training), and T ``"events"`` images paired with
    them by order (the k-th event image goes with the k-th RGB frame):

    - ``slicing="time"`` (the default) with RGB: frame k's event image holds the events during
      that APS frame (from its timestamp to the next frame's), so both show the same moment,
      as SAFE pairs them;
    - ``slicing="count"`` (with or without ``events_per_window``) and ``slicing="afe"``: the
      event images are cut from the whole stream exactly as without RGB (and, when
      evaluating, as :func:`~evclip.representations.event_images` cuts them), placed by the
      RGB frames' positions. With ``"afe"`` the k-th event image is the AFE leaf that
      :func:`~evclip.representations.afe.pick_leaves` chooses for position k; leaves follow
      the event rate, not the clock, so the pair shares its place in the clip (k of T) but not
      necessarily its time;
    - ``with_rgb=False``: the T event images are cut from the whole stream with any slicing.
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
        positions = segment_positions(self.num_frames, train=self.train, rng=rng)
        indices = positions_to_indices(positions, len(stream.frames))
        out: dict[str, Any] = {"rgb": stream.frames.images[indices]}
        if self.representation is not None and self.slicing == "time":
            out["events"] = aligned_event_images(
                stream, stream.frames.t, indices, self.representation
            )
        else:
            out.update(self._render(stream, rng, positions=positions))
        return out
