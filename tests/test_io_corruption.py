"""Truncated and bit-flipped files: each reader raises ``EventFormatError`` or returns good events.

Covers the simple formats (hypothesis cuts and flips inside one test per format) and the camera
formats (hypothesis truncates or flips one bit of a module-wide fixture).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from io_camera_fixtures import CAMERA_FORMATS, camera_fixtures
from io_fixtures import random_events, write_format_fixture

from evclip.io import (
    EVENT_DTYPE,
    EventFormatError,
    EventStream,
    iter_events,
    read_events,
    write_events,
)


def _read_chunked(path: Path, format: str | None, chunk_size: int) -> EventStream:
    """The chunks of ``iter_events`` joined, each checked to share the first one's sensor size."""
    chunks = list(iter_events(path, format=format, chunk_size=chunk_size))
    assert {c.sensor_size for c in chunks} == {chunks[0].sensor_size}
    return EventStream(np.concatenate([c.events for c in chunks]), chunks[0].sensor_size)


def assert_read_or_reject(path: Path, format: str | None, chunk_size: int) -> None:
    """Whole and chunked reads each raise EventFormatError or return valid events."""
    reads = (
        lambda: read_events(path, format=format),
        lambda: _read_chunked(path, format, chunk_size),
    )
    for read in reads:
        try:
            stream = read()
        except EventFormatError:
            continue
        events = stream.events
        assert events.dtype == EVENT_DTYPE
        assert np.all(np.diff(events["t"]) >= 0)
        width, height = stream.sensor_size
        assert np.all(events["x"] < width) and np.all(events["y"] < height)


# --------------------------------------------------------------------------- simple formats


def _fixture_bytes(kind: str, folder: Path) -> bytes:
    events = random_events(40, size=(34, 34), seed=11)
    if kind == "h5":
        path = folder / "e.h5"
        write_events(path, EventStream(events, (34, 34)))
        return path.read_bytes()
    return write_format_fixture(kind, folder, events).read_bytes()


FORMAT_OF = {"bin": "nmnist_bin", "npz": "npz", "npy": "npy", "h5": "hdf5", "mat": "mat"}


@pytest.mark.parametrize("kind", sorted(FORMAT_OF))
def test_corruption_never_escapes(tmp_path, kind):
    original = _fixture_bytes(kind, tmp_path)
    target = tmp_path / f"mutated.{kind}"
    target.write_bytes(original)
    assert len(read_events(target, format=FORMAT_OF[kind])) == 40  # the intact file reads

    @settings(
        max_examples=50,
        deadline=None,
        derandomize=True,
        suppress_health_check=[HealthCheck.too_slow],
    )
    @given(
        cut=st.one_of(st.just(len(original)), st.integers(0, len(original) - 1)),
        flips=st.lists(st.integers(0, 8 * len(original) - 1), max_size=4),
    )
    def check(cut, flips):
        data = bytearray(original)
        for bit in flips:
            data[bit // 8] ^= 1 << (bit % 8)
        target.write_bytes(bytes(data[:cut]))
        assert_read_or_reject(target, FORMAT_OF[kind], chunk_size=7)

    check()


# --------------------------------------------------------------------------- camera formats


@pytest.fixture(scope="module")
def corruption_fixtures(tmp_path_factory):
    folder = tmp_path_factory.mktemp("corrupt")
    paths = camera_fixtures(folder)
    small = {name: path.read_bytes() for name, path in paths.items()}
    return folder, small


@pytest.mark.parametrize("name", CAMERA_FORMATS)
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
    assert_read_or_reject(path, None, chunk_size=64)
