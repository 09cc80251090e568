"""Dataset-scale synthesis: a folder of labelled images becomes a folder of event files.

Input ``<image_root>/<class>/<image>``; output ``<out_root>/<class>/<stem>.npz`` plus
``<out_root>/manifest.jsonl``, one JSON row per image::

    {"class": "cat", "image": "/data/imgs/cat/001.jpg", "events": "cat/001.npz",
     "n_events": 15234, "sensor_size": [240, 180], "settings": "9f2c...", "status": "ok"}

``image`` is the absolute path of the source image, the other half of the (events, image) pair.
Failed images (unreadable or corrupt) get ``"status": "failed"`` and an ``"error"``. Event files
are written atomically, so an interrupted run leaves no partial file under a final name and a
second run skips every image whose output exists; temporary files left by a killed run are
deleted (those whose process is gone; see :mod:`evclip.io.atomic`). Rows are also appended to
``manifest.partial.jsonl`` as they finish, so a resumed run knows the event counts of earlier
outputs without reading them. ``settings`` is a digest of the
motion, sensor model and sizes: resuming with other settings is refused rather than mixing two
kinds of events in one folder. Each image's simulation is seeded from a stable hash of its
relative path, so results do not depend on the order, the number of workers or the run.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from evclip.io.atomic import atomic_output, remove_stale_temporaries
from evclip.simulate.config import MOTIONS, SimulatorConfig
from evclip.simulate.workers import run_in_workers

IMAGE_EXTENSIONS = frozenset(
    {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm"}
)
MANIFEST_NAME = "manifest.jsonl"
PARTIAL_NAME = "manifest.partial.jsonl"


@dataclass(frozen=True)
class SynthesisJob:
    """One image to turn into events.

    Attributes:
        label: class name (the image's folder).
        image: path of the image.
        events: path of the output, relative to the output root.
        seed: simulator seed, derived from the image's relative path.
    """

    label: str
    image: str
    events: str
    seed: int


@dataclass
class SynthesisSummary:
    """What a :func:`synthesize_folder` run did.

    Attributes:
        written: images simulated in this run.
        skipped: images whose output already existed.
        failed: (image path, error) for each image that could not be converted.
        manifest: path of the manifest written at the end.
    """

    written: int = 0
    skipped: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)
    manifest: Path | None = None


def stable_seed(key: str, base_seed: int = 0) -> int:
    """A 63-bit seed from a string, the same in every process and Python version."""
    digest = hashlib.blake2b(f"{base_seed}:{key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") & 0x7FFF_FFFF_FFFF_FFFF


def list_images(image_root: str | os.PathLike[str]) -> list[tuple[str, Path]]:
    """(class, image path) for every image one folder below ``image_root``, sorted.

    Raises:
        FileNotFoundError: when ``image_root`` is not a folder.
    """
    root = Path(image_root)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: no such folder of class folders")
    found = []
    for class_dir in sorted(p for p in root.iterdir() if p.is_dir()):
        for path in sorted(class_dir.iterdir()):
            if path.is_file() and path.suffix.lower() in IMAGE_EXTENSIONS:
                found.append((class_dir.name, path))
    return found


def plan_jobs(
    image_root: str | os.PathLike[str], base_seed: int = 0, extension: str = ".npz"
) -> tuple[list[SynthesisJob], list[tuple[str, str]]]:
    """Jobs for every image, and (image, error) for images whose output name is already taken."""
    root = Path(image_root).absolute()  # manifest rows must stay valid from any folder
    jobs, clashes = [], []
    taken: dict[str, str] = {}
    for label, path in list_images(root):
        relative = path.relative_to(root).as_posix()
        events = f"{label}/{path.stem}{extension}"
        if events in taken:
            clashes.append((str(path), f"output {events} is already used by {taken[events]}"))
            continue
        taken[events] = str(path)
        jobs.append(SynthesisJob(label, str(path), events, stable_seed(relative, base_seed)))
    return jobs, clashes


def load_image(path: str, image_size: tuple[int, int] | None = None) -> np.ndarray:
    """An image file as uint8 grey [H, W], resized to ``image_size`` (width, height) if given."""
    from PIL import Image

    with Image.open(path) as img:
        img.load()
        grey = img.convert("L")
    if image_size is not None:
        grey = grey.resize((int(image_size[0]), int(image_size[1])), Image.Resampling.BILINEAR)
    return np.asarray(grey)


def run_job(
    job: SynthesisJob,
    out_root: str,
    motion: str,
    config: SimulatorConfig,
    image_size: tuple[int, int] | None,
    motion_options: dict[str, Any],
) -> dict[str, Any]:
    """Simulate one image and write its events; returns its manifest row (never raises for a
    bad image: the row then says ``"status": "failed"``)."""
    from evclip.io import write_events
    from evclip.simulate.motion import simulate_image

    row: dict[str, Any] = {"class": job.label, "image": job.image, "events": job.events}
    try:
        image = load_image(job.image, image_size)
        stream = simulate_image(image, motion, replace(config, seed=job.seed), **motion_options)
        write_events(Path(out_root) / job.events, stream)
    except Exception as err:  # a corrupt image must not stop a run over a million of them
        return {**row, "status": "failed", "error": f"{type(err).__name__}: {err}"}
    return {
        **row,
        "n_events": len(stream),
        "sensor_size": list(stream.sensor_size),
        "settings": settings_digest(motion, config, image_size, motion_options),
        "status": "ok",
    }


def _read_rows(path: Path) -> Iterator[dict[str, Any]]:
    if not path.is_file():
        return
    with path.open() as f:
        for line in f:
            try:
                yield json.loads(line)
            except json.JSONDecodeError:
                continue  # a line cut short by an interruption


def settings_digest(
    motion: str,
    config: SimulatorConfig,
    image_size: tuple[int, int] | None,
    motion_options: dict[str, Any],
) -> str:
    """A short digest of everything that shapes an output file, recorded in each manifest row."""
    settings = {
        "motion": motion,
        "config": asdict(config),
        "image_size": list(image_size) if image_size is not None else None,
        "motion_options": motion_options,
    }
    text = json.dumps(settings, sort_keys=True, default=str)
    return hashlib.blake2b(text.encode(), digest_size=8).hexdigest()


def _known_rows(out_root: Path, settings: str | None) -> dict[str, dict[str, Any]]:
    """Successful rows of earlier runs, by events path.

    Raises:
        ValueError: when a row was made with other settings than ``settings`` (None: any).
    """
    rows = {}
    for name in (MANIFEST_NAME, PARTIAL_NAME):
        for row in _read_rows(out_root / name):
            if row.get("status") == "ok" and "events" in row:
                rows[row["events"]] = row
    other = [r for r in rows.values() if settings and r.get("settings", settings) != settings]
    if other:
        raise ValueError(
            f"{out_root}: holds {len(other)} event files made with other settings (motion, sensor "
            f"model or sizes), e.g. {other[0]['events']}; use --overwrite or another folder"
        )
    return rows


def _remove_stale_temporaries(out_root: Path, labels: set[str]) -> None:
    """Delete the temporary files and folders that a killed run (SIGKILL, power loss) left
    behind; those of a run still going (another process) are kept."""
    for folder in [out_root, *(out_root / label for label in sorted(labels))]:
        remove_stale_temporaries(folder=folder)


def _open_partial(out_root: Path):
    """The partial manifest, opened for appending after any line a kill cut short."""
    path = out_root / PARTIAL_NAME
    cut = path.is_file() and path.stat().st_size > 0 and not path.read_bytes().endswith(b"\n")
    partial = path.open("a")
    if cut:
        partial.write("\n")  # otherwise the next row would be glued to the broken line
    return partial


def _skipped_row(
    job: SynthesisJob, out_root: Path, known: dict[str, dict], settings: str
) -> dict[str, Any]:
    if job.events in known:
        return {**known[job.events], "class": job.label, "image": job.image}
    from evclip.io import read_events

    # finished by a run that was stopped before it could record the row
    stream = read_events(out_root / job.events)
    return {
        "class": job.label,
        "image": job.image,
        "events": job.events,
        "n_events": len(stream),
        "sensor_size": list(stream.sensor_size),
        "settings": settings,
        "status": "ok",
    }


def _write_manifest(out_root: Path, rows: list[dict[str, Any]]) -> Path:
    """Write the manifest atomically, rows in image order."""
    final = out_root / MANIFEST_NAME
    with atomic_output(final) as tmp, tmp.open("w") as f:
        for row in sorted(rows, key=lambda r: (r["class"], r["image"])):
            f.write(json.dumps(row) + "\n")
    return final


def synthesize_folder(
    image_root: str | os.PathLike[str],
    out_root: str | os.PathLike[str],
    *,
    motion: str = "saccade",
    config: SimulatorConfig | None = None,
    workers: int = 2,
    overwrite: bool = False,
    progress: bool = True,
    image_size: tuple[int, int] | None = None,
    extension: str = ".npz",
    **motion_options: Any,
) -> SynthesisSummary:
    """Turn every image of a labelled folder into an event file; resumable.

    Args:
        image_root: folder of class folders of images.
        out_root: where ``<class>/<stem><extension>`` and the manifest go.
        motion: "saccade" or "affine" (see :mod:`evclip.simulate.motion`).
        config: the sensor model; each image runs with a seed derived from ``config.seed`` and its
            relative path.
        workers: worker processes (spawned, one torch thread each); 1 runs in this process.
        overwrite: redo images whose output exists instead of skipping them (needed to resume
            a folder made with other settings).
        progress: show a progress bar and print a summary to stderr.
        image_size: (width, height) every image is resized to (the sensor size); None keeps each
            image's own size.
        extension: ".npz" or ".h5".
        **motion_options: passed to :func:`~evclip.simulate.simulate_image` (``n_frames``,
            ``duration_us``, ``sensor_size``, ``amplitude``...).

    Returns:
        A :class:`SynthesisSummary`.

    Raises:
        ValueError: for an unknown motion, fewer than one worker, or when ``out_root`` holds
            events made with other settings and ``overwrite`` is False.
    """
    from tqdm import tqdm

    if motion not in MOTIONS:
        raise ValueError(f"unknown motion {motion!r}; known: {', '.join(MOTIONS)}")
    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    config = config if config is not None else SimulatorConfig()
    out = Path(out_root)
    jobs, clashes = plan_jobs(image_root, config.seed, extension)
    out.mkdir(parents=True, exist_ok=True)
    settings = settings_digest(motion, config, image_size, motion_options)
    known = _known_rows(out, None if overwrite else settings)
    _remove_stale_temporaries(out, {job.label for job in jobs})
    summary = SynthesisSummary(failed=list(clashes))
    rows = [
        {"class": Path(p).parent.name, "image": p, "status": "failed", "error": e}
        for p, e in clashes
    ]
    todo = []
    for job in jobs:
        if not overwrite and (out / job.events).is_file():
            rows.append(_skipped_row(job, out, known, settings))
            summary.skipped += 1
        else:
            todo.append(job)
    for label in sorted({job.label for job in todo}):
        (out / label).mkdir(exist_ok=True)
    args = (str(out), motion, config, image_size, motion_options)
    with (
        tqdm(total=len(todo), disable=not progress, unit="image") as bar,
        _open_partial(out) as partial,
    ):
        for row in run_in_workers(run_job, todo, args, workers=workers, in_flight_per_worker=4):
            rows.append(row)
            partial.write(json.dumps(row) + "\n")
            partial.flush()
            if row["status"] == "ok":
                summary.written += 1
            else:
                summary.failed.append((row["image"], row["error"]))
            bar.update()
    summary.manifest = _write_manifest(out, rows)
    (out / PARTIAL_NAME).unlink(missing_ok=True)
    if progress:
        _print_summary(summary)
    return summary


def _print_summary(summary: SynthesisSummary) -> None:
    print(
        f"synthesize: {summary.written} written, {summary.skipped} skipped, "
        f"{len(summary.failed)} failed; manifest {summary.manifest}",
        file=sys.stderr,
    )
    for image, error in summary.failed:
        print(f"  failed: {image}: {error}", file=sys.stderr)
