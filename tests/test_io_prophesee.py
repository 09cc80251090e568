"""Prophesee .dat, EVT 2.0 and EVT 3.0 files: hand-encoded, faery-written and real recordings."""

from __future__ import annotations

import importlib
import struct

import numpy as np
import pytest
from io_camera_fixtures import (
    assert_same_events,
    camera_events,
    dat_file,
    evt2_file,
    evt3_expected,
    evt3_file,
    faery_array,
    write_file,
)

from evclip.io import EventFormatError, prophesee, read_events


def test_dat_fixture_and_faery_oracle(tmp_path):
    events = camera_events(300, 100, 80)
    path = write_file(tmp_path, "cd.dat", dat_file(events))
    stream = read_events(path)
    assert stream.sensor_size == (100, 80)
    assert_same_events(stream.events, events)
    faery = importlib.import_module("faery")
    theirs = faery.events_stream_from_file(path).to_array()
    np.testing.assert_array_equal(theirs["t"], events["t"])
    np.testing.assert_array_equal(theirs["x"], events["x"])


def test_dat_bad_polarity_and_event_size(tmp_path):
    events = camera_events(5, 100, 80)
    data = bytearray(dat_file(events))
    data[-1] = 0x30  # p = 3 in the last record
    with pytest.raises(EventFormatError, match="polarity"):
        read_events(write_file(tmp_path, "p.dat", bytes(data)))
    good = dat_file(events)
    at = good.index(bytes([12, 8]))
    with pytest.raises(EventFormatError, match="event size") as info:
        read_events(write_file(tmp_path, "s.dat", good[: at + 1] + b"\x04" + good[at + 2 :]))
    assert info.value.offset == at + 1


def test_evt2_fixture_and_faery_oracle(tmp_path):
    events = camera_events(300, 100, 80, t0=10_000)
    path = write_file(tmp_path, "e2.raw", evt2_file(events))
    stream = read_events(path)
    assert stream.sensor_size == (100, 80)
    assert_same_events(stream.events, events)
    faery = importlib.import_module("faery")
    # faery keeps the CD word that precedes the first TIME_HIGH (with t=0); we drop it, as
    # Prophesee's decoders wait for a time base
    theirs = faery.events_stream_from_file(path).to_array()
    assert len(theirs) == len(events) + 1 and theirs["t"][0] == 0
    np.testing.assert_array_equal(theirs["t"][1:], events["t"])
    np.testing.assert_array_equal(theirs["y"][1:], events["y"])


def test_evt2_unknown_word_type(tmp_path):
    data = evt2_file(camera_events(10, 100, 80))
    at = len(data) - 8
    data = data[:at] + struct.pack("<I", 0x5 << 28) + data[at + 4 :]
    with pytest.raises(EventFormatError, match="0x5") as info:
        read_events(write_file(tmp_path, "bad.raw", data))
    assert info.value.offset == at


def test_evt21_is_rejected_not_misread(tmp_path):
    data = evt2_file(camera_events(10, 100, 80)).replace(b"% evt 2.0", b"% evt 2.1")
    with pytest.raises(EventFormatError, match="2.1"):
        prophesee.read(write_file(tmp_path, "e21.raw", data), kind="evt2")


def test_evt2_time_high_wrap():
    words = np.array([(0x8 << 28) | (2**28 - 1), (1 << 28) | (63 << 22), 0x8 << 28, 1 << 28], "<u4")
    events, _ = prophesee.decode_evt2(words, (-1, 0))
    np.testing.assert_array_equal(events["t"], [(2**28 - 1) * 64 + 63, 2**28 * 64])


def test_evt3_hand_encoded(tmp_path):
    events = camera_events(200, 600, 480, t0=3_000_000)
    stream = read_events(write_file(tmp_path, "e3.raw", evt3_file(events)))
    assert stream.sensor_size == (640, 480)
    assert_same_events(stream.events, evt3_expected(events))


# ---------------------------------------------------------------- faery-written cross-checks
@pytest.mark.parametrize(
    ("name", "version"), [("w.raw", "evt3"), ("w2.raw", "evt2"), ("w.dat", "dat2")]
)
def test_faery_written_prophesee(tmp_path, name, version):
    events = camera_events(2000, 640, 480, t0=7_000_000)
    faery, array = faery_array(events)
    path = tmp_path / name
    faery.events_stream_from_array(array, (640, 480)).to_file(path, version=version, zero_t0=False)
    stream = read_events(path)
    assert stream.sensor_size == (640, 480)
    assert_same_events(stream.events, events)
    if version == "evt3":
        import evt3

        decoded = evt3.decode_file(str(path))
        np.testing.assert_array_equal(stream.events["t"], decoded.timestamp.astype(np.int64))
        np.testing.assert_array_equal(stream.events["x"], decoded.x)


# ---------------------------------------------------------------- real recordings
def test_realdata_ncars_dat(realdata_dir):
    stream = read_events(realdata_dir / "sample_ncars.dat")
    events = stream.events
    assert len(events) == 2009
    assert int(events["x"].max()) == 77 and int(events["y"].max()) == 41
    assert int(events["t"][0]) == 0 and int(events["t"][-1]) == 99952
    assert int(events["p"].sum()) == 1350
