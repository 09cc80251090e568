"""evclip's own offline RGB + event benchmark, built from images that Python packages ship.

Each sample is a short clip of a coloured handwritten digit (scikit-learn's 8x8 digits) riding
a fast conveyor belt over a grey texture (scikit-image's sample photographs). Classes are captions
such as ``"a red seven moving left"``: colour x digit x motion. The two modalities fail for
physical reasons (see :mod:`evclip.datasets.synthetic_render`), so neither alone reaches what both
reach together:

- events come from :mod:`evclip.simulate` run over the clean high-frame-rate luma video, and all
  colours have the same luma, so events cannot tell red from green;
- the belt carries identical items at a pitch of one view and moves one pitch during each RGB
  exposure, so every RGB frame integrates the same streak whichever way the belt runs: RGB sees
  the colour and the line of motion, never its direction nor the digit's shape. Bad light and
  sensor noise come on top. Events, with their timing and polarity, see direction and shape.

The benchmark is written in the HARDVS layout, so :mod:`evclip.datasets.hardvs` reads it::

    <root>/action_001/sample_00000/sample_00000_aps/00000000.png   degraded RGB frames
    <root>/action_001/sample_00000/sample_00000_dvs/00000000.png   event images per RGB frame
    <root>/action_001/sample_00000/sample_00000.npz                raw events (x, y, t, p)
    <root>/train_label.txt, test_label.txt                         <class_dir>/<sample> <n> <label>
    <root>/zeroshot_label.txt                                      held-out colour x digit x motion
    <root>/fewshot_<k>shot_s<draw>_label.txt                       k training samples per class
    <root>/classnames.txt                                          captions in label order
    <root>/captions/NNNNNN.png + captions.jsonl                    clean image-caption pairs
    <root>/manifest.json                                           seed, sizes, parameters, counts

Everything is a function of the seed: the same seed gives byte-identical files, whatever the
number of workers, and an interrupted build resumes where it stopped.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from evclip.datasets import synthetic_render as world
from evclip.datasets.base import DATASETS
from evclip.datasets.errors import DatasetError
from evclip.datasets.hardvs import HARDVS
from evclip.datasets.synthetic_layout import (
    SampleSpec,
    plan_samples,
    remove_stale_build_temporaries,
    temp_folder_beside,
    write_atomic,
    write_captions,
    write_split_files,
)
from evclip.io import EventStream

FORMAT_VERSION = 2  # 2: conveyor belt with exposure-locked RGB frames


@dataclass(frozen=True)
class SyntheticConfig:
    """Sizes and physical parameters of the synthetic benchmark.

    Use :meth:`small` (seconds, for tests) or :meth:`full` (a few minutes on two CPU cores).
    """

    name: str = "small"
    # classes: every colour x digit x motion combination; n_heldout of them are zero-shot only
    colours: tuple[str, ...] = ("red", "green")
    digits: tuple[int, ...] = (1, 3, 7)
    motions: tuple[str, ...] = ("left", "right")
    n_heldout: int = 2
    # samples per class and split
    train_per_class: int = 4
    test_per_class: int = 2
    zeroshot_per_class: int = 2
    fewshot_k: tuple[int, ...] = (1, 2)
    fewshot_draws: int = 1
    n_captions: int = 24
    # rendering
    image_size: int = 48
    digit_size: tuple[int, int] = (20, 28)
    n_subframes: int = 125
    n_frames: int = 5
    duration_us: int = 200_000
    # the belt moves one pitch (= image_size) every period_subframes sub-frames, and the RGB
    # exposure lasts exactly that long; the rest of each frame interval is dead time
    period_subframes: int = 20
    # each event image holds the events of the first event_window_subframes of its RGB interval:
    # shorter than a period, since over a whole period every pixel of the lane fires both
    # polarities equally whichever way the belt runs and the count image forgets the direction
    event_window_subframes: int = 5
    digit_luma: float = 128.0
    background_mean: tuple[float, float] = (45.0, 90.0)
    background_contrast: tuple[float, float] = (10.0, 25.0)
    # the RGB camera: probabilities of dark / bright / normal light
    light_modes: tuple[float, float, float] = (0.4, 0.3, 0.3)
    # the event camera
    threshold: float = 0.3  # 0.3 rather than 0.2: the belt passes each pixel many times
    threshold_sigma: float = 0.03
    shot_noise_rate_hz: float = 0.5
    event_image_mode: str = "eclip_rgb"

    def __post_init__(self) -> None:
        per_frame, rest = divmod(self.n_subframes, self.n_frames)
        if rest or not 1 <= self.period_subframes <= per_frame:
            raise ValueError(
                f"n_subframes ({self.n_subframes}) must split into n_frames ({self.n_frames}) "
                f"intervals of at least period_subframes ({self.period_subframes}) sub-frames"
            )
        if not 1 <= self.event_window_subframes <= per_frame:
            raise ValueError(f"event_window_subframes must be 1..{per_frame}")

    @classmethod
    def small(cls) -> SyntheticConfig:
        """12 classes (2 held out), 48x48, 64 clips: builds in seconds."""
        return cls()

    @classmethod
    def full(cls) -> SyntheticConfig:
        """60 classes (12 held out), 64x64, 40 train + 10 test clips per seen class."""
        return cls(
            name="full",
            colours=("red", "green", "blue"),
            digits=(0, 1, 3, 4, 7),
            motions=("left", "right", "up", "down"),
            n_heldout=12,
            train_per_class=40,
            test_per_class=10,
            zeroshot_per_class=10,
            fewshot_k=(1, 2, 4, 8, 16),
            fewshot_draws=3,
            n_captions=2000,
            image_size=64,
            digit_size=(26, 38),
            n_subframes=150,
            period_subframes=24,
            event_window_subframes=6,
        )

    @classmethod
    def for_size(cls, size: str) -> SyntheticConfig:
        """The named preset: ``"small"`` or ``"full"``."""
        if size not in ("small", "full"):
            raise ValueError(f"size must be 'small' or 'full', got {size!r}")
        return cls.small() if size == "small" else cls.full()

    def class_combos(self) -> list[tuple[str, int, str]]:
        """(colour, digit, motion) of every class, in label order."""
        return [(c, d, m) for c in self.colours for d in self.digits for m in self.motions]

    def class_names(self) -> list[str]:
        """Captions of every class in label order, e.g. ``"a red seven moving left"``."""
        return [class_caption(*combo) for combo in self.class_combos()]


def class_caption(colour: str, digit: int, motion: str) -> str:
    """The caption of one class, e.g. ``class_caption("red", 7, "left")`` is
    ``"a red seven moving left"``."""
    return f"a {colour} {world.DIGIT_WORDS[digit]} moving {motion}"


@dataclass
class RenderedSample:
    """Everything written for one clip.

    Attributes:
        rgb: uint8 [F, H, W, 3] degraded RGB frames.
        clean: uint8 [F, H, W, 3] the clean scene at each frame's start (for checks only).
        event_images: uint8 [F, H, W, 3] event images of the first ``event_window_subframes``
            of each RGB frame interval.
        stream: the simulated events.
        frame_times_us: int64 [F + 1] boundaries of the RGB frame intervals.
    """

    rgb: np.ndarray
    clean: np.ndarray
    event_images: np.ndarray
    stream: EventStream
    frame_times_us: np.ndarray


def _sample_rng(seed: int, index: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([seed, 0, index]))


def _draw_geometry(config: SyntheticConfig, motion: str, rng: np.random.Generator):
    """The belt's path: a lane near the middle, the item near the middle at the first sub-frame.

    The same random draws for every motion, so clips that differ only in motion share the rest.
    """
    width = config.image_size
    direction = np.asarray(world.MOTION_DIRECTIONS[motion])
    normal = np.array([-direction[1], direction[0]])
    centre = (width - 1) / 2.0 + width * (
        rng.uniform(-0.15, 0.15) * np.abs(normal) + rng.uniform(-0.1, 0.1) * np.abs(direction)
    )
    return world.conveyor_geometry(
        tuple(centre.tolist()), tuple(direction.tolist()), width, config.period_subframes
    )


def _draw_camera(config: SyntheticConfig, rng: np.random.Generator) -> world.CameraModel:
    mode = rng.choice(3, p=np.asarray(config.light_modes) / sum(config.light_modes))
    if mode == 0:  # dark: few photons, auto-gain recovers only part of the brightness
        light = float(np.exp(rng.uniform(np.log(0.03), np.log(0.15))))
        gain = float(rng.uniform(0.3, 0.8) / light)
    elif mode == 1:  # over-exposed: the sensor clips
        light, gain = float(np.exp(rng.uniform(np.log(2.5), np.log(6.0)))), 1.0
    else:
        light, gain = float(rng.uniform(0.8, 1.25)), 1.0
    return world.CameraModel(
        n_frames=config.n_frames,
        duty_cycle=config.period_subframes / (config.n_subframes // config.n_frames),
        light=light,
        gain=gain,
    )


def render_sample(spec: SampleSpec, config: SyntheticConfig, seed: int) -> RenderedSample:
    """Render one clip: clean scene, degraded RGB frames, events and event images.

    Deterministic for (seed, spec.index): the random stream of a sample depends on nothing else.
    """
    from evclip.representations import event_image
    from evclip.representations.functional import count_slices
    from evclip.simulate import SimulatorConfig, simulate_frames

    rng = _sample_rng(seed, spec.index)
    size = int(rng.integers(config.digit_size[0], config.digit_size[1] + 1))
    mask = world.digit_mask(world.digit_instance(spec.digit, spec.instance), size)
    canvas = (config.image_size, config.image_size)
    background = world.background_crop(
        sorted(world.BACKGROUNDS)[int(rng.integers(len(world.BACKGROUNDS)))],
        canvas,
        rng,
        mean=float(rng.uniform(*config.background_mean)),
        contrast=float(rng.uniform(*config.background_contrast)),
    )
    colour = world.isoluminant_colour(spec.colour, config.digit_luma)
    geometry = _draw_geometry(config, spec.motion, rng)
    rgb_sub, luma_sub = world.render_clip(mask, colour, background, geometry, config.n_subframes)
    rgb = world.capture_rgb(rgb_sub, _draw_camera(config, rng), rng)

    sub_times = np.arange(config.n_subframes, dtype=np.int64) * config.duration_us
    sub_times //= config.n_subframes
    simulator = SimulatorConfig(
        pos_threshold=config.threshold,
        neg_threshold=config.threshold,
        threshold_sigma=config.threshold_sigma,
        shot_noise_rate_hz=config.shot_noise_rate_hz,
        max_intensity=255.0,  # the luma video is float on the 0..255 scale
        seed=int(rng.integers(2**31 - 1)),
    )
    stream = simulate_frames(luma_sub, sub_times, simulator)
    frame_times = np.linspace(0, config.duration_us, config.n_frames + 1).astype(np.int64)
    window_us = config.event_window_subframes * config.duration_us // config.n_subframes
    starts = frame_times[:-1]
    bounds = np.searchsorted(stream.events["t"], np.stack([starts, starts + window_us], axis=1))
    counts = count_slices(stream.events, stream.sensor_size, bounds)  # [F, 2, H, W]
    images = np.stack([event_image(c, mode=config.event_image_mode) for c in counts])
    per_frame = config.n_subframes // config.n_frames
    clean = np.round(rgb_sub[::per_frame]).astype(np.uint8)
    return RenderedSample(rgb, clean, images, stream, frame_times)


def write_sample(root: Path, spec: SampleSpec, sample: RenderedSample) -> Path:
    """Write one clip in the HARDVS layout, atomically: a temporary folder renamed when complete."""
    from PIL import Image

    from evclip.io.writers import open_writer

    final = root / spec.relative_path
    tmp = temp_folder_beside(final)  # one killed mid-write goes at the next build's start
    try:
        for kind, frames in (("aps", sample.rgb), ("dvs", sample.event_images)):
            folder = tmp / f"{spec.name}_{kind}"
            folder.mkdir(parents=True)
            for i, frame in enumerate(frames):
                Image.fromarray(np.ascontiguousarray(frame)).save(folder / f"{i:08d}.png")
        # deflated: the clips hold ~10-20k events each; the archive stays byte-deterministic
        npz = tmp / f"{spec.name}.npz"
        with open_writer(npz, sample.stream.sensor_size, compress=True) as out:
            out.write(sample.stream.events)
        os.replace(tmp, final)
    except BaseException:  # Ctrl-C or a failed write: leave nothing half-made behind
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final


def _build_one(spec: SampleSpec, root: str, config: SyntheticConfig, seed: int) -> int:
    final = Path(root) / spec.relative_path
    if final.is_dir():  # finished by an earlier run
        return 0
    write_sample(Path(root), spec, render_sample(spec, config, seed))
    return 1


def _run_samples(root: Path, specs, config, seed, workers: int, progress: bool) -> int:
    """Render and write every clip not already on disk; returns how many were written now.

    With several workers at most ``2 * workers`` clips are in flight, and an interruption
    (Ctrl-C) cancels the queued ones at once instead of waiting for the whole plan.
    """
    from tqdm import tqdm

    from evclip.simulate.workers import run_in_workers

    written = 0
    with tqdm(total=len(specs), desc="synth-dataset", unit="clip", disable=not progress) as bar:
        for done in run_in_workers(_build_one, specs, (str(root), config, seed), workers=workers):
            written += done
            bar.update()
    return written


def _check_existing(root: Path, header: dict[str, Any]) -> None:
    path = root / "manifest.json"
    if not path.is_file():
        if root.is_dir() and any(root.iterdir()):
            raise ValueError(f"{root}: not empty and has no manifest.json; choose another folder")
        return
    try:
        old = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise ValueError(f"{path}: unreadable manifest ({err})") from None
    mismatch = [k for k in header if old.get(k) != header[k]]
    if mismatch:
        raise ValueError(
            f"{root}: holds a benchmark built with different {', '.join(mismatch)}; "
            "choose another folder or delete it"
        )


def build_synthetic_benchmark(
    out: str | os.PathLike[str],
    *,
    size: str = "small",
    seed: int = 0,
    workers: int = 1,
    progress: bool = True,
    config: SyntheticConfig | None = None,
) -> dict[str, Any]:
    """Build (or finish building) the synthetic benchmark under ``out``.

    Args:
        out: output folder; created if missing. A folder holding a different build is refused.
        size: ``"small"`` or ``"full"`` (see :class:`SyntheticConfig`); ignored when ``config``
            is given.
        seed: everything is a function of it.
        workers: worker processes for rendering (1 renders in this process).
        progress: show a tqdm progress bar.
        config: custom sizes and parameters.

    Returns:
        The manifest (also written to ``out/manifest.json``).
    """
    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    config = config or SyntheticConfig.for_size(size)
    root = Path(out)
    header = {
        "name": "evclip-synthetic",
        "format_version": FORMAT_VERSION,
        "seed": int(seed),
        "config": json.loads(json.dumps(asdict(config))),
    }
    _check_existing(root, header)
    root.mkdir(parents=True, exist_ok=True)
    plan = plan_samples(config, seed, world.digit_instance_counts())
    if not (root / "manifest.json").is_file():
        write_atomic(root / "manifest.json", json.dumps({**header, "complete": False}, indent=2))
    for spec in plan.samples:
        (root / spec.class_dir).mkdir(exist_ok=True)
    remove_stale_build_temporaries(root, (spec.class_dir for spec in plan.samples))
    started = time.perf_counter()
    written = _run_samples(root, plan.samples, config, seed, workers, progress)
    n_captions = write_captions(root, config, seed, plan)
    files = write_split_files(root, config, seed, plan)
    counts = {split: sum(s.split == split for s in plan.samples) for split in plan.splits}
    manifest = {
        **header,
        "complete": True,
        "classes": config.class_names(),
        "heldout_labels": sorted(plan.heldout),
        "counts": {"classes": len(config.class_combos()), **counts, "captions": n_captions},
        "files": files,
    }
    write_atomic(root / "manifest.json", json.dumps(manifest, indent=2))
    manifest["written_now"] = written
    manifest["seconds"] = round(time.perf_counter() - started, 3)
    return manifest


class SyntheticBenchmark(HARDVS):
    """The HARDVS reader for a built synthetic benchmark (its reports carry its own name).

    Build it with :func:`load_synthetic_benchmark`, which reads the class names and the sensor
    size from the benchmark folder.
    """


def _read_manifest_config(path: Path) -> tuple[int, int | None]:
    """(frame size, frames per clip) a benchmark was built with, from its ``manifest.json``.

    The frame count is None in a manifest that does not record it.
    """
    try:
        config = json.loads(path.read_text())["config"]
        n_frames = config.get("n_frames")
        return int(config["image_size"]), None if n_frames is None else int(n_frames)
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as err:
        raise DatasetError(path, f"unreadable manifest ({type(err).__name__}: {err})") from None


@DATASETS.register("synthetic")
def load_synthetic_benchmark(
    root: str | os.PathLike[str], split: str = "train", **kwargs: Any
) -> SyntheticBenchmark:
    """The HARDVS reader pointed at a built benchmark, with its captions as class names.

    Args:
        root: a folder written by :func:`build_synthetic_benchmark`.
        split: ``"train"``, ``"test"``, ``"zeroshot"`` or a few-shot list such as
            ``"fewshot_5shot_s0"`` (the file ``<split>_label.txt``).
        **kwargs: passed on to the HARDVS reader (representation, image size...);
            ``num_frames`` defaults to the frames each clip stores (the manifest's
            ``n_frames``, 5 for both presets), so no frame is repeated.

    Raises:
        DatasetError: ``root`` is not a built benchmark (no folder, no ``classnames.txt`` or
            ``manifest.json``, an unreadable manifest) or its list file is missing or wrong.
    """
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(root, "dataset root not found (build one with evclip synth-dataset)")
    names_path, manifest_path = root / "classnames.txt", root / "manifest.json"
    for path in (names_path, manifest_path):
        if not path.is_file():
            raise DatasetError(
                path, f"missing; is {root} a benchmark built by evclip synth-dataset?"
            )
    names = names_path.read_text().splitlines()
    width, n_frames = _read_manifest_config(manifest_path)
    kwargs.setdefault("sensor_size", (width, width))
    if n_frames is not None:
        kwargs.setdefault("num_frames", n_frames)
    return SyntheticBenchmark(root, split=split, class_names=names, **kwargs)
