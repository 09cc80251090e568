"""Sensor sizes no sensor has are refused wherever they come from, before a frame is allocated."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
from io_camera_fixtures import (
    AEDAT3_HEADER,
    aedat3_file,
    camera_events,
    dat_file,
    faery_array,
    write_file,
)
from io_fixtures import random_events, write_dsec

from evclip.io import (
    MAX_SENSOR_PIXELS,
    MAX_SENSOR_SIDE,
    EventFormatError,
    EventStream,
    check_sensor_size,
    iter_events,
    read_events,
)
from evclip.io.aedat4 import _size as aedat4_stream_size


@pytest.mark.parametrize("size", [(34, 34), (346, 260), (1280, 720), (1280, 960), (7680, 4320)])
def test_real_sensor_sizes_pass(size):
    assert check_sensor_size(np.array(size, dtype=np.int64)) == size
    assert EventStream(random_events(3), size).sensor_size == size


@pytest.mark.parametrize(
    "size",
    [(100_000, 80), (80, MAX_SENSOR_SIDE + 1), (10**6, 10**6), (2_000_000_000, 1), (8192, 8192)],
)
def test_implausible_sizes_are_refused(size):
    assert size[0] * size[1] > MAX_SENSOR_PIXELS or max(size) > MAX_SENSOR_SIDE
    with pytest.raises(EventFormatError, match=rf"f\.npz: implausible .*{size[0]}x{size[1]}"):
        check_sensor_size(size, path="f.npz")
    with pytest.raises(EventFormatError, match="implausible"):
        EventStream(random_events(3), size)


@pytest.mark.parametrize("size", [(0, 5), (-3, 5), (34.5, 34), (True, 3), ("64", 48), (1, 2, 3)])
def test_malformed_sizes_are_refused(size):
    with pytest.raises(EventFormatError, match="sensor size"):
        check_sensor_size(size)


def test_setting_an_implausible_size_on_a_stream_is_refused():
    stream = EventStream(random_events(3), (64, 48), path="rec.h5")
    stream.sensor_size = (128.0, 96.0)
    assert stream.sensor_size == (128, 96) and isinstance(stream.sensor_size[0], int)
    with pytest.raises(EventFormatError, match=r"rec\.h5: implausible sensor size 100000x96"):
        stream.sensor_size = (100_000, 96)


def test_dat_header_width_is_checked(tmp_path):
    path = write_file(tmp_path, "wide.dat", dat_file(camera_events(20, 100, 80), width=100_000))
    for read in (read_events, lambda p: list(iter_events(p))):
        with pytest.raises(EventFormatError, match=r"wide\.dat: implausible .*100000x80"):
            read(path)


def test_aedat3_header_size_is_checked(tmp_path):
    data, _ = aedat3_file(camera_events(40, 128, 128))
    header = AEDAT3_HEADER.replace(b"#!END", b"#sizeX 2000000000\r\n#sizeY 128\r\n#!END")
    path = write_file(tmp_path, "huge.aedat", header + data[len(AEDAT3_HEADER) :])
    for read in (read_events, lambda p: list(iter_events(p))):
        with pytest.raises(EventFormatError, match=r"huge\.aedat: implausible .*2000000000x128"):
            read(path)


def test_npz_stored_size_is_checked(tmp_path):
    events = random_events(30)
    path = tmp_path / "big.npz"
    np.savez(path, **{k: events[k] for k in "xytp"}, sensor_size=np.array([10**6, 10**6]))
    for read in (read_events, lambda p: list(iter_events(p, chunk_size=7))):
        with pytest.raises(EventFormatError, match=r"big\.npz: implausible .*1000000x1000000"):
            read(path)


def test_h5_declared_size_is_checked(tmp_path):
    path = write_dsec(tmp_path / "big.h5", random_events(30), sensor_size=[10**6, 10**6])
    for read in (read_events, lambda p: list(iter_events(p, chunk_size=7))):
        with pytest.raises(EventFormatError, match=r"big\.h5: implausible .*1000000x1000000"):
            read(path)
    with h5py.File(path, "a") as f:
        del f.attrs["sensor_size"]
        f.attrs["width"], f.attrs["height"] = 640, 100_000
    with pytest.raises(EventFormatError, match="640x100000"):
        read_events(path)


def test_aedat4_declared_size_is_checked(tmp_path):
    faery, array = faery_array(camera_events(50, 320, 240))
    faery.events_stream_from_array(array, (9000, 240)).to_file(tmp_path / "wide.aedat4")
    for read in (read_events, lambda p: list(iter_events(p))):
        with pytest.raises(EventFormatError, match=r"wide\.aedat4: implausible .*9000x240"):
            read(tmp_path / "wide.aedat4")


def test_aedat4_frame_canvas_size_is_checked():
    assert aedat4_stream_size({"type": "frame", "width": 346, "height": 260}) == (346, 260)
    with pytest.raises(EventFormatError, match=r"r\.aedat4: implausible .*frame.*70000x260"):
        aedat4_stream_size({"type": "frame", "width": 70_000, "height": 260}, "r.aedat4")


def test_inferred_size_from_a_stray_coordinate_is_checked(tmp_path):
    events = random_events(30)
    events["x"][-1] = 60_000
    path = tmp_path / "stray.npz"
    np.savez(path, **{k: events[k] for k in "xytp"})
    with pytest.raises(EventFormatError, match=r"stray\.npz: implausible sensor size 60001x"):
        read_events(path)


def test_sensor_size_argument_is_checked_before_reading(tmp_path):
    path = tmp_path / "truncated.bin"
    path.write_bytes(b"\x01\x02\x03")  # would fail as a truncated record if it were read
    for read in (read_events, lambda p, **kw: list(iter_events(p, **kw))):
        with pytest.raises(EventFormatError, match=r"sensor_size argument 100000x34"):
            read(path, sensor_size=(100_000, 34))
