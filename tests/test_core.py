"""The events type, format detection, the registry and the error type."""

from __future__ import annotations

import numpy as np
import pytest

from evclip.io import (
    EVENT_DTYPE,
    EventFormatError,
    EventStream,
    check_events,
    detect_format,
    infer_sensor_size,
    make_events,
    sort_events,
)
from evclip.registry import Registry


def test_event_dtype_fields_and_size():
    assert EVENT_DTYPE.names == ("x", "y", "t", "p")
    assert [EVENT_DTYPE[n] for n in EVENT_DTYPE.names] == [
        np.dtype("<u2"),
        np.dtype("<u2"),
        np.dtype("<i8"),
        np.dtype("i1"),
    ]
    assert EVENT_DTYPE.itemsize == 13


def test_make_events_maps_polarity_and_checks_ranges():
    ev = make_events([1, 2, 3], [4, 5, 6], [10, 20, 30], [-1, 1, 0])
    assert ev.dtype == EVENT_DTYPE
    assert ev["p"].tolist() == [0, 1, 0]
    assert ev["t"].tolist() == [10, 20, 30]
    with pytest.raises(EventFormatError, match="out of range"):
        make_events([-1], [0], [0], [1], path="f.npz")
    with pytest.raises(EventFormatError, match="differ in length"):
        make_events([1, 2], [0], [0], [1])
    with pytest.raises(EventFormatError, match="non-finite"):
        make_events([0.0], [0.0], [np.nan], [1])


def test_check_events_names_first_problem():
    ev = make_events([0, 1, 2], [0, 1, 2], [5, 3, 9], [1, 1, 0])
    with pytest.raises(EventFormatError, match=r"f\.bin: timestamps are not sorted: event 1"):
        check_events(ev, (10, 10), path="f.bin")
    ok = sort_events(ev)
    check_events(ok, (10, 10))
    with pytest.raises(EventFormatError, match="x=2 outside the sensor size 2x10"):
        check_events(ok, (2, 10))
    with pytest.raises(EventFormatError, match="event 7 has t=3 after t=100"):
        check_events(ok, (10, 10), previous_t=100, first_index=7)


@pytest.mark.parametrize("problem", ["outside", "unsorted", "unsorted_at_boundary"])
def test_iter_events_names_the_event_by_its_place_in_the_file(tmp_path, problem):
    from evclip.io import iter_events

    n = 1000
    x, t = np.arange(n) % 50, np.arange(n) * 10
    bad = {"outside": 250, "unsorted": 250, "unsorted_at_boundary": 300}[problem]
    if problem == "outside":
        x[bad] = 60
    else:
        t[bad] = 5
    path = tmp_path / "events.npz"
    np.savez(path, x=x, y=np.zeros(n), t=t, p=np.ones(n), sensor_size=np.array([50, 10]))
    with pytest.raises(EventFormatError, match=f"event {bad} has"):
        list(iter_events(path, chunk_size=100))


def test_sort_is_stable_and_leaves_input():
    ev = make_events([0, 1, 2, 3], [0, 0, 0, 0], [5, 1, 5, 0], [1, 0, 1, 0])
    before = ev.copy()
    out = sort_events(ev)
    assert out["x"].tolist() == [3, 1, 0, 2]
    np.testing.assert_array_equal(ev, before)


def test_infer_sensor_size_and_stream():
    ev = make_events([0, 9], [3, 4], [0, 7], [1, 0])
    assert infer_sensor_size(ev) == (10, 5)
    stream = EventStream(ev, (10, 5))
    assert len(stream) == 2 and stream.duration == 7 and stream.width == 10
    assert len(stream.frames) == 0


@pytest.mark.parametrize(
    ("head", "name", "fmt"),
    [
        (b"#!AER-DAT2.0\r\n", "a.aedat", "aedat2"),
        (b"#!AER-DAT3.1\r\n", "a.aedat", "aedat3"),
        (b"#!AER-DAT4.0\r\n", "a.aedat4", "aedat4"),
        (b"\x93NUMPY\x01\x00", "a.npy", "npy"),
        (b"PK\x03\x04", "a.npz", "npz"),
        (b"MATLAB 5.0 MAT-file", "a.mat", "mat"),
        (b"\x89HDF\r\n\x1a\n", "a.h5", "hdf5"),
        (b"% evt 3.0\n% end\n", "a.raw", "evt3"),
        (b"% format EVT2;height=480;width=640\n", "a.raw", "evt2"),
        (b"% Date 2020\n", "a.dat", "dat"),
        (b"\x01\x02\x03\x04\x05", "a.bin", "nmnist_bin"),
    ],
)
def test_detect_format_from_magic(tmp_path, head, name, fmt):
    path = tmp_path / name
    path.write_bytes(head + b"\x00" * 16)
    assert detect_format(path) == fmt


def test_detect_format_errors(tmp_path):
    with pytest.raises(EventFormatError, match="no such file"):
        detect_format(tmp_path / "missing.bin")
    unknown = tmp_path / "x.xyz"
    unknown.write_bytes(b"hello")
    with pytest.raises(EventFormatError, match="unknown event file format"):
        detect_format(unknown)
    empty = tmp_path / "x.qqq"
    empty.write_bytes(b"")
    with pytest.raises(EventFormatError, match="empty"):
        detect_format(empty)
    old = tmp_path / "old.aedat"
    old.write_bytes(b"#!AER-DAT1.0\r\n")
    with pytest.raises(EventFormatError, match="unsupported AEDAT version"):
        detect_format(old)


def test_error_is_value_error_with_path_and_offset():
    err = EventFormatError("some/file.dat", "truncated record", offset=42)
    assert isinstance(err, ValueError)
    assert str(err) == "some/file.dat: truncated record (at byte offset 42)"
    assert err.offset == 42 and err.path == "some/file.dat"


def test_registry():
    reg: Registry = Registry("thing")

    @reg.register("a")
    def make_a():
        return 1

    @reg.register()
    def b():
        return 2

    assert reg.names() == ["a", "b"] and "a" in reg and len(reg) == 2
    assert reg.get("b")() == 2
    with pytest.raises(KeyError, match="unknown thing 'c'; known: a, b"):
        reg.get("c")
    with pytest.raises(KeyError, match="already registered"):
        reg.register("a")(make_a)


def test_make_events_rounds_float_times_and_rejects_what_would_be_silently_wrong():
    ev = make_events([1.0, 2.0], [3.0, 4.0], [10.4, 10.6], [1, 0])
    assert ev["t"].tolist() == [10, 11]  # rounded, not truncated
    assert ev["x"].tolist() == [1, 2]
    with pytest.raises(EventFormatError, match="fractional value 1.5"):
        make_events([1.5], [0], [0], [1])
    with pytest.raises(EventFormatError, match="too large for int64"):
        make_events([1], [0], [1e30], [1])
    with pytest.raises(EventFormatError, match="too large for int64"):
        make_events([1], [0], np.array([2**64 - 1], np.uint64), [1])
    with pytest.raises(EventFormatError, match="field p holds non-finite"):
        make_events([1], [0], [0], [np.nan])
    with pytest.raises(EventFormatError, match="non-numeric"):
        make_events(["a"], [0], [0], [1])


def test_iter_events_missing_file_with_forced_format(tmp_path):
    from evclip.io import iter_events

    with pytest.raises(EventFormatError, match="no such file"):
        next(iter_events(tmp_path / "missing.npz", format="npz"))


def test_detect_raw_without_evt_version_says_how_to_force(tmp_path):
    path = tmp_path / "gen3.raw"
    path.write_bytes(b"% plugin_name hal_plugin_gen31_fx3\n% end\n" + bytes(16))
    with pytest.raises(EventFormatError, match="format='evt2'"):
        detect_format(path)
