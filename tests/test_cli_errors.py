"""One-line errors instead of tracebacks, consistent options, and the render warning (issue 7,
items 2, 5, 8, 9 and 10)."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from evclip.cli.main import build_parser, main
from evclip.io import EventStream, make_events, read_events, write_events


def _events(n: int = 2000, seed: int = 0, t=None) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.sort(rng.integers(0, 100_000, n)) if t is None else t
    return make_events(rng.integers(0, 40, n), rng.integers(0, 30, n), t, rng.integers(0, 2, n))


@pytest.fixture
def npz_file(tmp_path):
    path = tmp_path / "rec.npz"
    write_events(path, EventStream(_events(), (40, 30)))
    return path


@pytest.fixture
def unwritable(tmp_path):
    """A folder nobody can create files in: a 0o555 folder, or (for root, whom permissions do
    not stop) a read-only sysfs folder."""
    folder = tmp_path / "locked"
    folder.mkdir()
    folder.chmod(0o555)
    for candidate in (folder, "/sys/fs"):
        try:
            probe = os.path.join(candidate, ".probe")
            open(probe, "w").close()  # noqa: SIM115
            os.unlink(probe)
        except OSError:
            yield str(candidate)
            break
    else:
        pytest.fail("found no folder this user cannot write to")
    folder.chmod(0o755)


def _one_line_error(capsys, *names: str) -> str:
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if "error" in line]
    assert len(lines) == 1 and "Traceback" not in err, err
    assert all(name in lines[0] for name in names), err
    assert ".tmp" not in err  # the user's path, never an internal temporary (item 9)
    return lines[0]


# ------------------------------------------------------------------ item 5: clear errors


def test_unwritable_output_folder_is_one_line_for_every_command(npz_file, unwritable, capsys):
    image = npz_file.parent / "still.png"
    Image.fromarray(np.full((12, 16), 128, np.uint8)).save(image)
    (npz_file.parent / "images" / "cat").mkdir(parents=True)
    Image.fromarray(np.zeros((12, 16), np.uint8)).save(npz_file.parent / "images/cat/a.png")
    runs = {
        "convert": ["convert", str(npz_file), f"{unwritable}/out.npz", "--quiet"],
        "render": ["render", str(npz_file), f"{unwritable}/out.png"],
        "simulate": ["simulate", str(image), f"{unwritable}/out.npz", "--quiet"],
        "synthesize": [
            "synthesize", str(npz_file.parent / "images"), f"{unwritable}/events", "--quiet",
        ],
        "synth-dataset": ["synth-dataset", f"{unwritable}/bench", "--quiet", "--workers", "1"],
    }  # fmt: skip
    for command, argv in runs.items():
        assert main(argv) == 2, command
        line = _one_line_error(capsys, f"evclip {command}: error:", unwritable)
        assert any(w in line for w in ("ermission", "not permitted", "ead-only")), line


def test_convert_to_an_existing_folder_fails_before_reading(tmp_path, capsys):
    target = tmp_path / "existing.npz"
    target.mkdir()
    source = tmp_path / "broken.bin"
    source.write_bytes(b"\x01\x02\x03")  # unreadable: a check after reading would name it
    assert main(["convert", str(source), str(target), "--quiet"]) == 2
    line = _one_line_error(capsys, str(target), "folder")
    assert "broken.bin" not in line
    assert main(["convert", str(source), str(tmp_path / "missing" / "o.npz"), "--quiet"]) == 2
    _one_line_error(capsys, "does not exist")


def test_synth_dataset_on_a_file_is_refused(tmp_path, capsys):
    afile = tmp_path / "afile"
    afile.write_text("not a folder")
    assert main(["synth-dataset", str(afile), "--quiet", "--workers", "1"]) == 2
    _one_line_error(capsys, str(afile), "is a file")
    assert afile.read_text() == "not a folder"


@pytest.mark.parametrize("fps", ["0", "-5", "nan", "inf"])
def test_render_rejects_a_frame_rate_that_is_not_positive(npz_file, tmp_path, fps, capsys):
    with pytest.raises(SystemExit) as stop:
        main(["render", str(npz_file), str(tmp_path / "a.gif"), f"--fps={fps}"])
    assert stop.value.code == 2
    assert "--fps" in capsys.readouterr().err
    assert not (tmp_path / "a.gif").exists()


def test_render_rejects_a_frame_rate_a_gif_cannot_play(npz_file, tmp_path, capsys):
    assert main(["render", str(npz_file), str(tmp_path / "a.gif"), "--fps", "1000"]) == 2
    _one_line_error(capsys, "fps must be between")
    assert main(["render", str(npz_file), str(tmp_path / "a.gif"), "--fps", "0.5"]) == 0
    with Image.open(tmp_path / "a.gif") as gif:
        assert gif.info["duration"] == 2000


def test_missing_h5py_names_the_extra_to_install(npz_file, tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "h5py", None)  # `import h5py` now fails as if absent
    assert main(["convert", str(npz_file), str(tmp_path / "out.h5"), "--quiet"]) == 2
    _one_line_error(capsys, "h5py", 'pip install "evclip[readers]"')
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rec.npz"]  # nothing written


def test_closed_stdout_exits_quietly(npz_file):
    process = subprocess.Popen(
        [sys.executable, "-m", "evclip.cli", "info", str(npz_file)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    process.stdout.close()  # as `| head -0` does, before evclip has written anything
    err = process.stderr.read().decode()
    assert process.wait(timeout=60) == 141
    assert err == ""  # no BrokenPipeError traceback, no "Exception ignored"


# ------------------------------------------------------------------ item 8: --sort


def test_sort_option_reads_unsorted_files(tmp_path, capsys):
    events = _events(500, t=np.random.default_rng(1).permutation(500) * 100)
    unsorted = tmp_path / "unsorted.npz"
    # a plain archive as other tools write it, without a sensor size
    np.savez(unsorted, x=events["x"], y=events["y"], t=events["t"], p=events["p"])
    assert main(["info", str(unsorted)]) == 2
    assert "unsorted.npz" in capsys.readouterr().err  # the advice's wording is evclip.io's
    assert main(["info", str(unsorted), "--sort"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["events"] == 500 and info["t_first_us"] == 0 and info["t_last_us"] == 49_900
    out = tmp_path / "sorted.h5"
    assert main(["convert", str(unsorted), str(out), "--quiet", "--sort"]) == 0
    assert np.all(np.diff(read_events(out).events["t"]) >= 0)
    png = tmp_path / "strip.png"
    assert main(["render", str(unsorted), str(png), "--sort", "--frames", "2"]) == 0
    assert Image.open(png).size == (2 * int(events["x"].max() + 1), int(events["y"].max() + 1))


# ------------------------------------------------------------------ item 2: one timestamp


def test_render_of_one_timestamp_warns_and_shows_the_events(tmp_path, capsys):
    same = tmp_path / "same_t.npz"
    write_events(same, EventStream(_events(300, t=np.full(300, 1234)), (40, 30)))
    png = tmp_path / "strip.png"
    assert main(["render", str(same), str(png), "--frames", "4"]) == 0
    err = capsys.readouterr().err
    assert "warning" in err and "share one timestamp" in err and "same_t.npz" in err
    strip = np.asarray(Image.open(png))
    assert all(frame.std() > 0 for frame in np.split(strip, 4, axis=1))  # no blank frame


# ------------------------------------------------------------------ item 10: consistency


@pytest.mark.parametrize(
    "argv",
    [
        ["synthesize", "images", "out", "--workers", "0"],
        ["synth-dataset", "out", "--workers", "0"],
        ["simulate", "frames", "out.npz", "--fps", "0"],
        ["render", "in.npz", "out.png", "--frames", "0"],
    ],
)
def test_counts_and_rates_below_one_are_refused_by_the_parser(argv, capsys):
    with pytest.raises(SystemExit) as stop:
        build_parser().parse_args(argv)
    assert stop.value.code == 2
    assert argv[-2] in capsys.readouterr().err


def test_synthesize_folder_refuses_zero_workers(tmp_path):
    from evclip.simulate.synthesize import synthesize_folder

    with pytest.raises(ValueError, match="workers must be at least 1"):
        synthesize_folder(tmp_path, tmp_path / "out", workers=0)


def test_quiet_everywhere_and_no_progress_as_an_alias():
    parser = build_parser()
    for argv in (
        ["synth-dataset", "out"],
        ["synthesize", "images", "out"],
        ["simulate", "a.png", "o.npz"],
        ["convert", "a.npz", "b.npz"],
    ):
        assert parser.parse_args([*argv, "--quiet"]).quiet is True
        assert parser.parse_args([*argv, "--no-progress"]).quiet is True
        assert parser.parse_args(argv).quiet is False


def test_simulate_image_reports_the_frames_of_its_motion(tmp_path, capsys):
    image = tmp_path / "still.png"
    Image.fromarray((np.random.default_rng(0).random((12, 16)) * 255).astype(np.uint8)).save(image)
    argv = ["simulate", str(image), str(tmp_path / "o.npz"), "--quiet", "--motion", "affine"]
    assert main(argv) == 0
    assert json.loads(capsys.readouterr().out)["frames"] == 61  # random_affine_motion's default
    assert main([*argv, "--n-frames", "7"]) == 0
    assert json.loads(capsys.readouterr().out)["frames"] == 7


def test_outputs_get_the_umask_mode_not_mkstemp_0600(tmp_path, npz_file):
    from evclip.simulate.synthesize import synthesize_folder

    (tmp_path / "images" / "cat").mkdir(parents=True)
    Image.fromarray(np.zeros((12, 16), np.uint8)).save(tmp_path / "images/cat/a.png")
    old = os.umask(0o022)
    try:
        summary = synthesize_folder(
            tmp_path / "images", tmp_path / "events", workers=1, progress=False, n_frames=5
        )
        assert main(["render", str(npz_file), str(tmp_path / "r.png"), "--frames", "1"]) == 0
    finally:
        os.umask(old)
    for path in (summary.manifest, tmp_path / "events/cat/a.npz", tmp_path / "r.png"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o644, path


def test_a_write_error_names_the_target_not_the_temporary(npz_file, tmp_path, monkeypatch, capsys):
    import errno

    from evclip.io import writers

    def disk_full(self, events):
        raise OSError(errno.ENOSPC, "No space left on device", str(self._spool / "x"))

    monkeypatch.setattr(writers.NpzWriter, "_append", disk_full)
    target = tmp_path / "out.npz"
    assert main(["convert", str(npz_file), str(target), "--quiet"]) == 2
    line = _one_line_error(capsys, str(target), "No space left on device")
    assert "/x" not in line and not target.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rec.npz"]  # temporaries deleted
