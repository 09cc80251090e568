"""End-to-end runs of the real ``evclip`` command line (in-process and as a subprocess)."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from evclip.cli.main import main
from evclip.io import EventStream, Frames, make_events, read_events, write_events


def _stream(n: int = 5000, seed: int = 0) -> EventStream:
    rng = np.random.default_rng(seed)
    ev = make_events(
        rng.integers(0, 40, n),
        rng.integers(0, 30, n),
        np.sort(rng.integers(0, 200_000, n)),
        rng.integers(0, 2, n),
    )
    frames = Frames(np.array([0, 100_000], dtype=np.int64), np.zeros((2, 30, 40, 3), np.uint8))
    return EventStream(ev, (40, 30), frames)


@pytest.fixture
def npz_file(tmp_path):
    path = tmp_path / "rec.npz"
    write_events(path, _stream())
    return path


def test_info_prints_summary(npz_file, capsys):
    assert main(["info", str(npz_file)]) == 0
    info = json.loads(capsys.readouterr().out)
    stream = _stream()
    assert info["events"] == len(stream)
    assert info["sensor_size"] == [40, 30]
    assert info["t_first_us"] == int(stream.events["t"][0])
    assert info["duration_us"] == stream.duration
    assert info["t_last_us"] == int(stream.events["t"][-1])
    assert info["on_fraction"] == pytest.approx(stream.events["p"].mean())
    assert info["event_rate_hz"] == pytest.approx(len(stream) / (stream.duration * 1e-6))
    assert info["frames"] == 2
    assert info["path"] == str(npz_file)


def test_convert_npz_to_h5_roundtrip(npz_file, tmp_path, capsys):
    out = tmp_path / "rec.h5"
    assert main(["convert", str(npz_file), str(out), "--quiet"]) == 0
    back = read_events(out)
    np.testing.assert_array_equal(back.events, _stream().events)
    assert back.sensor_size == (40, 30)
    assert len(back.frames) == 2


def test_render_png_strip_and_gif(npz_file, tmp_path):
    png = tmp_path / "strip.png"
    assert main(["render", str(npz_file), str(png), "--frames", "4", "--scale", "2"]) == 0
    assert Image.open(png).size == (4 * 40 * 2, 30 * 2)
    gif = tmp_path / "anim.gif"
    assert main(["render", str(npz_file), str(gif), "--frames", "3", "--mode", "eclip_grey"]) == 0
    with Image.open(gif) as im:
        assert im.n_frames == 3 and im.size == (40, 30)


def test_bad_input_gives_clear_error_and_status_2(tmp_path, capsys):
    bad = tmp_path / "broken.bin"
    bad.write_bytes(b"\x01\x02\x03\x04\x05\x06\x07")  # 7 bytes: not a multiple of 5
    assert main(["info", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "broken.bin" in err and "Traceback" not in err
    assert main(["render", str(bad), str(tmp_path / "x.jpg")]) == 2
    assert not (tmp_path / "x.jpg").exists()


def test_console_script_runs(npz_file):
    done = subprocess.run(
        [sys.executable, "-m", "evclip.cli.main", "info", str(npz_file)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(done.stdout)["events"] == 5000


def test_convert_progress_bar_has_a_total(npz_file, tmp_path, capsys):
    from evclip.cli.convert import expected_events

    assert expected_events(str(npz_file)) == 5000
    bin_file = tmp_path / "rec.bin"
    bin_file.write_bytes(bytes(5 * 7))
    assert expected_events(str(bin_file)) == 7  # an upper bound from the file size
    assert expected_events(str(tmp_path / "missing.npz")) is None
    assert main(["convert", str(npz_file), str(tmp_path / "out.npz")]) == 0
    err = capsys.readouterr().err
    assert "100%" in err and "5.00k/5.00k" in err


def test_convert_rejects_bad_target_before_reading(npz_file, tmp_path, capsys):
    assert main(["convert", str(npz_file), str(tmp_path / "out.csv"), "--quiet"]) == 2
    assert ".npz" in capsys.readouterr().err
    assert not (tmp_path / "out.csv").exists()


@pytest.mark.parametrize("slicing", ["time", "count", "afe"])
@pytest.mark.parametrize("mode", ["eclip_rgb", "eclip_grey", "eventclip_grey", "ezsr"])
def test_render_every_mode_and_slicing(npz_file, tmp_path, mode, slicing):
    png = tmp_path / "strip.png"
    argv = ["render", str(npz_file), str(png), "--frames", "2", "--mode", mode]
    assert main([*argv, "--slicing", slicing]) == 0
    strip = np.asarray(Image.open(png))
    assert strip.shape == (30, 80, 3) and strip.std() > 0  # two 40x30 frames showing events
