"""Training runs side by side, each one an ``evclip train`` command in a child process.

Small models train best on one CPU thread each (more threads spin while they wait for each
other), so on a machine with several cores independent runs finish sooner side by side than one
after another. Each child runs the same ``evclip train`` as a user would, with the run's saved
config and one thread, so a run gives the same result whichever way it was started. Its output
goes to a log file beside its results.

Stopping: Ctrl-C in a terminal reaches the children too (they share its process group); each
writes a checkpoint after its current step and exits, and the next call resumes it. A SIGINT or
SIGTERM sent to the parent alone is passed on to the children as SIGTERM, which they handle the
same way. A second interrupt of the parent kills them.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

#: exit statuses of a child that stopped on request (its checkpoint is written)
STOPPED = {130, 143, -signal.SIGINT, -signal.SIGTERM}


@dataclass(frozen=True)
class Job:
    """One training run to launch."""

    name: str  # what messages call it
    config: Path  # the run's complete config file
    log: Path  # where its output goes (appended)
    resume: bool = False


@dataclass(frozen=True)
class Outcome:
    """How a job ended."""

    job: Job
    returncode: int
    seconds: float

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    @property
    def stopped(self) -> bool:
        return self.returncode in STOPPED


def child_environment(threads: int) -> dict[str, str]:
    """The parent's environment with the thread pools of torch, OpenMP and BLAS set to
    ``threads`` (0: as they are) and no download progress bars."""
    env = dict(os.environ, HF_HUB_DISABLE_PROGRESS_BARS="1", PYTHONUNBUFFERED="1")
    if threads > 0:
        for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
            env[name] = str(threads)
    return env


def train_command(job: Job) -> list[str]:
    """``python -m evclip.cli train CONFIG --quiet [--resume]``."""
    command = [sys.executable, "-m", "evclip.cli", "train", str(job.config), "--quiet"]
    return [*command, "--resume"] if job.resume else command


def log_tail(path: Path, lines: int = 15) -> str:
    """The last ``lines`` lines of a log file ('' when it cannot be read)."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def run_jobs(
    jobs: Sequence[Job],
    *,
    parallel: int,
    threads: int = 1,
    on_start: Callable[[Job], None] = lambda job: None,
    on_finish: Callable[[Outcome], None] = lambda outcome: None,
    poll_s: float = 0.2,
) -> list[Outcome]:
    """Run ``jobs`` in order, at most ``parallel`` at a time.

    No new job starts after one has failed or stopped; those running are waited for. Returns
    the outcomes of the jobs that ran, in the order they ended.

    Raises:
        KeyboardInterrupt: the parent was interrupted; the children were asked to stop (and
            were waited for) first.
    """
    if parallel < 1:
        raise ValueError(f"parallel must be at least 1, got {parallel}")
    env = child_environment(threads)
    waiting = list(jobs)
    running: dict[subprocess.Popen, tuple[Job, float]] = {}
    outcomes: list[Outcome] = []
    try:
        while waiting or running:
            healthy = all(o.ok for o in outcomes)
            while healthy and waiting and len(running) < parallel:
                job = waiting.pop(0)
                job.log.parent.mkdir(parents=True, exist_ok=True)
                with open(job.log, "a") as log:
                    process = subprocess.Popen(
                        train_command(job), stdout=log, stderr=subprocess.STDOUT, env=env
                    )
                running[process] = (job, time.perf_counter())
                on_start(job)
            if not healthy:
                waiting.clear()
            time.sleep(poll_s)
            for process in [p for p in running if p.poll() is not None]:
                job, started = running.pop(process)
                outcome = Outcome(job, int(process.returncode), time.perf_counter() - started)
                outcomes.append(outcome)
                on_finish(outcome)
    except KeyboardInterrupt:
        _stop(running)
        raise
    return outcomes


def _stop(running: dict[subprocess.Popen, tuple[Job, float]]) -> None:
    """Ask every child to stop (SIGTERM: checkpoint, then exit) and wait; on a second
    interrupt, kill them."""
    for process in running:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    try:
        for process in running:
            process.wait()
    except KeyboardInterrupt:
        for process in running:
            process.kill()
        raise
