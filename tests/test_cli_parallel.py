"""Tests of evclip.cli._parallel: training runs side by side in child processes."""

from __future__ import annotations

import sys
import time

import pytest

from evclip.cli import _parallel
from evclip.cli._parallel import Job, child_environment, run_jobs, train_command


def _python(code: str):
    """A train_command stand-in that runs ``code`` (the job's log path is sys.argv[1])."""
    return lambda job: [sys.executable, "-c", code, str(job.log)]


def _jobs(tmp_path, n):
    return [
        Job(f"job{i}", tmp_path / f"job{i}.yaml", tmp_path / f"job{i}" / "train.log")
        for i in range(n)
    ]


def test_the_child_is_evclip_train_with_the_runs_config_and_one_thread(tmp_path):
    job = Job("run", tmp_path / "config.yaml", tmp_path / "train.log")
    assert train_command(job)[1:] == ["-m", "evclip.cli", "train", str(job.config), "--quiet"]
    resumed = Job("run", job.config, job.log, resume=True)
    assert train_command(resumed)[-1] == "--resume"
    env = child_environment(1)
    assert env["OMP_NUM_THREADS"] == env["MKL_NUM_THREADS"] == env["OPENBLAS_NUM_THREADS"] == "1"
    assert child_environment(0).get("OMP_NUM_THREADS") == _parallel.os.environ.get(
        "OMP_NUM_THREADS"
    )


def test_jobs_run_at_most_n_at_a_time_and_log_to_their_files(tmp_path, monkeypatch):
    # each child records when it ran; with two slots, no three intervals overlap
    code = (
        "import sys, time; t = time.time(); time.sleep(0.6); "
        "print(t, time.time()); print('threads', __import__('os').environ['OMP_NUM_THREADS'])"
    )
    monkeypatch.setattr(_parallel, "train_command", _python(code))
    started, finished = [], []
    outcomes = run_jobs(
        _jobs(tmp_path, 4), parallel=2, threads=1, on_start=started.append,
        on_finish=finished.append, poll_s=0.05,
    )  # fmt: skip
    assert [j.name for j in started] == ["job0", "job1", "job2", "job3"]
    assert sorted(o.job.name for o in outcomes) == ["job0", "job1", "job2", "job3"]
    assert all(o.ok and o.seconds >= 0.6 for o in outcomes) and finished == outcomes
    spans = []
    for i in range(4):
        lines = (tmp_path / f"job{i}" / "train.log").read_text().splitlines()
        assert lines[1] == "threads 1"
        spans.append(tuple(map(float, lines[0].split())))
    for t in (start for start, _ in spans):
        assert sum(a <= t < b for a, b in spans) <= 2


def test_no_job_starts_after_one_failed(tmp_path, monkeypatch):
    monkeypatch.setattr(
        _parallel, "train_command", _python("import sys; print('boom'); sys.exit(3)")
    )
    outcomes = run_jobs(_jobs(tmp_path, 3), parallel=1, poll_s=0.05)
    assert [(o.job.name, o.returncode, o.ok, o.stopped) for o in outcomes] == [
        ("job0", 3, False, False)
    ]
    assert _parallel.log_tail(tmp_path / "job0" / "train.log") == "boom"
    with pytest.raises(ValueError, match="at least 1"):
        run_jobs([], parallel=0)


def test_an_interrupted_parent_stops_its_children_and_waits_for_them(tmp_path, monkeypatch):
    # the child stands in for a trainer: SIGTERM -> it writes its checkpoint and exits 130
    code = (
        "import signal, sys, time\n"
        "def stop(*_):\n"
        "    open(sys.argv[1] + '.checkpoint', 'w').write('saved'); sys.exit(130)\n"
        "signal.signal(signal.SIGTERM, stop)\n"
        "print('ready', flush=True)\n"
        "time.sleep(60)\n"
    )
    monkeypatch.setattr(_parallel, "train_command", _python(code))
    jobs = _jobs(tmp_path, 3)

    def interrupt_once_both_run(job):
        if job.name == "job1":
            deadline = time.time() + 30
            while time.time() < deadline and not all(
                j.log.is_file() and "ready" in j.log.read_text() for j in jobs[:2]
            ):
                time.sleep(0.05)
            raise KeyboardInterrupt

    started = time.perf_counter()
    with pytest.raises(KeyboardInterrupt):
        run_jobs(jobs, parallel=2, on_start=interrupt_once_both_run, poll_s=0.05)
    assert time.perf_counter() - started < 30  # the children did not sleep their minute
    for job in jobs[:2]:
        assert (job.log.parent / "train.log.checkpoint").read_text() == "saved"
    assert not jobs[2].log.exists()  # never started
