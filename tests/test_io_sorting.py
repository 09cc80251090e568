"""Unsorted files: the advice in the error works for every format; iter_events cannot sort."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from io_camera_fixtures import (
    aedat3_file,
    assert_same_events,
    camera_events,
    dat_file,
    davis_file,
    dvs128_file,
    evt2_file,
    evt3_expected,
    evt3_file,
    write_file,
)
from io_fixtures import write_format_fixture

from evclip.io import EventFormatError, iter_events, read_events, sort_events

SIMPLE = ["bin", "npz", "npy", "h5", "mat"]
CAMERA = ["aedat2_davis", "aedat2_dvs128", "aedat3", "dat", "evt2", "evt3"]


def _unsorted(width: int, height: int) -> np.ndarray:
    events = camera_events(300, width, height)
    events["t"][100:110] = events["t"][100:110][::-1].copy()  # ten events run backwards
    assert (np.diff(events["t"]) < 0).any()
    return events


def _unsorted_file(kind: str, folder: Path) -> tuple[Path, np.ndarray]:
    """An unsorted file of ``kind`` and the events it holds, in file order."""
    if kind in SIMPLE:
        events = _unsorted(34, 34)
        return write_format_fixture(kind, folder, events), events
    if kind == "aedat2_davis":
        events = _unsorted(346, 260)
        return write_file(folder, "d.aedat", davis_file(events)), events
    if kind == "aedat2_dvs128":
        events = _unsorted(128, 128)
        return write_file(folder, "v.aedat", dvs128_file(events)), events
    if kind == "aedat3":
        data, expected = aedat3_file(_unsorted(128, 128))
        return write_file(folder, "g.aedat", data), expected
    if kind == "dat":
        events = _unsorted(100, 80)
        return write_file(folder, "cd.dat", dat_file(events)), events
    if kind == "evt2":
        events = _unsorted(100, 80)
        return write_file(folder, "e2.raw", evt2_file(events)), events
    events = _unsorted(600, 480)
    return write_file(folder, "e3.raw", evt3_file(events)), evt3_expected(events)


@pytest.mark.parametrize("kind", SIMPLE + CAMERA)
def test_the_advice_of_the_unsorted_error_works_for_every_format(tmp_path, kind):
    path, expected = _unsorted_file(kind, tmp_path)
    for read in (read_events, lambda p: list(iter_events(p, chunk_size=16))):
        with pytest.raises(EventFormatError, match="not sorted") as info:
            read(path)
        assert "read_events(path, sort=True)" in str(info.value) and "--sort" in str(info.value)
    stream = read_events(path, sort=True)
    assert (np.diff(stream.events["t"]) >= 0).all()
    assert_same_events(stream.events, sort_events(expected))


def test_iter_events_refuses_sort_at_once_and_names_what_works(tmp_path):
    path, _ = _unsorted_file("npz", tmp_path)
    with pytest.raises(ValueError, match=r"cannot sort.*read_events\(path, sort=True\)"):
        iter_events(path, sort=True)  # raised by the call, before any iteration
    sorted_path = write_format_fixture("npy", tmp_path, camera_events(300, 34, 34))
    assert sum(len(c) for c in iter_events(sorted_path, sort=False, chunk_size=99)) == 300


def test_iter_events_checks_its_arguments_and_the_file_at_once(tmp_path):
    with pytest.raises(ValueError, match="chunk_size"):
        iter_events(tmp_path / "x.npz", chunk_size=0)
    with pytest.raises(EventFormatError, match="no such file"):
        iter_events(tmp_path / "missing.npz")
