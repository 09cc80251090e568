"""Behaviour every camera format shares: chunked reads, header-only files, declared sizes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from io_camera_fixtures import (
    AEDAT3_HEADER,
    CAMERA_FORMATS,
    aedat3_packet,
    camera_events,
    camera_fixtures,
    dat_file,
    evt2_file,
    faery_array,
    polarity_body,
    write_file,
)

from evclip.io import EventFormatError, iter_events, read_events


# ---------------------------------------------------------------- chunked reading
@pytest.mark.parametrize("name", CAMERA_FORMATS)
def test_iter_events_concatenates_to_read(tmp_path, name):
    path = camera_fixtures(tmp_path)[name]
    whole = read_events(path)
    chunks = list(iter_events(path, chunk_size=37))
    assert len(chunks) > 3
    assert all(len(c) <= 37 and c.sensor_size == whole.sensor_size for c in chunks)
    np.testing.assert_array_equal(np.concatenate([c.events for c in chunks]), whole.events)


def test_iter_events_inferred_size_is_the_same_for_every_chunk(tmp_path):
    data = dat_file(camera_events(200, 100, 80)).replace(b"% Width 100\n% Height 80\n", b"")
    path = write_file(tmp_path, "n.dat", data)
    whole = read_events(path)
    assert {c.sensor_size for c in iter_events(path, chunk_size=16)} == {whole.sensor_size}


# ---------------------------------------------------------------- header-only files
def _header_only(folder: Path, name: str) -> Path:
    if name == "aedat4":
        faery, array = faery_array(camera_events(0, 320, 240))
        faery.events_stream_from_array(array, (320, 240)).to_file(folder / "h.aedat4")
        return folder / "h.aedat4"
    data = {
        "aedat3": (AEDAT3_HEADER, "h.aedat"),
        "dat": (dat_file(camera_events(0, 100, 80)), "h.dat"),  # header, type and size bytes
        "evt2": (b"% evt 2.0\n% format EVT2;height=80;width=100\n% end\n", "h.raw"),
        "evt3": (b"% evt 3.0\n% format EVT3;height=480;width=640\n% end\n", "h.raw"),
    }[name]
    return write_file(folder, data[1], data[0])


@pytest.mark.parametrize(
    ("name", "size"),
    [
        ("aedat3", (128, 128)),
        ("dat", (100, 80)),
        ("evt2", (100, 80)),
        ("evt3", (640, 480)),
        ("aedat4", (320, 240)),
    ],
)
def test_header_only_files_give_zero_events(tmp_path, name, size):
    path = _header_only(tmp_path, name)
    stream = read_events(path)
    assert len(stream) == 0 and stream.sensor_size == size
    chunks = list(iter_events(path, chunk_size=10))
    assert sum(len(c) for c in chunks) == 0 and {c.sensor_size for c in chunks} == {size}


# ---------------------------------------------------------------- declared sensor size
@pytest.mark.parametrize("name", ["dat", "evt2", "aedat3"])
def test_event_outside_declared_sensor_is_rejected(tmp_path, name):
    events = camera_events(20, 100, 80)
    events["x"][7] = 120  # header declares 100x80 (aedat3: DVS128, 128x128)
    if name == "aedat3":
        events["x"][7] = 130
        body = polarity_body(events, np.ones(20, bool), 20)
        data, file = AEDAT3_HEADER + aedat3_packet(1, 8, 0, 20, 20, body), "o.aedat"
    else:
        data, file = (dat_file(events), "o.dat") if name == "dat" else (evt2_file(events), "o.raw")
    path = write_file(tmp_path, file, data)
    with pytest.raises(EventFormatError, match="event 7 has x=1[23]0 outside") as info:
        read_events(path)
    assert str(path) in str(info.value)
    with pytest.raises(EventFormatError, match="outside"):
        list(iter_events(path, chunk_size=5))
