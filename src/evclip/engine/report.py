"""Results across several runs: one table, ``metrics.json`` and ``report.md``.

Every run is a folder written by :func:`evclip.engine.experiment.train_experiment` (its
``metrics.json`` holds the validation summary and the full test metrics of
:func:`evclip.engine.metrics.classification_metrics`; its ``plots/`` the engine's PNGs). This
module reads those files, groups the runs by model, takes the mean and the spread over seeds,
and writes::

    report.md        the results table, the command that reproduces it, notes, the plots
    metrics.json     the same numbers: per model the per-seed values, mean and std
    plots/<model>/   the engine's plots of each model's first seed (copied)

Nothing here computes a metric: the numbers are those the engine wrote. Accuracies are kept as
fractions in ``metrics.json`` and shown as percentages with :data:`DECIMALS` decimals in the
table, so that the table can be read back (:func:`parse_table`) and checked against the JSON.
"""

from __future__ import annotations

import json
import math
import shutil
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from evclip.engine.checkpoint import atomic_write_text

#: the metrics of the table, in column order, with their column titles.
COLUMNS = {"top1": "top-1 (%)", "top5": "top-5 (%)", "mean_per_class": "mean per-class (%)"}
DECIMALS = 2
PLOTS = ("curves.png", "confusion.png", "tsne.png", "predictions.png")


class ReportError(ValueError):
    """A run folder lacks the results a report needs; the message names the file."""


@dataclass
class RunResult:
    """The results of one finished run (one model, one seed)."""

    key: str  # short model id, e.g. "safe" (folder names, JSON keys)
    model: str  # what the table shows, e.g. "SAFE (RGB + events)"
    seed: int
    run_dir: Path
    test: dict[str, Any]  # the test summary: top1, top5, mean_per_class, num_samples
    val: dict[str, Any] = field(default_factory=dict)
    seconds: float | None = None  # wall time the run took (None: not measured)


def read_run(
    run_dir: str | Path, *, key: str, model: str, seed: int, seconds: float | None = None
) -> RunResult:
    """The results a finished run wrote to ``run_dir/metrics.json``.

    Raises:
        ReportError: no ``metrics.json``, unreadable JSON, or no test results in it.
    """
    path = Path(run_dir) / "metrics.json"
    try:
        metrics = json.loads(path.read_text())
    except FileNotFoundError:
        raise ReportError(f"{path}: missing; the run has not finished") from None
    except (OSError, ValueError) as err:
        raise ReportError(f"{path}: unreadable ({err})") from None
    test = metrics.get("test") if isinstance(metrics, dict) else None
    if not isinstance(test, Mapping) or any(k not in test for k in COLUMNS):
        raise ReportError(f"{path}: no test results (keys {', '.join(COLUMNS)} under 'test')")
    summary = {k: test[k] for k in (*COLUMNS, "num_samples") if k in test}
    return RunResult(
        key, model, seed, Path(run_dir), summary, dict(metrics.get("val") or {}), seconds
    )


def _stats(values: Sequence[float]) -> dict[str, Any]:
    """Mean and sample standard deviation (None for a single value) of fractions."""
    values = [float(v) for v in values]
    std = statistics.stdev(values) if len(values) > 1 else None
    return {"mean": statistics.fmean(values), "std": std, "values": values}


def aggregate(results: Sequence[RunResult]) -> list[dict[str, Any]]:
    """One row per model (in order of first appearance): per-metric mean/std over seeds.

    Returns:
        ``[{"key", "model", "seeds": [...], "num_samples", "test": {metric: {"mean", "std",
        "values"}}, "val": {...}}]``; ``val`` holds only the metrics every seed recorded.
    """
    groups: dict[str, list[RunResult]] = {}
    for result in results:
        groups.setdefault(result.key, []).append(result)
    rows = []
    for key, group in groups.items():
        group = sorted(group, key=lambda r: r.seed)
        seeds = [r.seed for r in group]
        if len(set(seeds)) != len(seeds):
            raise ReportError(f"model {key!r}: seed listed twice ({seeds})")
        val_keys = [k for k in COLUMNS if all(k in r.val for r in group)]
        rows.append(
            {
                "key": key,
                "model": group[0].model,
                "seeds": seeds,
                "num_samples": group[0].test.get("num_samples"),
                "test": {k: _stats([r.test[k] for r in group]) for k in COLUMNS},
                "val": {k: _stats([r.val[k] for r in group]) for k in val_keys},
                "runs": [str(r.run_dir) for r in group],
                "seconds": [r.seconds for r in group],
            }
        )
    return rows


def format_cell(stats: Mapping[str, Any]) -> str:
    """``"62.50"`` or, over several seeds, ``"62.50 ± 1.20"`` (percent)."""
    text = f"{100 * stats['mean']:.{DECIMALS}f}"
    if stats.get("std") is not None:
        text += f" ± {100 * stats['std']:.{DECIMALS}f}"
    return text


def results_table(rows: Sequence[Mapping[str, Any]]) -> str:
    """The Markdown results table: model, the metrics of :data:`COLUMNS`, seeds."""
    header = ["model", *COLUMNS.values(), "seeds"]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(" --- " for _ in header) + "|"]
    for row in rows:
        cells = [row["model"], *(format_cell(row["test"][k]) for k in COLUMNS)]
        cells.append(str(len(row["seeds"])))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def parse_table(text: str) -> dict[str, dict[str, Any]]:
    """Read a table written by :func:`results_table` back (the first one in ``text``).

    Returns:
        ``{model: {metric: {"mean": fraction, "std": fraction | None}, "seeds": int}}``.
    """
    lines = [line.strip() for line in text.splitlines()]
    header = ["model", *COLUMNS.values(), "seeds"]
    start = next((i for i, line in enumerate(lines) if _cells(line) == header), None)
    if start is None:
        raise ReportError("no results table (its header row was not found)")
    out: dict[str, dict[str, Any]] = {}
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        cells = _cells(line)
        row: dict[str, Any] = {"seeds": int(cells[-1])}
        for key, cell in zip(COLUMNS, cells[1:-1], strict=True):
            mean, _, std = cell.partition("±")
            row[key] = {
                "mean": float(mean) / 100,
                "std": float(std) / 100 if std.strip() else None,
            }
        out[cells[0]] = row
    return out


def _cells(line: str) -> list[str]:
    return [c.strip() for c in line.strip().strip("|").split("|")]


def compare(rows: Sequence[Mapping[str, Any]], key: str, metric: str = "top1") -> list[str]:
    """Sentences comparing model ``key`` with every other row on ``metric`` (mean over seeds).

    The standard error of a difference of two accuracies p1, p2 on the same n test samples is
    taken as sqrt((p1 (1 - p1) + p2 (1 - p2)) / n) (seeds' spread not included); a difference
    is called clear when it exceeds two of them.
    """
    by_key = {row["key"]: row for row in rows}
    if key not in by_key:
        raise ReportError(f"no model {key!r} to compare (models: {', '.join(by_key)})")
    ours = by_key[key]
    p1, n = ours["test"][metric]["mean"], ours.get("num_samples") or 0
    out = []
    for row in rows:
        if row["key"] == key:
            continue
        p2 = row["test"][metric]["mean"]
        se = math.sqrt((p1 * (1 - p1) + p2 * (1 - p2)) / n) if n else float("nan")
        diff = p1 - p2
        if not math.isfinite(se) or se == 0:
            verdict = "no standard error (no test samples counted)"
        elif diff > 2 * se:
            verdict = "a clear margin"
        elif diff < -2 * se:
            verdict = "clearly worse"
        else:
            verdict = "within two standard errors: not a clear difference"
        out.append(
            f"{ours['model']} vs {row['model']}: {100 * diff:+.{DECIMALS}f} points of "
            f"{COLUMNS[metric].removesuffix(' (%)')} (standard error {100 * se:.{DECIMALS}f}): "
            f"{verdict}."
        )
    return out


def copy_plots(rows: Sequence[Mapping[str, Any]], folder: Path) -> dict[str, list[str]]:
    """Copy each model's first-seed plots to ``folder/plots/<key>/``; returns relative paths."""
    copied: dict[str, list[str]] = {}
    for row in rows:
        source = Path(row["runs"][0]) / "plots"
        target = folder / "plots" / row["key"]
        names = [n for n in PLOTS if (source / n).is_file()]
        if names:
            target.mkdir(parents=True, exist_ok=True)
        for name in names:
            shutil.copyfile(source / name, target / name)
        copied[row["key"]] = [f"plots/{row['key']}/{n}" for n in names]
    return copied


def _plot_section(rows: Sequence[Mapping[str, Any]], plots: Mapping[str, list[str]]) -> list[str]:
    lines = []
    for row in rows:
        files = plots.get(row["key"], [])
        if not files:
            continue
        lines += ["", f"### {row['model']} (seed {row['seeds'][0]})", ""]
        lines += [f"![{Path(f).stem}]({f})" for f in files]
    return ["", "## Plots", *lines] if lines else []


def render_markdown(
    rows: Sequence[Mapping[str, Any]],
    *,
    title: str,
    command: str,
    split: str,
    notes: Sequence[str] = (),
    plots: Mapping[str, list[str]] | None = None,
) -> str:
    """The text of ``report.md``: table, split, seeds, the reproducing command, notes, plots."""
    samples = {row.get("num_samples") for row in rows}
    count = f" ({samples.pop()} clips)" if len(samples) == 1 and None not in samples else ""
    lines = [
        f"# {title}",
        "",
        f"Test split `{split}`{count}; mean ± sample standard deviation over seeds where there "
        "are several. Reproduce with:",
        "",
        "```",
        command,
        "```",
        "",
        results_table(rows),
    ]
    if notes:
        lines += ["", "## Notes", "", *(f"- {note}" for note in notes)]
    lines += _plot_section(rows, plots or {})
    return "\n".join(lines) + "\n"


def write_report(
    folder: str | Path,
    results: Sequence[RunResult],
    *,
    title: str,
    command: str,
    split: str = "test",
    notes: Sequence[str] = (),
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Path]:
    """Write ``report.md``, ``metrics.json`` and the plots of ``results`` under ``folder``.

    Args:
        folder: the report folder (created).
        results: finished runs (see :func:`read_run`).
        title: the report's heading.
        command: the command line that reproduces the table.
        split: the split the numbers are on.
        notes: lines for the notes section (setup, timings, caveats).
        extra: more JSON-safe entries for ``metrics.json`` (timings, settings).

    Returns:
        ``{"report": path, "metrics": path}``.
    """
    if not results:
        raise ReportError("no finished runs to report")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rows = aggregate(results)
    plots = copy_plots(rows, folder)
    text = render_markdown(
        rows, title=title, command=command, split=split, notes=notes, plots=plots
    )
    payload = {
        "title": title,
        "command": command,
        "split": split,
        "models": rows,
        "notes": list(notes),
        **dict(extra or {}),
    }
    metrics_path = atomic_write_text(
        folder / "metrics.json", json.dumps(_json_safe(payload), indent=1)
    )
    report_path = atomic_write_text(folder / "report.md", text)
    return {"report": report_path, "metrics": metrics_path}


def _json_safe(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Mapping):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    return value
