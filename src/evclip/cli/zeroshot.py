"""``evclip zeroshot``: name what an event recording shows, from plain-word labels, no training.

One answer for the whole recording (JSON on stdout: the labels ranked with probabilities), or,
with ``--window-us``, a timeline: the top label of every window of a long recording written to
``--out`` (JSON lines or CSV) plus an optional PNG strip of the windows with their labels.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
from pathlib import Path
from typing import Any

MODES = ("eclip_rgb", "eclip_grey", "eventclip_grey", "ezsr")
SLICINGS = ("count", "time", "afe")
DEFAULT_WINDOWS = 2  # evclip.models.eventclip.DEFAULT_WINDOWS, without importing torch here
ROW_FIELDS = ("window", "start_us", "end_us", "events", "label", "probability")


def parse_labels(text: str | None = None, file: str | os.PathLike[str] | None = None) -> list[str]:
    """Labels from a comma-separated string or a file with one label per line.

    Blank lines of a file are skipped; an empty item of a comma-separated list is an error
    (raised with the duplicate check by :func:`evclip.models.eventclip.check_labels`).
    """
    from evclip.models.eventclip import check_labels

    if (text is None) == (file is None):
        raise ValueError("give exactly one of --labels and --labels-file")
    if file is not None:
        path = Path(file)
        if not path.is_file():
            raise FileNotFoundError(f"{path}: labels file not found")
        lines = path.read_text(encoding="utf-8-sig").splitlines()
        labels = [line.strip() for line in lines if line.strip()]
        if not labels:
            raise ValueError(f"{path}: the labels file has no labels")
        try:
            return check_labels(labels)
        except ValueError as err:
            raise ValueError(f"{path}: {err}") from None
    return check_labels(text.split(","))


def _templates(args: argparse.Namespace) -> str | list[str] | None:
    if args.template:
        return list(args.template)
    return args.templates


def _build_method(args: argparse.Namespace, labels: list[str]):
    from evclip.models import METHODS

    return METHODS.get("eventclip")(
        model=args.model,
        templates=_templates(args),
        event_image_mode=args.mode,
        windows=args.windows,
        slicing=args.slicing,
        recentre=not args.no_recentre,
        class_names=labels,
        device=args.device,
    )


def _check_args(args: argparse.Namespace) -> None:
    if args.windows is None:
        args.windows = DEFAULT_WINDOWS if args.window_us is None else 1
    if args.windows < 1:
        raise ValueError(f"--windows must be at least 1, got {args.windows}")
    if args.top is not None and args.top < 1:
        raise ValueError(f"--top must be at least 1, got {args.top}")
    timeline_only = {"--stride-us": args.stride_us, "--out": args.out, "--strip": args.strip}
    if args.window_us is None:
        given = [name for name, value in timeline_only.items() if value is not None]
        if given:
            raise ValueError(f"{', '.join(given)} need --window-us (the timeline mode)")
        return
    from evclip.zeroshot import check_window

    check_window(args.window_us, args.window_us if args.stride_us is None else args.stride_us)
    if args.out is None:
        raise ValueError("the timeline mode (--window-us) needs --out FILE (.jsonl or .csv)")
    if Path(args.out).suffix.lower() not in (".jsonl", ".csv"):
        raise ValueError(f"{args.out}: --out must end in .jsonl or .csv")
    if args.strip is not None and Path(args.strip).suffix.lower() != ".png":
        raise ValueError(f"{args.strip}: --strip must end in .png")


def _whole(args: argparse.Namespace, labels: list[str]) -> dict[str, Any]:
    from evclip.io import read_events
    from evclip.models.eventclip import zeroshot_stream

    stream = read_events(args.events, args.format)
    if len(stream) == 0:
        raise ValueError(f"{args.events}: the recording has no events")
    method = _build_method(args, labels)
    result = zeroshot_stream(method, stream, labels, windows=args.windows)
    ranking = [
        {"label": row["label"], "probability": round(row["probability"], 6)}
        for row in result.ranking(args.top)
    ]
    return {
        "file": str(args.events),
        "model": args.model,
        "windows": result.windows,
        "mode": method.event_image_mode,
        "templates": method.templates,
        "events": len(stream),
        "sensor_size": list(stream.sensor_size),
        "labels": ranking,
    }


def _write_rows(rows, path: Path) -> int:
    """Write rows to ``path`` (.jsonl or .csv) atomically; returns how many."""
    tmp = path.with_name(path.name + ".part")
    count = 0
    try:
        with open(tmp, "w", newline="", encoding="utf-8") as f:
            writer = csv.DictWriter(f, ROW_FIELDS) if path.suffix.lower() == ".csv" else None
            if writer is not None:
                writer.writeheader()
            for row in rows:
                record = row.record()
                if writer is not None:
                    writer.writerow({k: "" if v is None else v for k, v in record.items()})
                else:
                    f.write(json.dumps(record) + "\n")
                count += 1
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)
    return count


def _timeline(args: argparse.Namespace, labels: list[str]) -> dict[str, Any]:
    from tqdm import tqdm

    from evclip.zeroshot import LabelStrip, timeline

    stride_us = args.window_us if args.stride_us is None else args.stride_us
    method = _build_method(args, labels)
    strip = LabelStrip(args.strip_max, args.strip_height) if args.strip else None
    counts: dict[str, int] = {}
    progress = tqdm(desc="windows", unit="win", disable=args.quiet, file=sys.stderr)

    def on_row(row) -> None:
        progress.update(1)
        if strip is not None:
            strip.add(row)
        if row.label is not None:
            counts[row.label] = counts.get(row.label, 0) + 1

    rows = timeline(
        method, args.events, args.window_us, stride_us, format=args.format, on_row=on_row
    )
    try:
        n_rows = _write_rows(rows, Path(args.out))
    finally:
        progress.close()
    summary: dict[str, Any] = {
        "file": str(args.events),
        "model": args.model,
        "windows": n_rows,
        "images_per_window": args.windows,
        "window_us": args.window_us,
        "stride_us": stride_us,
        "mode": method.event_image_mode,
        "templates": method.templates,
        "out": str(args.out),
        "label_counts": dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))),
    }
    if strip is not None:
        width, height = strip.save(args.strip)
        summary.update(strip=str(args.strip), strip_size=[width, height])
        summary["strip_windows"] = strip.chosen()
    return summary


def run(args: argparse.Namespace) -> int:
    _check_args(args)
    labels = parse_labels(args.labels, args.labels_file)
    if not Path(args.events).is_file():
        raise FileNotFoundError(f"{args.events}: no such event file")
    summary = _whole(args, labels) if args.window_us is None else _timeline(args, labels)
    print(json.dumps(summary))
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "zeroshot",
        help="name what an event recording shows from a list of labels (no training)",
        description="Training-free zero-shot recognition (EventCLIP's recipe): event images of "
        "K windows, a frozen CLIP, a prompt-template ensemble. Prints JSON.",
    )
    parser.add_argument("--events", required=True, help="an event file in any readable format")
    labels = parser.add_mutually_exclusive_group(required=True)
    labels.add_argument("--labels", help='comma-separated labels, e.g. "walking, running"')
    labels.add_argument("--labels-file", help="a text file with one label per line")
    parser.add_argument(
        "--model",
        default="evclip-tiny-bench",
        help="CLIP: hub id, save_pretrained folder, OpenAI .pt or open_clip checkpoint "
        "(default: the offline evclip-tiny-bench)",
    )
    templates = parser.add_mutually_exclusive_group()
    templates.add_argument(
        "--template",
        action="append",
        help="a prompt template with {} for the label; repeat for an ensemble",
    )
    templates.add_argument("--templates", help="a named template set of evclip.prompts")
    parser.add_argument(
        "--windows",
        type=int,
        default=None,
        help="K event images averaged (default 2 for a whole recording, 1 per timeline window)",
    )
    parser.add_argument("--top", type=int, default=None, help="print only the K best labels")
    parser.add_argument("--mode", choices=MODES, default="eventclip_grey", help="event image")
    parser.add_argument("--slicing", choices=SLICINGS, default="count", help="how windows are cut")
    parser.add_argument(
        "--no-recentre", action="store_true", help="do not centre the events on the sensor"
    )
    parser.add_argument("--format", default=None, help="force a format instead of detecting it")
    parser.add_argument("--device", default=None, help="torch device (default: CPU)")
    timeline = parser.add_argument_group("timeline mode")
    timeline.add_argument("--window-us", type=int, default=None, help="window length, us")
    timeline.add_argument("--stride-us", type=int, default=None, help="step, us (default W)")
    timeline.add_argument("--out", default=None, help="rows: .jsonl or .csv")
    timeline.add_argument("--strip", default=None, help="PNG strip of windows with labels")
    timeline.add_argument("--strip-max", type=int, default=24, help="most tiles in the strip")
    timeline.add_argument("--strip-height", type=int, default=96, help="tile height, pixels")
    timeline.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(func=run)
