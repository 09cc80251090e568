"""Signals and leftovers: SIGTERM cleans up like Ctrl-C, a swallowed interrupt still interrupts,
killed runs' temporaries go on the next run, and workers die with their parent (issue 7, items
3 and 4)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from evclip.cli.main import main
from evclip.io import EventStream, make_events, read_events, write_events
from evclip.io.atomic import LEGACY_AGE_S, remove_stale_temporaries, stale_temporaries

DEAD = 4_194_305  # above Linux's largest pid_max: never a live process


@pytest.fixture
def npz_file(tmp_path):
    rng = np.random.default_rng(0)
    n = 6000
    events = make_events(
        rng.integers(0, 40, n), rng.integers(0, 30, n), np.arange(n) * 7, rng.integers(0, 2, n)
    )
    path = tmp_path / "rec.npz"
    write_events(path, EventStream(events, (40, 30)))
    return path


def _leftovers(folder) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


# ------------------------------------------------------------------ stale temporaries


def test_next_run_removes_only_stale_temporaries_of_its_target(npz_file, tmp_path):
    ours = os.getpid()
    names = {  # name: (a folder?, what the next run must do with it)
        f".k.npz.{DEAD}.a1b2c3d4.tmp": (False, "delete"),  # archive of a killed writer
        f".k.npz.{DEAD}.q9_w8e7r": (True, "delete"),  # its spool folder
        f".k.npz.{ours}.z1x2c3v4.tmp": (False, "keep"),  # a writer still running (this process)
        ".k.npz.legacy12.tmp": (False, "keep"),  # no pid, touched just now: may be in use
        ".k.npz.old_0123": (True, "delete"),  # no pid, untouched for two hours
        f".other.npz.{DEAD}.a1b2c3d4.tmp": (False, "keep"),  # another target's
        ".k.npz.notes": (False, "keep"),  # not our pattern at all
        f".k.npz.1.npz.{DEAD}.a1b2c3d4.tmp": (False, "keep"),  # the target "k.npz.1.npz"
    }
    for name, (folder, _) in names.items():
        path = tmp_path / name
        if folder:
            path.mkdir()
            (path / "t").write_bytes(b"spooled")
        else:
            path.write_bytes(b"partial")
    old = time.time() - 2 * LEGACY_AGE_S
    for name in (".k.npz.old_0123", ".k.npz.old_0123/t"):
        os.utime(tmp_path / name, (old, old))
    assert main(["convert", str(npz_file), str(tmp_path / "k.npz"), "--quiet"]) == 0
    kept = [name for name, (_, fate) in names.items() if fate == "keep"]
    assert _leftovers(tmp_path) == sorted(kept)
    assert len(read_events(tmp_path / "k.npz")) == 6000


def test_stale_h5_temporaries_go_and_the_folder_sweep_keeps_other_files(tmp_path):
    (tmp_path / f".k.h5.{DEAD}.a1b2c3d4.tmp").write_bytes(b"partial")
    (tmp_path / f".x.npz.{DEAD}.a1b2c3d4.tmp").write_bytes(b"partial")
    (tmp_path / f".bashrc.{DEAD}.a1b2c3d4.tmp").write_bytes(b"not an event file's")
    assert [p.name for p in stale_temporaries(tmp_path, "k.h5")] == [f".k.h5.{DEAD}.a1b2c3d4.tmp"]
    removed = remove_stale_temporaries(folder=tmp_path)
    assert sorted(p.name for p in removed) == [
        f".k.h5.{DEAD}.a1b2c3d4.tmp",
        f".x.npz.{DEAD}.a1b2c3d4.tmp",
    ]
    assert _leftovers(tmp_path) == [f".bashrc.{DEAD}.a1b2c3d4.tmp"]


# A conversion slowed down to one 500-event chunk per 0.1 s, announcing each chunk on stderr.
SLOW_CONVERT = """
import sys, time
from evclip.cli import convert
from evclip.io import writers
convert.convert.__kwdefaults__["chunk_size"] = 500
real = writers.EventWriter.write
def slow(self, events):
    real(self, events)
    print("chunk", file=sys.stderr, flush=True)
    time.sleep(0.1)
writers.EventWriter.write = slow
from evclip.cli.main import main
sys.exit(main(sys.argv[1:]))
"""


def _start_slow_convert(source, target) -> subprocess.Popen:
    process = subprocess.Popen(
        [sys.executable, "-c", SLOW_CONVERT, "convert", str(source), str(target), "--quiet"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stderr.readline().strip() == "chunk"  # the temporaries exist now
    return process


@pytest.mark.parametrize("suffix", [".npz", ".h5"])
def test_sigterm_cleans_up_like_ctrl_c(npz_file, tmp_path, suffix):
    target = tmp_path / f"k{suffix}"
    process = _start_slow_convert(npz_file, target)
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 143
    assert "evclip convert: terminated" in err and "Traceback" not in err
    assert not target.exists() and _leftovers(tmp_path) == []


def test_a_sigkilled_conversion_is_cleaned_by_the_next_run(npz_file, tmp_path):
    target = tmp_path / "k.h5"
    process = _start_slow_convert(npz_file, target)
    process.kill()
    process.communicate(timeout=60)
    assert _leftovers(tmp_path) != []  # SIGKILL leaves the temporary behind
    assert main(["convert", str(npz_file), str(target), "--quiet"]) == 0
    assert _leftovers(tmp_path) == [] and len(read_events(target)) == 6000


def test_an_interrupt_swallowed_by_a_library_callback_still_stops(
    npz_file, tmp_path, monkeypatch, capsys
):
    from evclip.io import writers

    real = writers.Hdf5Writer._append

    def swallowing(self, events):
        # what h5py's cleanup callbacks do: print "Exception ignored" and carry on
        with contextlib.suppress(KeyboardInterrupt):
            signal.raise_signal(signal.SIGINT)
        real(self, events)

    monkeypatch.setattr(writers.Hdf5Writer, "_append", swallowing)
    target = tmp_path / "k.h5"
    assert main(["convert", str(npz_file), str(target), "--quiet"]) == 130
    assert "evclip convert: interrupted" in capsys.readouterr().err
    assert not target.exists() and _leftovers(tmp_path) == []


# ------------------------------------------------------------------ worker processes

# Two workers: after the first result the parent prints "started" and waits on 60 s jobs.
POOL = """
import sys, time
from contextlib import nullcontext
from evclip.cli._signals import handle_signals
from evclip.simulate.workers import run_in_workers
jobs = [0.0, 60.0, 60.0, 60.0]
with handle_signals() if "signals" in sys.argv else nullcontext():
    try:
        for _ in run_in_workers(time.sleep, jobs, workers=2, initializer=None):
            print("started", flush=True)
    except KeyboardInterrupt as stop:
        sys.exit(getattr(stop, "exit_status", 130))
"""


def _start_pool(*flags: str) -> subprocess.Popen:
    process = subprocess.Popen(
        [sys.executable, "-c", POOL, *flags],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout.readline().strip() == "started"
    return process


def test_workers_exit_when_their_parent_is_killed():
    process = _start_pool()
    process.kill()  # SIGKILL: the parent cannot clean anything up itself
    started = time.monotonic()
    process.communicate(timeout=30)  # returns only once every worker let go of the pipes
    assert time.monotonic() - started < 30


def test_sigterm_terminates_running_jobs_instead_of_waiting_for_them():
    process = _start_pool("signals")
    started = time.monotonic()
    process.send_signal(signal.SIGTERM)
    process.communicate(timeout=30)  # the running jobs sleep 60 s
    assert process.returncode == 143
    assert time.monotonic() - started < 30


def test_jobs_run_here_on_one_torch_thread_and_restore_it():
    import torch

    from evclip.simulate.workers import run_in_workers

    def threads(_item: int) -> int:
        return torch.get_num_threads()

    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        assert list(run_in_workers(threads, range(3), workers=1)) == [1, 1, 1]
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
