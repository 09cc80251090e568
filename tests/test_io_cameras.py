"""Camera event formats: AEDAT 2.0 / 3.1 / 4.0, Prophesee .dat, EVT 2.0, EVT 3.0.

Fixtures are encoded byte by byte from the format descriptions and read back through
``evclip.io.read_events``; AEDAT 4 and EVT files written by faery are cross-checked against the
``aedat`` / ``evt3`` decoders, faery's own decoder and tonic.
"""

from __future__ import annotations

import importlib
import struct
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from evclip.io import (
    EVENT_DTYPE,
    EventFormatError,
    EventStream,
    aedat2,
    aedat4,
    iter_events,
    prophesee,
    read_events,
)

RNG_SEED = 1234


def _events(n: int, width: int, height: int, seed: int = RNG_SEED, t0: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    events = np.zeros(n, dtype=EVENT_DTYPE)
    events["x"] = rng.integers(0, width, n)
    events["y"] = rng.integers(0, height, n)
    events["t"] = t0 + np.sort(rng.integers(0, 50_000, n))
    events["p"] = rng.integers(0, 2, n)
    return events


# ---------------------------------------------------------------- AEDAT 2.0 encoders
DAVIS_HEADER = (
    b"#!AER-DAT2.0\r\n"
    b"# This is a raw AE data file - do not edit\r\n"
    b"# Creation time: System.currentTimeMillis() 1695355587880\r\n"
    b"# AEChip: eu.seebetter.ini.chips.davis.Davis346red\r\n"
)
DVS128_HEADER = b"#!AER-DAT2.0\r\n# AEChip: ch.unizh.ini.jaer.chip.retina.DVS128\r\n"


def _davis_addresses(events: np.ndarray, width: int = 346, height: int = 260) -> np.ndarray:
    raw_x = width - 1 - events["x"].astype(np.uint32)
    raw_y = height - 1 - events["y"].astype(np.uint32)
    return (raw_y << 22) | (raw_x << 12) | (events["p"].astype(np.uint32) << 11)


def _dvs128_addresses(events: np.ndarray) -> np.ndarray:
    raw_x = 127 - events["x"].astype(np.uint32)
    raw_y = 127 - events["y"].astype(np.uint32)
    return (raw_y << 8) | (raw_x << 1) | (1 - events["p"].astype(np.uint32))


def _aedat2_bytes(header: bytes, addresses: np.ndarray, t: np.ndarray) -> bytes:
    records = np.zeros(len(addresses), dtype=[("a", ">u4"), ("t", ">u4")])
    records["a"] = addresses
    records["t"] = t
    return header + records.tobytes()


def _davis_file(events: np.ndarray) -> bytes:
    """DVS words interleaved with APS (bit 31), IMU and external-input (bit 10) words."""
    addresses = _davis_addresses(events)
    noise = np.array([0x80000000 | (5 << 12), 0x80000C00, (3 << 22) | (7 << 12) | 0x400], ">u4")
    all_a = np.concatenate([noise, addresses, noise])
    all_t = np.concatenate([np.zeros(3, np.int64), events["t"], np.full(3, events["t"][-1])])
    return _aedat2_bytes(DAVIS_HEADER, all_a, all_t)


def _dvs128_file(events: np.ndarray) -> bytes:
    special = np.array([0x8000 | 3], dtype=np.uint32)  # bit 15: sync event, skipped
    addresses = np.concatenate([special, _dvs128_addresses(events)])
    t = np.concatenate([[0], events["t"]])
    return _aedat2_bytes(DVS128_HEADER, addresses, t)


# ---------------------------------------------------------------- AEDAT 3.1 encoder
AEDAT3_HEADER = b"#!AER-DAT3.1\r\n#Format: RAW\r\n#Source 1: DVS128\r\n#!END-HEADER\r\n"


def _packet(kind: int, size: int, overflow: int, capacity: int, number: int, body: bytes) -> bytes:
    head = struct.pack("<hhiiiiii", kind, 1, size, 4, overflow, capacity, number, number)
    return head + body


def _polarity_body(events: np.ndarray, valid: np.ndarray, capacity: int) -> bytes:
    data = (
        (events["x"].astype(np.uint32) << 17)
        | (events["y"].astype(np.uint32) << 2)
        | (events["p"].astype(np.uint32) << 1)
        | valid.astype(np.uint32)
    )
    records = np.zeros(capacity, dtype=[("d", "<u4"), ("t", "<i4")])
    records["d"][: len(events)] = data
    records["t"][: len(events)] = events["t"] & 0x7FFFFFFF
    records["d"][len(events) :] = 0xFFFFFFFF  # unused capacity, marked valid: must be ignored
    return records.tobytes()


def _aedat3_file(events: np.ndarray) -> tuple[bytes, np.ndarray]:
    """Two polarity packets (one with invalid events and spare capacity, one with an overflow)
    among frame-type packets; returns the bytes and the events a reader must return."""
    valid = np.ones(len(events), dtype=bool)
    valid[::5] = False
    half = len(events) // 2
    first, second = events[:half], events[half:].copy()
    second["t"] = second["t"] + (1 << 31)  # carried by the overflow counter
    frame = _packet(2, 12, 0, 3, 3, bytes(range(36)))
    body1 = _polarity_body(first, valid[:half], half + 4)
    body2 = _polarity_body(second, valid[half:], len(second))
    data = (
        AEDAT3_HEADER
        + frame
        + _packet(1, 8, 0, half + 4, half, body1)
        + frame
        + _packet(1, 8, 1, len(second), len(second), body2)
        + _packet(3, 60, 0, 0, 0, b"")
    )
    expected = np.concatenate([first, second])[valid]
    return data, expected


# ---------------------------------------------------------------- Prophesee encoders
def _dat_file(events: np.ndarray, width: int = 100, height: int = 80) -> bytes:
    header = f"% Date 2024-01-01\n% Version 2\n% Width {width}\n% Height {height}\n".encode()
    records = np.zeros(len(events), dtype=[("t", "<u4"), ("d", "<u4")])
    records["t"] = events["t"]
    records["d"] = (
        events["x"].astype(np.uint32)
        | (events["y"].astype(np.uint32) << 14)
        | (events["p"].astype(np.uint32) << 28)
    )
    return header + bytes([12, 8]) + records.tobytes()


def _evt2_file(events: np.ndarray) -> bytes:
    header = b"% evt 2.0\n% format EVT2;height=80;width=100\n% end\n"
    words = [0x00000000 | (3 << 11) | 4]  # a CD event before any TIME_HIGH: dropped
    time_high = -1
    for x, y, t, p in events.tolist():
        if t >> 6 != time_high:
            time_high = t >> 6
            words.append((0x8 << 28) | time_high)
            words.append((0xA << 28) | 5)  # external trigger: skipped
        words.append((p << 28) | ((t & 0x3F) << 22) | (x << 11) | y)
    words.append(0xE << 28)
    return header + np.asarray(words, dtype="<u4").tobytes()


def _evt3_file(events: np.ndarray) -> bytes:
    """Hand-encoded EVT 3.0: single events by ADDR_X, runs of 20 neighbours by VECT_12 + VECT_8."""
    header = b"% evt 3.0\n% format EVT3;height=480;width=640\n% geometry 640x480\n% end\n"
    words: list[int] = []
    time_high = -1
    for x, y, t, p in events.tolist():
        if t >> 12 != time_high:
            time_high = t >> 12
            words.append((0x8 << 12) | time_high)
        words.append((0x6 << 12) | (t & 0xFFF))
        words.append((0x0 << 12) | y)
        if x % 3 == 0 and x + 20 < 640:
            words.append((0x3 << 12) | (p << 11) | x)  # VECT_BASE_X
            words.append((0x4 << 12) | 0b100000000101)  # VECT_12: x, x+2, x+11
            words.append((0x5 << 12) | 0b10000001)  # VECT_8: x+12, x+19
        else:
            words.append((0x2 << 12) | (p << 11) | x)  # ADDR_X
    return header + np.asarray(words, dtype="<u2").tobytes()


def _evt3_expected(events: np.ndarray) -> np.ndarray:
    rows = []
    for x, y, t, p in events.tolist():
        if x % 3 == 0 and x + 20 < 640:
            rows += [(x + k, y, t, p) for k in (0, 2, 11, 12, 19)]
        else:
            rows.append((x, y, t, p))
    return np.array(rows, dtype=EVENT_DTYPE)


def _write(folder: Path, name: str, data: bytes) -> Path:
    path = folder / name
    path.write_bytes(data)
    return path


def _assert_same(got: np.ndarray, expected: np.ndarray) -> None:
    assert got.dtype == EVENT_DTYPE
    assert len(got) == len(expected)
    for name in ("x", "y", "t", "p"):
        np.testing.assert_array_equal(got[name], expected[name], err_msg=name)


# ---------------------------------------------------------------- byte-level fixtures
def test_aedat2_davis_fixture(tmp_path):
    events = _events(300, 346, 260)
    stream = read_events(_write(tmp_path, "davis.aedat", _davis_file(events)))
    assert stream.sensor_size == (346, 260)
    _assert_same(stream.events, events)


def test_aedat2_davis_matches_tonic(tmp_path):
    tonic_io = importlib.import_module("tonic.io")
    events = _events(200, 346, 260)
    path = _write(
        tmp_path, "davis.aedat", _aedat2_bytes(DAVIS_HEADER, _davis_addresses(events), events["t"])
    )
    _, _, theirs = tonic_io.read_davis_346(str(path))
    ours = read_events(path).events
    for name in ("x", "y", "t", "p"):
        np.testing.assert_array_equal(ours[name], theirs[name].astype(np.int64), err_msg=name)


def test_aedat2_dvs128_fixture_and_raw_coordinates(tmp_path):
    events = _events(300, 128, 128)
    path = _write(tmp_path, "dvs.aedat", _dvs128_file(events))
    stream = read_events(path)
    assert stream.sensor_size == (128, 128)
    _assert_same(stream.events, events)
    raw = aedat2.read(path, raw_coordinates=True).events
    np.testing.assert_array_equal(raw["x"], 127 - events["x"])
    np.testing.assert_array_equal(raw["y"], 127 - events["y"])


def test_aedat2_layout_from_data_and_override(tmp_path):
    events = _events(100, 128, 128)
    bare = b"#!AER-DAT2.0\r\n"
    path = _write(tmp_path, "dvs.aedat", bare + _dvs128_file(events)[len(DVS128_HEADER) :])
    _assert_same(read_events(path).events, events)  # 16-bit addresses: DVS128 layout
    davis = _events(100, 346, 260)
    path = _write(tmp_path, "davis.aedat", _aedat2_bytes(bare, _davis_addresses(davis), davis["t"]))
    stream = aedat2.read(path)  # unknown chip: raw addresses, inferred size
    np.testing.assert_array_equal(stream.events["x"], 345 - davis["x"])
    assert stream.sensor_size == (
        int(stream.events["x"].max()) + 1,
        int(stream.events["y"].max()) + 1,
    )
    with pytest.raises(EventFormatError, match="DVS128"):
        aedat2.read(path, camera="dvs128")
    with pytest.raises(ValueError, match="camera"):
        aedat2.read(path, camera="atis")


def test_aedat2_header_only_and_truncated(tmp_path):
    path = _write(tmp_path, "empty.aedat", DAVIS_HEADER)
    stream = read_events(path)
    assert len(stream) == 0 and stream.sensor_size == (346, 260)
    events = _events(10, 346, 260)
    data = _aedat2_bytes(DAVIS_HEADER, _davis_addresses(events), events["t"])
    path = _write(tmp_path, "cut.aedat", data[:-3])
    with pytest.raises(EventFormatError) as info:
        read_events(path)
    assert info.value.offset == len(DAVIS_HEADER) + 9 * 8
    assert "cut.aedat" in str(info.value)


def test_aedat2_timestamp_wrap(tmp_path):
    events = _events(6, 346, 260)
    raw_t = np.array([2**32 - 30, 2**32 - 20, 2**32 - 1, 5, 10, 40], dtype=np.int64)
    data = _aedat2_bytes(DAVIS_HEADER, _davis_addresses(events), raw_t)
    stream = read_events(_write(tmp_path, "wrap.aedat", data))
    np.testing.assert_array_equal(stream.events["t"], np.where(raw_t < 100, raw_t + 2**32, raw_t))
    chunks = list(iter_events(tmp_path / "wrap.aedat", chunk_size=2))
    np.testing.assert_array_equal(np.concatenate([c.events for c in chunks]), stream.events)


def test_aedat2_address_outside_chip(tmp_path):
    address = np.array([(300 << 22) | (5 << 12)], dtype=np.uint32)  # y=300 > 259
    path = _write(tmp_path, "bad.aedat", _aedat2_bytes(DAVIS_HEADER, address, np.array([1])))
    with pytest.raises(EventFormatError, match="outside") as info:
        read_events(path)
    assert info.value.offset == len(DAVIS_HEADER)


def test_aedat3_fixture(tmp_path):
    events = _events(400, 128, 128)
    data, expected = _aedat3_file(events)
    stream = read_events(_write(tmp_path, "gesture.aedat", data))
    assert stream.sensor_size == (128, 128)
    _assert_same(stream.events, expected)


def test_aedat3_size_from_header_and_inferred(tmp_path):
    events = _events(50, 300, 200)
    body = _packet(1, 8, 0, 50, 50, _polarity_body(events, np.ones(50, bool), 50))
    header = b'#!AER-DAT3.1\r\n#<attr key="dvsSizeX" type="short">346</attr>\r\n'
    header += b'#<attr key="dvsSizeY" type="short">260</attr>\r\n#!END-HEADER\r\n'
    assert read_events(_write(tmp_path, "a.aedat", header + body)).sensor_size == (346, 260)
    bare = b"#!AER-DAT3.1\r\n#!END-HEADER\r\n"
    stream = read_events(_write(tmp_path, "b.aedat", bare + body))
    assert stream.sensor_size == (int(events["x"].max()) + 1, int(events["y"].max()) + 1)


def test_aedat3_matches_tonic(tmp_path):
    tonic_io = importlib.import_module("tonic.io")
    events = _events(120, 128, 128)
    body = _polarity_body(events, np.ones(120, bool), 120)
    path = _write(tmp_path, "g.aedat", AEDAT3_HEADER + _packet(1, 8, 0, 120, 120, body))
    # tonic's read_dvs_ibm unpacks its header reader's three values into two, so use its
    # packet walker and apply the DVS Gesture bit layout read_dvs_ibm uses
    version, start, _ = tonic_io.read_aedat_header_from_file(str(path))
    raw = tonic_io.get_aer_events_from_file(str(path), version, start)
    ours = read_events(path).events
    np.testing.assert_array_equal(ours["x"], (raw["address"] >> 17) & 0x1FFF)
    np.testing.assert_array_equal(ours["y"], (raw["address"] >> 2) & 0x1FFF)
    np.testing.assert_array_equal(ours["p"], (raw["address"] >> 1) & 1)
    np.testing.assert_array_equal(ours["t"], raw["timeStamp"])


@pytest.mark.parametrize(
    ("field", "value", "match"),
    [
        (2, -8, "event size"),
        (5, 10**9, "past the end"),
        (6, 99, "inconsistent"),
        (0, -3, "compressed"),
    ],
)
def test_aedat3_corrupt_packet_header(tmp_path, field, value, match):
    events = _events(20, 128, 128)
    data, _ = _aedat3_file(events)
    start = len(AEDAT3_HEADER) + 28 + 36  # the first polarity packet
    values = list(struct.unpack("<hhiiiiii", data[start : start + 28]))
    values[field] = value
    data = data[:start] + struct.pack("<hhiiiiii", *values) + data[start + 28 :]
    with pytest.raises(EventFormatError, match=match) as info:
        read_events(_write(tmp_path, "bad.aedat", data))
    assert info.value.offset == start


def test_dat_fixture_and_faery_oracle(tmp_path):
    events = _events(300, 100, 80)
    path = _write(tmp_path, "cd.dat", _dat_file(events))
    stream = read_events(path)
    assert stream.sensor_size == (100, 80)
    _assert_same(stream.events, events)
    faery = importlib.import_module("faery")
    theirs = faery.events_stream_from_file(path).to_array()
    np.testing.assert_array_equal(theirs["t"], events["t"])
    np.testing.assert_array_equal(theirs["x"], events["x"])


def test_dat_bad_polarity_and_event_size(tmp_path):
    events = _events(5, 100, 80)
    data = bytearray(_dat_file(events))
    data[-1] = 0x30  # p = 3 in the last record
    with pytest.raises(EventFormatError, match="polarity"):
        read_events(_write(tmp_path, "p.dat", bytes(data)))
    good = _dat_file(events)
    at = good.index(bytes([12, 8]))
    with pytest.raises(EventFormatError, match="event size") as info:
        read_events(_write(tmp_path, "s.dat", good[: at + 1] + b"\x04" + good[at + 2 :]))
    assert info.value.offset == at + 1


def test_evt2_fixture_and_faery_oracle(tmp_path):
    events = _events(300, 100, 80, t0=10_000)
    path = _write(tmp_path, "e2.raw", _evt2_file(events))
    stream = read_events(path)
    assert stream.sensor_size == (100, 80)
    _assert_same(stream.events, events)
    faery = importlib.import_module("faery")
    # faery keeps the CD word that precedes the first TIME_HIGH (with t=0); we drop it, as
    # Prophesee's decoders wait for a time base
    theirs = faery.events_stream_from_file(path).to_array()
    assert len(theirs) == len(events) + 1 and theirs["t"][0] == 0
    np.testing.assert_array_equal(theirs["t"][1:], events["t"])
    np.testing.assert_array_equal(theirs["y"][1:], events["y"])


def test_evt2_unknown_word_type(tmp_path):
    data = _evt2_file(_events(10, 100, 80))
    at = len(data) - 8
    data = data[:at] + struct.pack("<I", 0x5 << 28) + data[at + 4 :]
    with pytest.raises(EventFormatError, match="0x5") as info:
        read_events(_write(tmp_path, "bad.raw", data))
    assert info.value.offset == at


def test_evt21_is_rejected_not_misread(tmp_path):
    data = _evt2_file(_events(10, 100, 80)).replace(b"% evt 2.0", b"% evt 2.1")
    with pytest.raises(EventFormatError, match="2.1"):
        prophesee.read(_write(tmp_path, "e21.raw", data), kind="evt2")


def test_evt2_time_high_wrap():
    words = np.array([(0x8 << 28) | (2**28 - 1), (1 << 28) | (63 << 22), 0x8 << 28, 1 << 28], "<u4")
    events, _ = prophesee.decode_evt2(words, (-1, 0))
    np.testing.assert_array_equal(events["t"], [(2**28 - 1) * 64 + 63, 2**28 * 64])


def test_evt3_hand_encoded(tmp_path):
    events = _events(200, 600, 480, t0=3_000_000)
    stream = read_events(_write(tmp_path, "e3.raw", _evt3_file(events)))
    assert stream.sensor_size == (640, 480)
    _assert_same(stream.events, _evt3_expected(events))


# ---------------------------------------------------------------- faery-written cross-checks
def _faery_array(events: np.ndarray):
    faery = importlib.import_module("faery")
    out = np.zeros(len(events), dtype=faery.EVENTS_DTYPE)
    for name in ("t", "x", "y"):
        out[name] = events[name]
    out["p"] = events["p"] > 0
    return faery, out


@pytest.mark.parametrize(
    ("name", "version"), [("w.raw", "evt3"), ("w2.raw", "evt2"), ("w.dat", "dat2")]
)
def test_faery_written_prophesee(tmp_path, name, version):
    events = _events(2000, 640, 480, t0=7_000_000)
    faery, array = _faery_array(events)
    path = tmp_path / name
    faery.events_stream_from_array(array, (640, 480)).to_file(path, version=version, zero_t0=False)
    stream = read_events(path)
    assert stream.sensor_size == (640, 480)
    _assert_same(stream.events, events)
    if version == "evt3":
        import evt3

        decoded = evt3.decode_file(str(path))
        np.testing.assert_array_equal(stream.events["t"], decoded.timestamp.astype(np.int64))
        np.testing.assert_array_equal(stream.events["x"], decoded.x)


def test_faery_written_aedat4(tmp_path):
    events = _events(3000, 320, 240, t0=1_600_000_000_000_000)
    faery, array = _faery_array(events)
    path = tmp_path / "w.aedat4"
    faery.events_stream_from_array(array, (320, 240)).to_file(path)
    stream = read_events(path)
    assert stream.sensor_size == (320, 240) and len(stream.frames) == 0
    _assert_same(stream.events, events)
    import aedat

    theirs = np.concatenate([p["events"] for p in aedat.Decoder(str(path)) if "events" in p])
    np.testing.assert_array_equal(stream.events["t"], theirs["t"].astype(np.int64))
    tonic_io = importlib.import_module("tonic.io")
    np.testing.assert_array_equal(stream.events["x"], tonic_io.read_aedat4(str(path))["x"])


def test_aedat4_decoder_errors_are_wrapped(tmp_path):
    faery, array = _faery_array(_events(100, 320, 240))
    path = tmp_path / "w.aedat4"
    faery.events_stream_from_array(array, (320, 240)).to_file(path)
    cut = _write(tmp_path, "cut.aedat4", path.read_bytes()[:40])
    with pytest.raises(EventFormatError, match="cut.aedat4"):
        read_events(cut)


def test_aedat4_frame_conversion():
    grey = np.arange(12, dtype=np.uint8).reshape(3, 4)
    frame = {"t": 50, "exposure_begin_t": 10, "exposure_end_t": 30, "format": "L", "pixels": grey}
    t, image = aedat4.frame_to_rgb(frame, None)
    assert t == 20 and image.shape == (3, 4, 3) and image.dtype == np.uint8
    np.testing.assert_array_equal(image[..., 2], grey)
    wide = (grey.astype(np.uint16) << 8) | 0xFF
    frame = {"t": 50, "format": "I;16", "pixels": wide, "offset_x": 2, "offset_y": 1}
    t, image = aedat4.frame_to_rgb(frame, (8, 5))
    assert t == 50 and image.shape == (5, 8, 3)
    np.testing.assert_array_equal(image[1:4, 2:6, 0], grey)
    assert image[0].sum() == 0 and image[:, :2].sum() == 0
    rgba = np.random.default_rng(0).integers(0, 255, (3, 4, 4), dtype=np.uint8)
    _, image = aedat4.frame_to_rgb({"t": 0, "format": "RGBA", "pixels": rgba}, None)
    np.testing.assert_array_equal(image, rgba[..., :3])
    assert frame["pixels"] is wide  # input untouched


# ---------------------------------------------------------------- real recordings
def test_realdata_aedat4(realdata_dir):
    stream = read_events(realdata_dir / "sample.aedat4")
    events = stream.events
    assert len(events) == 111954 and stream.sensor_size == (320, 240)
    assert int(events["x"].max()) == 319 and int(events["y"].max()) == 239
    assert int(events["t"][0]) == 1605537493718345 and int(events["t"][-1]) == 1605537494308262
    assert int(events["p"].sum()) == 55023


def test_realdata_ncars_dat(realdata_dir):
    stream = read_events(realdata_dir / "sample_ncars.dat")
    events = stream.events
    assert len(events) == 2009
    assert int(events["x"].max()) == 77 and int(events["y"].max()) == 41
    assert int(events["t"][0]) == 0 and int(events["t"][-1]) == 99952
    assert int(events["p"].sum()) == 1350


def test_realdata_aedat2_header_only(realdata_dir):
    stream = read_events(realdata_dir / "sample_aedat_header.aedat")
    assert len(stream) == 0 and stream.sensor_size == (346, 260)


# ---------------------------------------------------------------- chunked reading
def _fixtures(folder: Path) -> dict[str, Path]:
    paths = {
        "aedat2_davis": _write(folder, "davis.aedat", _davis_file(_events(300, 346, 260))),
        "aedat2_dvs128": _write(folder, "dvs.aedat", _dvs128_file(_events(300, 128, 128))),
        "aedat3": _write(folder, "g.aedat", _aedat3_file(_events(300, 128, 128))[0]),
        "dat": _write(folder, "cd.dat", _dat_file(_events(300, 100, 80))),
        "evt2": _write(folder, "e2.raw", _evt2_file(_events(300, 100, 80))),
        "evt3": _write(folder, "e3.raw", _evt3_file(_events(300, 600, 480))),
    }
    faery, array = _faery_array(_events(500, 320, 240))
    faery.events_stream_from_array(array, (320, 240)).to_file(folder / "w.aedat4")
    paths["aedat4"] = folder / "w.aedat4"
    return paths


@pytest.mark.parametrize(
    "name", ["aedat2_davis", "aedat2_dvs128", "aedat3", "dat", "evt2", "evt3", "aedat4"]
)
def test_iter_events_concatenates_to_read(tmp_path, name):
    path = _fixtures(tmp_path)[name]
    whole = read_events(path)
    chunks = list(iter_events(path, chunk_size=37))
    assert len(chunks) > 3
    assert all(len(c) <= 37 and c.sensor_size == whole.sensor_size for c in chunks)
    np.testing.assert_array_equal(np.concatenate([c.events for c in chunks]), whole.events)


def test_iter_events_inferred_size_is_the_same_for_every_chunk(tmp_path):
    data = _dat_file(_events(200, 100, 80)).replace(b"% Width 100\n% Height 80\n", b"")
    path = _write(tmp_path, "n.dat", data)
    whole = read_events(path)
    assert {c.sensor_size for c in iter_events(path, chunk_size=16)} == {whole.sensor_size}


# ---------------------------------------------------------------- corruption properties
@pytest.fixture(scope="module")
def corruption_fixtures(tmp_path_factory):
    folder = tmp_path_factory.mktemp("corrupt")
    paths = _fixtures(folder)
    small = {name: path.read_bytes() for name, path in paths.items()}
    return folder, small


def _read_chunked(path: Path) -> EventStream:
    chunks = list(iter_events(path, chunk_size=64))
    assert {c.sensor_size for c in chunks} == {chunks[0].sensor_size}
    return EventStream(np.concatenate([c.events for c in chunks]), chunks[0].sensor_size)


def _read_or_reject(path: Path) -> None:
    """Whole and chunked reads each raise EventFormatError or return valid events."""
    for read in (read_events, _read_chunked):
        try:
            stream = read(path)
        except EventFormatError:
            continue
        events = stream.events
        assert events.dtype == EVENT_DTYPE
        assert np.all(np.diff(events["t"]) >= 0)
        width, height = stream.sensor_size
        assert np.all(events["x"] < width) and np.all(events["y"] < height)


@pytest.mark.parametrize(
    "name", ["aedat2_davis", "aedat2_dvs128", "aedat3", "dat", "evt2", "evt3", "aedat4"]
)
@settings(
    max_examples=50,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(position=st.floats(0, 1, exclude_max=True), bit=st.integers(-1, 7))
def test_truncation_or_bit_flip_never_crashes(corruption_fixtures, name, position, bit):
    """bit == -1 truncates at position; otherwise flips that bit of the byte at position."""
    folder, fixtures = corruption_fixtures
    data = bytearray(fixtures[name])
    at = int(position * len(data))
    if bit < 0:
        data = data[:at]
    else:
        data[at] ^= 1 << bit
    suffix = {"aedat4": ".aedat4", "dat": ".dat", "evt2": ".raw", "evt3": ".raw"}.get(
        name, ".aedat"
    )
    path = folder / f"mutated_{name}{suffix}"
    path.write_bytes(bytes(data))
    _read_or_reject(path)


# ---------------------------------------------------------------- header-only files
def _header_only(folder: Path, name: str) -> Path:
    if name == "aedat4":
        faery, array = _faery_array(_events(0, 320, 240))
        faery.events_stream_from_array(array, (320, 240)).to_file(folder / "h.aedat4")
        return folder / "h.aedat4"
    data = {
        "aedat3": (AEDAT3_HEADER, "h.aedat"),
        "dat": (_dat_file(_events(0, 100, 80)), "h.dat"),  # header, type and size bytes
        "evt2": (b"% evt 2.0\n% format EVT2;height=80;width=100\n% end\n", "h.raw"),
        "evt3": (b"% evt 3.0\n% format EVT3;height=480;width=640\n% end\n", "h.raw"),
    }[name]
    return _write(folder, data[1], data[0])


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


# ---------------------------------------------------------------- bounded memory
N_BIG = 300_000


def _big_fixture(name: str, folder: Path) -> Path:
    """A file of N_BIG events: numpy-encoded AEDAT 2 / .dat, faery-written EVT and AEDAT 4."""
    events = _events(N_BIG, 320, 240)
    events["t"] = np.arange(N_BIG) * 3  # strictly increasing: one EVT 3.0 event per address
    if name == "aedat2":
        davis = _events(N_BIG, 346, 260)
        return _write(
            folder, "big.aedat", _aedat2_bytes(DAVIS_HEADER, _davis_addresses(davis), davis["t"])
        )
    if name == "dat":
        return _write(folder, "big.dat", _dat_file(events, 320, 240))
    faery, array = _faery_array(events)
    path = folder / {"evt2": "big2.raw", "evt3": "big3.raw", "aedat4": "big.aedat4"}[name]
    version = {"evt2": "evt2", "evt3": "evt3"}.get(name)
    stream = faery.events_stream_from_array(array, (320, 240))
    stream.to_file(path, **({"version": version} if version else {}))
    return path


@pytest.mark.parametrize("name", ["aedat2", "dat", "evt2", "evt3", "aedat4"])
def test_iter_events_memory_is_bounded(tmp_path, name):
    """A chunked read never holds the file's events: peak memory is far below their size."""
    path = _big_fixture(name, tmp_path)
    tracemalloc.start()
    try:
        total = sum(len(chunk) for chunk in iter_events(path, chunk_size=4096))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert total == N_BIG
    assert peak < N_BIG * EVENT_DTYPE.itemsize / 4, f"peak {peak} bytes"


# ---------------------------------------------------------------- declared sensor size
@pytest.mark.parametrize("name", ["dat", "evt2", "aedat3"])
def test_event_outside_declared_sensor_is_rejected(tmp_path, name):
    events = _events(20, 100, 80)
    events["x"][7] = 120  # header declares 100x80 (aedat3: DVS128, 128x128)
    if name == "aedat3":
        events["x"][7] = 130
        body = _polarity_body(events, np.ones(20, bool), 20)
        data, file = AEDAT3_HEADER + _packet(1, 8, 0, 20, 20, body), "o.aedat"
    else:
        data, file = (
            (_dat_file(events), "o.dat") if name == "dat" else (_evt2_file(events), "o.raw")
        )
    path = _write(tmp_path, file, data)
    with pytest.raises(EventFormatError, match="event 7 has x=1[23]0 outside") as info:
        read_events(path)
    assert str(path) in str(info.value)
    with pytest.raises(EventFormatError, match="outside"):
        list(iter_events(path, chunk_size=5))
