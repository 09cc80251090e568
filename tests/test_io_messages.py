"""Errors say what is wrong: a directory or FIFO, content of another format, a broken header."""

from __future__ import annotations

import os

import numpy as np
import pytest
from io_camera_fixtures import assert_same_events, camera_events, dat_file, write_file
from io_fixtures import BIN_EVENTS, BIN_RECORDS, bin_record, events_of, random_events

from evclip.io import FORMATS, EventFormatError, detect_format, iter_events, read_events


def _all_readers(path, **kwargs):
    """Each way of opening a file: detection, whole read, chunked read."""
    yield lambda: detect_format(path)
    yield lambda: read_events(path, **kwargs)
    yield lambda: list(iter_events(path, **kwargs))


@pytest.mark.parametrize("format", [None, "npz"])
def test_a_directory_is_not_called_missing(tmp_path, format):
    folder = tmp_path / "rec.npz"
    folder.mkdir()
    for read in _all_readers(folder, format=format):
        with pytest.raises(EventFormatError, match=r"rec\.npz: is a directory") as info:
            read()
        assert "no such file" not in str(info.value)


@pytest.mark.parametrize("format", [None, "nmnist_bin"])
def test_a_fifo_is_refused_without_opening_it(tmp_path, format):
    fifo = tmp_path / "pipe.bin"
    os.mkfifo(fifo)  # opening it for reading would block until a writer comes
    for read in _all_readers(fifo, format=format):
        with pytest.raises(EventFormatError, match=r"pipe\.bin: is a FIFO .*not a regular file"):
            read()


def test_missing_and_dangling_paths(tmp_path):
    with pytest.raises(EventFormatError, match="no such file"):
        read_events(tmp_path / "missing.npz")
    (tmp_path / "link.npz").symlink_to(tmp_path / "gone.npz")
    with pytest.raises(EventFormatError, match="broken symbolic link"):
        read_events(tmp_path / "link.npz", format="npz")


def test_a_dat_renamed_to_bin_is_read_by_its_content(tmp_path):
    events = camera_events(200, 100, 80)
    path = write_file(tmp_path, "renamed.bin", dat_file(events))
    assert detect_format(path) == "dat"
    stream = read_events(path)
    assert stream.sensor_size == (100, 80)
    assert_same_events(stream.events, events)
    assert_same_events(np.concatenate([c.events for c in iter_events(path, chunk_size=30)]), events)


def test_forcing_bin_on_a_dat_names_the_format_it_looks_like(tmp_path):
    path = write_file(tmp_path, "renamed.bin", dat_file(camera_events(200, 100, 80)))
    for read in list(_all_readers(path, format="nmnist_bin"))[1:]:
        expected = r"not an N-MNIST \.bin file as format='nmnist_bin' expects"
        with pytest.raises(EventFormatError, match=expected) as info:
            read()
        assert "Prophesee" in str(info.value) and "format='dat'" in str(info.value)
        assert "not sorted" not in str(info.value)


def test_a_percent_header_that_names_no_format_asks_for_one(tmp_path):
    path = write_file(tmp_path, "odd.bin", b"% Version 2\n% Width 10\n" + bytes(10))
    with pytest.raises(EventFormatError, match=r"'%' text header.*format='dat'"):
        read_events(path)


def test_a_bin_starting_with_a_percent_byte_is_still_a_bin(tmp_path):
    path = tmp_path / "x37.bin"  # x = 37 is the byte '%'
    path.write_bytes(bin_record(37, 65, 0, 100) + b"".join(BIN_RECORDS))
    assert detect_format(path) == "nmnist_bin"
    expected = events_of([(37, 65, 100, 0), *BIN_EVENTS])
    np.testing.assert_array_equal(read_events(path).events, expected)


def test_forcing_npz_on_an_aedat4_says_it_is_not_a_zip_archive(tmp_path):
    path = write_file(tmp_path, "rec.aedat4", b"#!AER-DAT4.0\r\n" + bytes(64))
    for read in list(_all_readers(path, format="npz"))[1:]:
        expected = r"not an \.npz \(zip\) archive.*looks like an AEDAT 4\.0"
        with pytest.raises(EventFormatError, match=expected) as info:
            read()
        assert "format='aedat4'" in str(info.value) and "pickle" not in str(info.value)


@pytest.mark.parametrize(
    ("format", "what"), [("npz", r"an \.npz \(zip\) archive"), ("npy", r"an \.npy array")]
)
def test_forcing_numpy_on_unrecognised_bytes_says_what_it_is_not(tmp_path, format, what):
    path = tmp_path / "noise.bin"
    path.write_bytes(b"".join(BIN_RECORDS))
    for read in list(_all_readers(path, format=format))[1:]:
        with pytest.raises(EventFormatError, match=f"not {what}: it starts with") as info:
            read()
        assert "pickle" not in str(info.value)


def test_forcing_a_compatible_format_still_reads(tmp_path):
    events = random_events(20)
    path = tmp_path / "e.data"
    with open(path, "wb") as f:  # np.savez would append .npz to the name
        np.savez(f, **{k: events[k] for k in "xytp"})
    np.testing.assert_array_equal(read_events(path, format="npz").events, events)


def test_a_dat_header_line_over_64_kib_is_a_header_error(tmp_path):
    data = b"% Date 2024\n% " + b"x" * (1 << 16) + b"\n" + dat_file(camera_events(5, 100, 80))
    path = write_file(tmp_path, "long.dat", data)
    for read in list(_all_readers(path))[1:]:
        with pytest.raises(EventFormatError, match="header line longer than 64 KiB") as info:
            read()
        assert "event size" not in str(info.value) and info.value.offset == 12


def test_a_dat_ending_inside_its_header_is_a_header_error(tmp_path):
    path = write_file(tmp_path, "cut.dat", b"% Date 2024\n% Width 10")
    with pytest.raises(EventFormatError, match="ends inside its '%' header"):
        read_events(path)


@pytest.mark.parametrize(
    ("name", "format"),
    [
        ("e.bin", None),
        ("e.bin", "nmnist_bin"),
        ("e.npz", None),
        ("e.npy", "npy"),
        ("e.h5", None),
        ("e.mat", None),
        ("e.dat", None),
        ("e.raw", "evt3"),
        ("e.aedat", "aedat2"),
        ("e.aedat4", None),
    ],
)
def test_a_zero_byte_file_is_empty_in_every_format(tmp_path, name, format):
    path = tmp_path / name
    path.write_bytes(b"")
    for read in _all_readers(path, format=format):
        with pytest.raises(EventFormatError, match=rf"{name}: file is empty \(0 bytes\)"):
            read()


@pytest.mark.parametrize("format", sorted(set(FORMATS) - {"aedat2"}))
def test_every_forced_format_names_itself_and_the_look_of_the_content(tmp_path, format):
    path = write_file(tmp_path, "rec.aedat", b"#!AER-DAT2.0\r\n" + bytes(16))
    with pytest.raises(EventFormatError, match=rf"rec\.aedat: not an? .* as format='{format}'"):
        read_events(path, format=format)
