"""``evclip demo [OUT]``: the whole story on the offline benchmark, in minutes on a laptop CPU.

Builds evclip's offline benchmark (``evclip synth-dataset``; an existing complete build is
reused), takes the pre-trained tiny CLIP that ships with evclip (``evclip-tiny-bench``), trains
SAFE (paper variant, RGB + events + class text) and the two single-modality floors (RGB only,
events only: the same head, CLIP, budget and data), evaluates them on the held-out test clips
and writes a report::

    OUT/benchmark/                 the benchmark (or --benchmark DIR)
    OUT/runs/<model>/seed<k>/      each training run (evclip train's output folder)
    OUT/cache/                     the frozen CLIP's cached features
    OUT/report/                    report.md, metrics.json, plots/<model>/*.png

The experiments are the shipped configs ``demo_safe``, ``demo_rgb`` and ``demo_events``. The
model of each run is chosen on a validation split carved from the training clips
(``demo_val``: a fixed fifth of every class; training uses the rest, ``demo_fit``); the test
clips are only ever scored. Re-running the command continues where it stopped: finished runs
are reused, interrupted ones resume from their last checkpoint, the cache and the benchmark
keep what they hold.

Runs train side by side, each an ``evclip train`` child process on one thread with its log in
``OUT/runs/<model>/seed<k>/train.log`` (``--jobs``; by default as many as the cores allow);
``--jobs 1`` trains them one after another in this process, with progress bars. Both give the
same numbers. ``--ablations`` trains the paper's Table 4 rows instead of the floors and adds
linear probes on the same frozen tokens (:mod:`evclip.engine.probe`), which tell whether the
inputs or the head limit the rows.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shlex
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from evclip.cli._common import add_quiet_option, add_workers_option, at_least_one

DEFAULT_OUT = "demo_out"
DEFAULT_CLIP = "evclip-tiny-bench"
FIT_SPLIT, VAL_SPLIT = "demo_fit", "demo_val"
VAL_FRACTION = 0.2
SPLIT_SEED = 0  # the validation clips do not change with the training seed


class DemoError(RuntimeError):
    """The demo cannot go on (a run failed); the message says what to do."""


@dataclass(frozen=True)
class DemoModel:
    """One row of the demo's table."""

    key: str  # folder and JSON name
    name: str  # what the table shows
    config: str  # shipped experiment file
    overrides: tuple[str, ...] = ()  # ``key.sub=value`` changes to it


MODELS = (
    DemoModel("safe", "SAFE (RGB + events + text)", "demo_safe"),
    DemoModel("rgb", "RGB only", "demo_rgb"),
    DemoModel("events", "events only", "demo_events"),
)

#: ``--ablations``: the paper's Table 4 in miniature, and the public code's variant, each one
#: change to ``demo_safe`` (whose runs the demo shares: same folder, same settings), and one
#: diagnostic row of ours.
ABLATIONS = (
    MODELS[0],
    DemoModel("reference", "reference variant (public code)", "demo_safe",
              ("method.args.variant=reference",)),
    DemoModel("no_text", "w/o semantic text tokens", "demo_safe", ("method.args.use_text=false",)),
    DemoModel("no_mmt", "w/o multi-modal Transformers", "demo_safe",
              ("method.args.use_multimodal=false",)),
    DemoModel("no_sa", "w/o self-attention", "demo_safe",
              ("method.args.use_self_attention=false",)),
    DemoModel("no_ca", "w/o cross-attention", "demo_safe",
              ("method.args.use_cross_attention=false",)),
    DemoModel("vit", "ViT without language pre-training", "demo_safe", ("method.args.vision=vit",)),
    # not in the paper: all three fusion stages gone, only the final fusion block left (does
    # any one stage matter when the others remain, or none at all?)
    DemoModel("fusion_only", "w/o MMT, SA and CA (final fusion only)", "demo_safe",
              ("method.args.use_multimodal=false", "method.args.use_self_attention=false",
               "method.args.use_cross_attention=false")),
)  # fmt: skip


def demo_models(args: argparse.Namespace) -> tuple[DemoModel, ...]:
    """The rows of this call's table: the floors, or (``--ablations``) the ablations."""
    return ABLATIONS if args.ablations else MODELS


def quick_benchmark_config():
    """The ``--quick`` benchmark: the small preset's 12 classes with a few short 32 px clips."""
    from evclip.datasets.synthetic import SyntheticConfig

    return replace(
        SyntheticConfig.small(),
        name="demo-quick",
        train_per_class=3,
        test_per_class=1,
        zeroshot_per_class=1,
        fewshot_k=(1,),
        n_captions=2,
        image_size=32,
        digit_size=(14, 18),
        n_subframes=50,
        period_subframes=8,
        event_window_subframes=2,
    )


#: overrides of every run under ``--quick``: one epoch of a few steps (it checks the plumbing,
#: not a claim).
QUICK_OVERRIDES = (
    "optim.epochs=1",
    "data.batch_size=8",
    "method.args.dim=32",
    "method.args.heads=2",
)


# --- the benchmark and its validation split ------------------------------------------------------
def ensure_benchmark(root: Path, *, quick: bool, workers: int, progress: bool) -> dict[str, Any]:
    """Build the benchmark under ``root``, or finish or reuse a build there; its manifest."""
    from evclip.datasets.synthetic import build_synthetic_benchmark

    if quick:
        config = quick_benchmark_config()
        return build_synthetic_benchmark(root, config=config, workers=workers, progress=progress)
    return build_synthetic_benchmark(root, size="full", workers=workers, progress=progress)


def carve_validation(
    root: Path, fraction: float = VAL_FRACTION, seed: int = SPLIT_SEED
) -> dict[str, int]:
    """Split ``train_label.txt`` into ``demo_fit`` and ``demo_val`` list files, per class.

    Every class with at least two training clips gives ``round(fraction * n)`` of them (at
    least one) to validation, chosen by a seeded permutation; the files are rewritten only when
    their content would change. Returns the number of clips in each.
    """
    import numpy as np

    from evclip.datasets.synthetic_layout import write_atomic

    path = root / "train_label.txt"
    lines = [line for line in path.read_text().splitlines() if line.strip()]
    by_label: dict[str, list[int]] = {}
    for i, line in enumerate(lines):
        fields = line.split()
        if len(fields) != 3:
            raise ValueError(f"{path}: line {i + 1} is not '<sample> <frames> <label>': {line!r}")
        by_label.setdefault(fields[2], []).append(i)
    rng = np.random.default_rng(seed)
    val: set[int] = set()
    for label in sorted(by_label, key=int):
        rows = by_label[label]
        if len(rows) < 2:
            continue
        take = min(len(rows) - 1, max(1, round(fraction * len(rows))))
        val.update(rows[j] for j in rng.permutation(len(rows))[:take].tolist())
    parts = {
        FIT_SPLIT: [line for i, line in enumerate(lines) if i not in val],
        VAL_SPLIT: [line for i, line in enumerate(lines) if i in val],
    }
    for name, chosen in parts.items():
        target, text = root / f"{name}_label.txt", "\n".join(chosen) + "\n"
        if not target.is_file() or target.read_text() != text:
            write_atomic(target, text)
    return {name: len(chosen) for name, chosen in parts.items()}


# --- the runs ------------------------------------------------------------------------------------
def demo_config(args: argparse.Namespace, layout: dict[str, Path], model: DemoModel, seed: int):
    """The experiment of one run of ``model``: its shipped config placed inside the demo's
    folder (paths are set on the config, not parsed as override strings)."""
    from evclip.engine.config import load_config

    overrides = [*model.overrides, *(QUICK_OVERRIDES if args.quick else ())]
    if args.quiet:
        overrides.append("run.progress=false")
    config = load_config(model.config, overrides)
    config.data.root = str(layout["benchmark"])
    config.data.train_split, config.data.val_split = FIT_SPLIT, VAL_SPLIT
    config.run.out_dir = str(layout["runs"] / model.key / f"seed{seed}")
    config.run.cache_dir = str(layout["cache"])
    config.run.seed = seed
    config.method.args.update(clip=args.clip, seed=seed)
    return config


def run_state(config) -> str:
    """``"done"`` (a finished run of this config), ``"resume"``, or ``"new"``.

    Raises:
        ValueError: the folder holds a run of a different experiment.
    """
    from evclip.engine.checkpoint import read_pointer
    from evclip.engine.config import config_differences, config_from_dict, load_yaml

    out = Path(config.run.out_dir)
    saved = out / "config.yaml"
    if saved.is_file():
        changed = config_differences(config_from_dict(load_yaml(saved.read_text())), config)
        changed = [k for k in changed if k != "run.progress"]
        if changed:
            raise ValueError(
                f"{out}: holds a run with different settings ({', '.join(changed)}); "
                "give the demo another output folder or delete this one"
            )
    if (out / "metrics.json").is_file() and (out / "model").is_dir():
        warn_if_other_code(out)
        return "done"
    if read_pointer(out / "checkpoints", "latest") is not None:
        return "resume"
    return "new"


def warn_if_other_code(out: Path) -> None:
    """A finished run is reused on its config alone; say so when other evclip code trained it
    (its numbers may differ from what this code would give)."""
    import json

    from evclip.engine.experiment import code_identity

    try:
        then = json.loads((out / "metrics.json").read_text()).get("code")
    except (OSError, ValueError):
        return  # read_run reports a broken metrics.json with its path
    now = code_identity()
    if then != now:
        known = isinstance(then, dict)
        trained_by = (
            f"evclip {then.get('evclip')} ({then.get('source')})" if known else "an older evclip"
        )
        print(
            f"evclip demo: warning: {out} was trained by {trained_by}, not by this evclip "
            f"{now['evclip']} ({now['source']}); its results are reused: delete the folder to "
            "train it again",
            file=sys.stderr,
        )


def train_one(config) -> tuple[str, float]:
    """Train (or resume, or reuse) one run; returns (what happened, seconds)."""
    from evclip.engine.experiment import train_experiment

    state = run_state(config)
    started = time.perf_counter()
    if state != "done":
        train_experiment(config, resume=state == "resume")
    return state, time.perf_counter() - started


# --- the whole demo ------------------------------------------------------------------------------
def folders(args: argparse.Namespace) -> dict[str, Path]:
    out = Path(args.output)
    bench = Path(args.benchmark) if args.benchmark else out / "benchmark"
    return {
        "out": out,
        "benchmark": bench,
        "runs": out / "runs",
        "cache": out / "cache",
        "report": out / ("report_ablations" if args.ablations else "report"),
    }


def reproduce_command(args: argparse.Namespace) -> str:
    """The command line that reproduces the report (the options that change results)."""
    words = ["evclip", "demo", args.output]
    if args.quick:
        words.append("--quick")
    if args.ablations:
        words.append("--ablations")
    if args.seeds != 1:
        words += ["--seeds", str(args.seeds)]
    if args.clip != DEFAULT_CLIP:
        words += ["--clip", args.clip]
    if args.benchmark:
        words += ["--benchmark", args.benchmark]
    return shlex.join(words)


@contextlib.contextmanager
def limited_threads(threads: int):
    """torch's threads and the OpenMP / BLAS pools of numpy and scikit-learn limited to
    ``threads`` inside the block (0: leave them as they are).

    The demo's operations are small: on a machine that other programs keep busy, OpenMP threads
    that wait for each other spin, and two threads ran the head 10x and t-SNE 100x slower
    than one on a loaded 2-core machine.
    """
    import torch

    if threads <= 0:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # scikit-learn brings it; without it only torch is limited
        limits = contextlib.nullcontext()
    else:
        limits = threadpool_limits(threads)
    try:
        with limits:
            yield
    finally:
        torch.set_num_threads(before)


def _stage(text: str, started: float) -> None:
    print(f"[evclip demo {time.perf_counter() - started:6.1f} s] {text}", file=sys.stderr)


def run(args: argparse.Namespace) -> int:
    from transformers.utils import logging as transformers_logging

    bars = transformers_logging.is_progress_bar_enabled()
    if args.quiet:  # transformers draws its own bar while loading weights
        transformers_logging.disable_progress_bar()
    try:
        with limited_threads(args.threads):
            return run_demo(args)
    except DemoError as err:
        print(f"evclip demo: error: {err}", file=sys.stderr)
        return 1
    finally:
        if bars:
            transformers_logging.enable_progress_bar()


def run_demo(args: argparse.Namespace) -> int:
    """The demo (see the module docstring); returns the exit status."""
    started = time.perf_counter()
    layout = folders(args)
    layout["out"].mkdir(parents=True, exist_ok=True)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    _stage(f"benchmark in {layout['benchmark']}", started)
    manifest = ensure_benchmark(
        layout["benchmark"], quick=args.quick, workers=args.workers, progress=not args.quiet
    )
    sizes = carve_validation(layout["benchmark"])
    timings = {"benchmark": round(time.perf_counter() - started, 1)}
    _stage(f"benchmark ready: {manifest['counts']}; fit/val {sizes}", started)
    results = train_all(args, layout, timings, started)
    if results is None:
        return 130
    facts = {"manifest": manifest, "sizes": sizes, "timings": timings, "load": load}
    if args.ablations:
        _stage("linear probes on the frozen CLIP tokens", started)
        facts["probes"] = run_probes(args, layout)
    timings["total"] = round(time.perf_counter() - started, 1)
    paths, rows = write_demo_report(args, layout, results, facts)
    _stage(f"report: {paths['report']}", started)
    from evclip.engine.report import compare, results_table

    print(results_table(rows))
    print("\n" + "\n".join(compare(rows, demo_models(args)[0].key)))
    if "probes" in facts:
        print("\n" + probe_note(facts["probes"]))
    print(f"\n{timings['total']:.0f} s in all; report in {paths['report']}")
    return 0


def train_all(args: argparse.Namespace, layout: dict[str, Path], timings: dict, started: float):
    """Train (or resume, or reuse) every model and seed; their results, or None when a run
    was interrupted (its checkpoint is saved; the next call continues) or failed."""
    from evclip.engine.report import read_run

    planned = [
        (model, seed, demo_config(args, layout, model, seed))
        for seed in range(args.seeds)
        for model in demo_models(args)
    ]
    if demo_jobs(args, len(planned)) > 1:
        finished = train_side_by_side(args, planned, started)
    else:
        finished = train_in_turn(args, planned, started)
    if finished is None:
        return None
    results = []
    for model, seed, config in planned:
        state, seconds = finished[(model.key, seed)]
        timings[f"{model.key}/seed{seed}"] = {"state": state, "seconds": round(seconds, 1)}
        results.append(
            read_run(
                config.run.out_dir,
                key=model.key,
                model=model.name,
                seed=seed,
                seconds=round(seconds, 1),
            )  # fmt: skip
        )
    return results


def demo_jobs(args: argparse.Namespace, runs: int) -> int:
    """How many runs train at once: ``--jobs``, or one per ``--threads`` threads of the
    machine's cores (at most the number of runs)."""
    if args.jobs is not None:
        return min(args.jobs, max(runs, 1))
    if args.threads <= 0:
        return 1
    return max(1, min(runs, (os.cpu_count() or 1) // args.threads))


def train_in_turn(args, planned, started) -> dict | None:
    """One run after another in this process; {(model key, seed): (state, seconds)}."""
    from evclip.engine.trainer import TrainingInterrupted

    finished = {}
    for model, seed, config in planned:
        _stage(f"{model.name}, seed {seed}: {config.run.out_dir}", started)
        try:
            finished[(model.key, seed)] = train_one(config)
        except TrainingInterrupted as err:
            stopped = str(err).split("; resume")[0]
            print(
                f"evclip demo: {model.name}, seed {seed}: {stopped} (checkpoint saved); "
                f"continue with: {reproduce_command(args)}",
                file=sys.stderr,
            )
            return None
    return finished


def train_side_by_side(args, planned, started) -> dict | None:
    """The runs in ``evclip train`` child processes, ``demo_jobs`` at a time (one thread
    each); {(model key, seed): (state, seconds)}, or None when one stopped or failed."""
    from evclip.cli._parallel import Job, log_tail, run_jobs
    from evclip.engine.config import save_config

    finished, jobs, names = {}, [], {}
    for model, seed, config in planned:
        state = run_state(config)
        if state == "done":
            finished[(model.key, seed)] = (state, 0.0)
            continue
        out = Path(config.run.out_dir)
        out.mkdir(parents=True, exist_ok=True)
        save_config(config, out / "config.yaml")  # the child's --quiet turns its bars off
        job = Job(f"{model.name}, seed {seed}", out / "config.yaml", out / "train.log",
                  resume=state == "resume")  # fmt: skip
        jobs.append(job)
        names[job] = (model.key, seed, state)
    parallel = demo_jobs(args, len(jobs))
    if jobs:
        _stage(f"{len(jobs)} runs, {parallel} at a time; each logs to its train.log", started)

    def finish(outcome) -> None:
        key, seed, state = names[outcome.job]
        if outcome.ok:
            finished[(key, seed)] = (state, outcome.seconds)
            _stage(f"{outcome.job.name}: done in {outcome.seconds:.0f} s", started)
        elif outcome.stopped:
            _stage(f"{outcome.job.name}: stopped (checkpoint saved)", started)
        else:
            print(
                f"evclip demo: {outcome.job.name} failed (exit status {outcome.returncode}); "
                f"the end of {outcome.job.log}:\n{log_tail(outcome.job.log)}",
                file=sys.stderr,
            )

    try:
        outcomes = run_jobs(
            jobs, parallel=parallel, threads=max(args.threads, 0),
            on_start=lambda job: _stage(f"{job.name}: started ({job.config.parent})", started),
            on_finish=finish,
        )  # fmt: skip
    except KeyboardInterrupt:
        print(f"evclip demo: runs stopped (checkpoints saved); continue with: "
              f"{reproduce_command(args)}", file=sys.stderr)  # fmt: skip
        raise
    if all(o.ok for o in outcomes) and len(outcomes) == len(jobs):
        return finished
    if any(not o.ok and not o.stopped for o in outcomes):
        raise DemoError("a training run failed (its log is above); fix it and run again")
    print(f"evclip demo: stopped; continue with: {reproduce_command(args)}", file=sys.stderr)
    return None


def run_probes(args: argparse.Namespace, layout: dict[str, Path]) -> list[dict[str, Any]]:
    """``--ablations``: linear probes on the frozen CLIP tokens every row trained on (seed 0's
    ``demo_safe``; the runs filled its feature cache), frames in order and averaged."""
    from evclip.engine.probe import linear_probe

    config = demo_config(args, layout, MODELS[0], 0)
    return [result.to_dict() for result in linear_probe(config)]


def probe_note(probes: list[dict[str, Any]]) -> str:
    """One report line: what a linear probe on the same frozen tokens reaches on the test
    clips, so that the ablations can be read against it."""
    described = {"frames": "every frame's tokens in order", "mean": "tokens averaged over frames"}
    parts = [
        f"{described.get(p['pooling'], p['pooling'])}: {100 * p['test_top1']:.2f}% top-1, "
        f"{100 * p['test_top5']:.2f}% top-5 (C={p['chosen_c']:g})"
        for p in probes
        if p["test_top1"] is not None
    ]
    return (
        "Linear probes on the same frozen CLIP tokens, no fusion head (logistic regression, C "
        f"chosen on `{VAL_SPLIT}`, `evclip probe demo_safe ...`): " + "; ".join(parts) + ". "
        "A row at the probes' level is limited by what the frozen tokens hold, not by the "
        "stage it lacks: the head has nothing left to add."
    )


def cpu_seconds() -> dict[str, float]:
    """CPU time of this process and of its finished children (the benchmark's workers)."""
    import resource

    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return {
        "process": round(own.ru_utime + own.ru_stime, 1),
        "children": round(children.ru_utime + children.ru_stime, 1),
    }


def write_demo_report(args, layout, results, facts):
    """``OUT/report``: the table, the comparison of SAFE with the floors, notes, plots."""
    import torch

    from evclip.engine.report import aggregate, compare, write_report

    rows = aggregate(results)
    comparison = compare(rows, demo_models(args)[0].key)
    notes = [*comparison, *demo_notes(args, facts)]
    if "probes" in facts:
        notes.insert(len(comparison), probe_note(facts["probes"]))
    extra = {
        "comparison": comparison,
        "seconds": facts["timings"],
        "cpu_seconds": cpu_seconds(),
        "machine": {
            "cpus": os.cpu_count(),
            "torch_threads": torch.get_num_threads(),
            "load_average_at_start": facts["load"],
        },
        "benchmark": {
            "root": str(layout["benchmark"]),
            "counts": facts["manifest"]["counts"],
            "validation": facts["sizes"],
        },
    }
    if "probes" in facts:
        extra["linear_probes"] = facts["probes"]
    paths = write_report(
        layout["report"],
        results,
        title=(
            "evclip demo --ablations: SAFE's Table 4 in miniature on the offline benchmark"
            if args.ablations
            else "evclip demo: SAFE against single-modality floors on the offline benchmark"
        ),
        command=reproduce_command(args),
        notes=notes,
        extra=extra,
    )
    return paths, rows


def demo_notes(args: argparse.Namespace, facts: dict[str, Any]) -> list[str]:
    """The report's notes: data, model, selection rule, timing."""
    counts, sizes, timings = facts["manifest"]["counts"], facts["sizes"], facts["timings"]
    cpu = cpu_seconds()
    load = facts["load"]
    notes = [
        f"Benchmark: {counts['classes']} classes ({counts['train']} training clips, of which "
        f"{sizes[VAL_SPLIT]} are the validation split `{VAL_SPLIT}` and {sizes[FIT_SPLIT]} train "
        f"(`{FIT_SPLIT}`); {counts['test']} test clips of held-out handwriting). The classifier "
        "scores every class name, including the zero-shot-only ones.",
        f"CLIP: `{args.clip}`, frozen; its features are computed once and cached. "
        + (
            "Every row is `demo_safe` with these changes: "
            + "; ".join(f"{m.name}: `{' '.join(m.overrides)}`" for m in ABLATIONS[1:])
            + ". The ViT row's random vision tower stays frozen too (the paper fine-tunes it)."
            if args.ablations
            else "The three models share the head, budget and data; only the modalities they "
            "read differ (configs `demo_safe`, `demo_rgb`, `demo_events`)."
        ),
        "Each run's model is the checkpoint with the best validation top-1; the test split is "
        "only scored, never used to choose.",
        "Absolute accuracies are low by design of the budget: CLIP stays frozen with one token "
        "(CLS) per frame, where the paper fine-tunes CLIP on all its patch tokens, and the tiny "
        "CLIP never saw an event image. The demo compares the three models under one budget; "
        "it does not measure how well SAFE can do on this benchmark.",
        f"Wall time {timings['total']:.0f} s (benchmark {timings['benchmark']:.0f} s) on "
        f"{os.cpu_count()} CPUs with {args.threads or 'default'} torch thread(s); CPU time "
        f"{cpu['process']:.0f} s in this process, {cpu['children']:.0f} s in benchmark workers"
        + (f"; load average {load:.1f} at start." if load is not None else "."),
    ]
    if args.quick:
        notes.insert(
            0,
            "--quick: a few training steps on a tiny benchmark; the numbers check "
            "the plumbing, not any claim.",
        )
    return notes


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="build the offline benchmark, train SAFE and single-modality floors, report",
        description=(
            "Build evclip's offline benchmark, train SAFE (RGB + events + class text) and the "
            "RGB-only and events-only floors on the pre-trained tiny CLIP, evaluate them on the "
            "held-out test clips and write OUT/report (report.md, metrics.json, plots). "
            "Re-running continues where it stopped."
        ),
    )
    parser.add_argument(
        "output", nargs="?", default=DEFAULT_OUT, help=f"output folder ({DEFAULT_OUT})"
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="a tiny benchmark and a few steps (checks the plumbing in seconds)",
    )
    parser.add_argument("--seeds", type=at_least_one, default=1, help="seeds per model (1)")
    parser.add_argument(
        "--ablations",
        action="store_true",
        help="instead of the floors, train the paper's Table 4 ablations and the public code's "
        "variant (report in OUT/report_ablations)",
    )
    parser.add_argument(
        "--benchmark",
        default=None,
        metavar="DIR",
        help="benchmark folder to build or reuse (default OUT/benchmark)",
    )
    parser.add_argument(
        "--clip", default=DEFAULT_CLIP, help=f"CLIP for evclip.backbones.load_clip ({DEFAULT_CLIP})"
    )
    parser.add_argument(
        "--threads", type=int, default=1,
        help="threads of torch, numpy and scikit-learn (1; 0 leaves their defaults)",
    )  # fmt: skip
    parser.add_argument(
        "--jobs", type=at_least_one, default=None,
        help="runs trained at once, each an `evclip train` process with its own log (default: "
        "the cores divided by --threads; 1 trains in this process with progress bars)",
    )  # fmt: skip
    add_workers_option(parser, "benchmark rendering processes")
    add_quiet_option(parser)
    parser.set_defaults(func=run)
