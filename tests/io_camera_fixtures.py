"""Byte-level encoders for the camera event formats: AEDAT 2.0 / 3.1, Prophesee .dat, EVT 2.0 / 3.0.

Each encoder follows the format description; ``faery_array`` hands events to faery, which writes
AEDAT 4 and EVT files that the tests cross-check against other decoders.
"""

from __future__ import annotations

import importlib
import struct
from pathlib import Path

import numpy as np

from evclip.io import EVENT_DTYPE

RNG_SEED = 1234


def camera_events(n: int, width: int, height: int, seed: int = RNG_SEED, t0: int = 0) -> np.ndarray:
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


def davis_addresses(events: np.ndarray, width: int = 346, height: int = 260) -> np.ndarray:
    raw_x = width - 1 - events["x"].astype(np.uint32)
    raw_y = height - 1 - events["y"].astype(np.uint32)
    return (raw_y << 22) | (raw_x << 12) | (events["p"].astype(np.uint32) << 11)


def dvs128_addresses(events: np.ndarray) -> np.ndarray:
    raw_x = 127 - events["x"].astype(np.uint32)
    raw_y = 127 - events["y"].astype(np.uint32)
    return (raw_y << 8) | (raw_x << 1) | (1 - events["p"].astype(np.uint32))


def aedat2_bytes(header: bytes, addresses: np.ndarray, t: np.ndarray) -> bytes:
    records = np.zeros(len(addresses), dtype=[("a", ">u4"), ("t", ">u4")])
    records["a"] = addresses
    records["t"] = t
    return header + records.tobytes()


def davis_file(events: np.ndarray) -> bytes:
    """DVS words interleaved with APS (bit 31), IMU and external-input (bit 10) words."""
    addresses = davis_addresses(events)
    noise = np.array([0x80000000 | (5 << 12), 0x80000C00, (3 << 22) | (7 << 12) | 0x400], ">u4")
    all_a = np.concatenate([noise, addresses, noise])
    all_t = np.concatenate([np.zeros(3, np.int64), events["t"], np.full(3, events["t"][-1])])
    return aedat2_bytes(DAVIS_HEADER, all_a, all_t)


def dvs128_file(events: np.ndarray) -> bytes:
    special = np.array([0x8000 | 3], dtype=np.uint32)  # bit 15: sync event, skipped
    addresses = np.concatenate([special, dvs128_addresses(events)])
    t = np.concatenate([[0], events["t"]])
    return aedat2_bytes(DVS128_HEADER, addresses, t)


# ---------------------------------------------------------------- AEDAT 3.1 encoder
AEDAT3_HEADER = b"#!AER-DAT3.1\r\n#Format: RAW\r\n#Source 1: DVS128\r\n#!END-HEADER\r\n"


def aedat3_packet(
    kind: int, size: int, overflow: int, capacity: int, number: int, body: bytes
) -> bytes:
    head = struct.pack("<hhiiiiii", kind, 1, size, 4, overflow, capacity, number, number)
    return head + body


def polarity_body(events: np.ndarray, valid: np.ndarray, capacity: int) -> bytes:
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


def aedat3_file(events: np.ndarray) -> tuple[bytes, np.ndarray]:
    """Two polarity packets (one with invalid events and spare capacity, one with an overflow)
    among frame-type packets; returns the bytes and the events a reader must return."""
    valid = np.ones(len(events), dtype=bool)
    valid[::5] = False
    half = len(events) // 2
    first, second = events[:half], events[half:].copy()
    second["t"] = second["t"] + (1 << 31)  # carried by the overflow counter
    frame = aedat3_packet(2, 12, 0, 3, 3, bytes(range(36)))
    body1 = polarity_body(first, valid[:half], half + 4)
    body2 = polarity_body(second, valid[half:], len(second))
    data = (
        AEDAT3_HEADER
        + frame
        + aedat3_packet(1, 8, 0, half + 4, half, body1)
        + frame
        + aedat3_packet(1, 8, 1, len(second), len(second), body2)
        + aedat3_packet(3, 60, 0, 0, 0, b"")
    )
    expected = np.concatenate([first, second])[valid]
    return data, expected


# ---------------------------------------------------------------- Prophesee encoders
def dat_file(events: np.ndarray, width: int = 100, height: int = 80) -> bytes:
    header = f"% Date 2024-01-01\n% Version 2\n% Width {width}\n% Height {height}\n".encode()
    records = np.zeros(len(events), dtype=[("t", "<u4"), ("d", "<u4")])
    records["t"] = events["t"]
    records["d"] = (
        events["x"].astype(np.uint32)
        | (events["y"].astype(np.uint32) << 14)
        | (events["p"].astype(np.uint32) << 28)
    )
    return header + bytes([12, 8]) + records.tobytes()


def evt2_file(events: np.ndarray) -> bytes:
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


def evt3_file(events: np.ndarray) -> bytes:
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


def evt3_expected(events: np.ndarray) -> np.ndarray:
    rows = []
    for x, y, t, p in events.tolist():
        if x % 3 == 0 and x + 20 < 640:
            rows += [(x + k, y, t, p) for k in (0, 2, 11, 12, 19)]
        else:
            rows.append((x, y, t, p))
    return np.array(rows, dtype=EVENT_DTYPE)


def write_file(folder: Path, name: str, data: bytes) -> Path:
    path = folder / name
    path.write_bytes(data)
    return path


def assert_same_events(got: np.ndarray, expected: np.ndarray) -> None:
    assert got.dtype == EVENT_DTYPE
    assert len(got) == len(expected)
    for name in ("x", "y", "t", "p"):
        np.testing.assert_array_equal(got[name], expected[name], err_msg=name)


def faery_array(events: np.ndarray):
    """The faery module and ``events`` as its events array (bool polarity)."""
    faery = importlib.import_module("faery")
    out = np.zeros(len(events), dtype=faery.EVENTS_DTYPE)
    for name in ("t", "x", "y"):
        out[name] = events[name]
    out["p"] = events["p"] > 0
    return faery, out


def camera_fixtures(folder: Path) -> dict[str, Path]:
    """One small file of every camera format in ``folder``, keyed by its CAMERA_FORMATS name."""
    paths = {
        "aedat2_davis": write_file(folder, "davis.aedat", davis_file(camera_events(300, 346, 260))),
        "aedat2_dvs128": write_file(folder, "dvs.aedat", dvs128_file(camera_events(300, 128, 128))),
        "aedat3": write_file(folder, "g.aedat", aedat3_file(camera_events(300, 128, 128))[0]),
        "dat": write_file(folder, "cd.dat", dat_file(camera_events(300, 100, 80))),
        "evt2": write_file(folder, "e2.raw", evt2_file(camera_events(300, 100, 80))),
        "evt3": write_file(folder, "e3.raw", evt3_file(camera_events(300, 600, 480))),
    }
    faery, array = faery_array(camera_events(500, 320, 240))
    faery.events_stream_from_array(array, (320, 240)).to_file(folder / "w.aedat4")
    paths["aedat4"] = folder / "w.aedat4"
    return paths


#: the formats camera_fixtures writes, in the order the tests list them
CAMERA_FORMATS = ["aedat2_davis", "aedat2_dvs128", "aedat3", "dat", "evt2", "evt3", "aedat4"]
