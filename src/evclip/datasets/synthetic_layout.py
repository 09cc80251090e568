"""The plan and the small files of the synthetic benchmark: which clip goes where, the split
lists in HARDVS format, few-shot lists, class names and the clean image-caption pairs.

Kept apart from :mod:`evclip.datasets.synthetic` (which renders and writes the clips) so that
the plan can be built and checked without rendering anything.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from evclip.datasets import synthetic_render as world
from evclip.io.atomic import LEGACY_AGE_S, atomic_output, remove_stale_temporaries

if TYPE_CHECKING:
    from evclip.datasets.synthetic import SyntheticConfig

SPLITS = ("train", "test", "zeroshot")
TRAIN_POOL_FRACTION = 0.7  # share of each digit's handwritten instances used for training


@dataclass(frozen=True)
class SampleSpec:
    """One clip of the plan: what it shows and where it goes."""

    index: int
    split: str
    label: int
    colour: str
    digit: int
    motion: str
    instance: int  # which handwritten instance of the digit (scikit-learn order)

    @property
    def name(self) -> str:
        return f"sample_{self.index:05d}"

    @property
    def class_dir(self) -> str:
        return f"action_{self.label + 1:03d}"

    @property
    def relative_path(self) -> str:
        return f"{self.class_dir}/{self.name}"


@dataclass(frozen=True)
class Plan:
    """Every clip of a build, the held-out labels and the digit instance pools."""

    samples: list[SampleSpec]
    heldout: frozenset[int]
    pools: dict[str, dict[int, np.ndarray]]  # split pool -> digit -> instance indices
    splits: tuple[str, ...] = SPLITS


def choose_heldout(config: SyntheticConfig, rng: np.random.Generator) -> frozenset[int]:
    """Pick ``config.n_heldout`` class labels for zero-shot only.

    A combination is held out only while every colour, digit and motion, and every
    (colour, digit) pair, still appears among the seen classes: zero-shot classes are new
    combinations of known parts.
    """
    combos = config.class_combos()
    heldout: set[int] = set()
    for label in rng.permutation(len(combos)).tolist():
        if len(heldout) == config.n_heldout:
            break
        seen = [c for i, c in enumerate(combos) if i not in heldout and i != label]
        parts_seen = all(any(c[j] == combos[label][j] for c in seen) for j in range(3)) and any(
            c[:2] == combos[label][:2] for c in seen
        )
        if parts_seen:
            heldout.add(label)
    if len(heldout) < config.n_heldout:
        raise ValueError(
            f"cannot hold out {config.n_heldout} of {len(combos)} classes and still show every "
            "colour, digit, motion and colour-digit pair in training"
        )
    return frozenset(heldout)


def _instance_pools(counts: dict[int, int], digits, rng) -> dict[str, dict[int, np.ndarray]]:
    pools: dict[str, dict[int, np.ndarray]] = {"train": {}, "test": {}}
    for digit in digits:
        order = rng.permutation(counts[digit])
        cut = int(round(TRAIN_POOL_FRACTION * order.size))
        pools["train"][digit], pools["test"][digit] = order[:cut], order[cut:]
    return pools


def plan_samples(config: SyntheticConfig, seed: int, instance_counts: dict[int, int]) -> Plan:
    """The whole build as a list of :class:`SampleSpec`, a function of (config, seed) only.

    Train clips use one part of each digit's handwritten instances and test / zero-shot clips the
    other, so a test clip never shows a handwriting seen in training.
    """
    rng = np.random.default_rng(np.random.SeedSequence([seed, 2]))
    heldout = choose_heldout(config, rng)
    pools = _instance_pools(instance_counts, config.digits, rng)
    per_class = {
        "train": config.train_per_class,
        "test": config.test_per_class,
        "zeroshot": config.zeroshot_per_class,
    }
    samples: list[SampleSpec] = []
    for split in SPLITS:
        pool = pools["train" if split == "train" else "test"]
        for label, (colour, digit, motion) in enumerate(config.class_combos()):
            if (label in heldout) != (split == "zeroshot"):
                continue
            for _ in range(per_class[split]):
                instance = int(pool[digit][rng.integers(pool[digit].size)])
                samples.append(
                    SampleSpec(len(samples), split, label, colour, digit, motion, instance)
                )
    return Plan(samples, heldout, pools)


def write_atomic(path: Path, text: str) -> None:
    """Write a text file through a temporary name, so it is complete or absent."""
    with atomic_output(path) as tmp:
        tmp.write_text(text)


# ------------------------------------------------------------------ temporaries of killed builds
# A temporary is named ``.<target>.<pid>.<8 characters>`` (``.tmp`` after it for a file), as in
# :mod:`evclip.io.atomic`, so that a later build can tell whether its writer is still alive.
_TEMP_NAME = re.compile(r"\.(?P<target>.+)\.\d+\.[A-Za-z0-9_]{8}(?:\.tmp)?")
_LEGACY_TEMP_NAME = re.compile(r"\.tmp-(?P<target>.+)")  # before the pid was part of the name
_SAMPLE_NAME = re.compile(r"sample_\d+")


def temp_folder_beside(final: Path) -> Path:
    """A new empty folder beside ``final``, to fill and then rename to it; named after it and
    this process."""
    tmp = final.with_name(f".{final.name}.{os.getpid()}.{secrets.token_hex(4)}")
    tmp.mkdir(parents=True)
    return tmp


def _is_build_target(target: str, in_root: bool) -> bool:
    """Whether a build writes ``target``: a clip folder in a class folder; the captions folder
    or a list, names or manifest file in the root."""
    if in_root:
        return target == "captions" or target.endswith((".txt", ".json", ".jsonl"))
    return _SAMPLE_NAME.fullmatch(target) is not None


def _untouched_for(path: Path, seconds: float) -> bool:
    """Whether neither ``path`` nor anything directly in it changed in the last ``seconds``."""
    try:
        times = [path.lstat().st_mtime]
        if path.is_dir() and not path.is_symlink():
            times += [child.lstat().st_mtime for child in path.iterdir()]
    except OSError:
        return False  # vanished or unreadable: leave it
    return time.time() - max(times) > seconds


def _delete(path: Path) -> bool:
    try:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink()
    except OSError:
        return False
    return True


def _remove_stale_in(folder: Path, in_root: bool) -> list[Path]:
    try:
        names = [entry.name for entry in os.scandir(folder) if entry.name.startswith(".")]
    except OSError:
        return []
    removed, targets = [], set()
    for name in names:
        match = _TEMP_NAME.fullmatch(name) or _LEGACY_TEMP_NAME.fullmatch(name)
        if match is None or not _is_build_target(match["target"], in_root):
            continue
        if match.re is _TEMP_NAME:
            targets.add(match["target"])
        elif _untouched_for(folder / name, LEGACY_AGE_S) and _delete(folder / name):
            removed.append(folder / name)
    for target in sorted(targets):  # deleted only where the writing process no longer exists
        removed += remove_stale_temporaries(folder / target)
    return removed


def remove_stale_build_temporaries(root: Path, class_dirs: Iterable[str]) -> list[Path]:
    """Delete what killed builds left in ``root`` and its class folders; returns those paths.

    Only the temporaries of what a build writes (clip folders, captions, list files, manifest)
    go, and only those whose writing process no longer exists, or, for names from before the pid
    was part of them (``.tmp-<name>``), those untouched for :data:`LEGACY_AGE_S` seconds.
    """
    removed = _remove_stale_in(root, in_root=True)
    for class_dir in sorted(set(class_dirs)):
        removed += _remove_stale_in(root / class_dir, in_root=False)
    return removed


def split_lines(samples: list[SampleSpec], n_frames: int) -> str:
    """HARDVS list-file lines ``<class_dir>/<sample> <num_frames> <label>``."""
    return "".join(f"{s.relative_path} {n_frames} {s.label}\n" for s in samples)


def fewshot_lists(plan: Plan, ks, draw: int, seed: int) -> dict[int, list[SampleSpec]]:
    """k training clips per seen class for each k; lists of one draw are nested (1 in 2 in 5)."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, 3, draw]))
    by_label: dict[int, list[SampleSpec]] = {}
    for spec in plan.samples:
        if spec.split == "train":
            by_label.setdefault(spec.label, []).append(spec)
    orders = {label: rng.permutation(len(specs)) for label, specs in sorted(by_label.items())}
    lists = {}
    for k in ks:
        if any(len(specs) < k for specs in by_label.values()):
            raise ValueError(f"{k}-shot lists need at least {k} training clips per class")
        chosen = [by_label[label][i] for label, order in orders.items() for i in order[:k]]
        lists[k] = sorted(chosen, key=lambda s: s.index)
    return lists


def write_split_files(root: Path, config: SyntheticConfig, seed: int, plan: Plan) -> list[str]:
    """Write the split lists, few-shot lists and ``classnames.txt``; returns the file names."""
    files: dict[str, str] = {}
    for split in plan.splits:
        chosen = [s for s in plan.samples if s.split == split]
        files[f"{split}_label.txt"] = split_lines(chosen, config.n_frames)
    for draw in range(config.fewshot_draws):
        for k, chosen in fewshot_lists(plan, config.fewshot_k, draw, seed).items():
            files[f"fewshot_{k}shot_s{draw}_label.txt"] = split_lines(chosen, config.n_frames)
    files["classnames.txt"] = "".join(f"{name}\n" for name in config.class_names())
    for name, text in files.items():
        write_atomic(root / name, text)
    return sorted(files)


CAPTION_TEMPLATES = (
    "a photo of a {colour} {digit} on {background}",
    "a {colour} handwritten {digit} on {background}",
    "the digit {digit} written in {colour} over {background}",
    "a {colour} number {digit} in front of {background}",
)


def render_caption_image(
    config: SyntheticConfig, plan: Plan, seed: int, index: int
) -> tuple[np.ndarray, dict[str, object]]:
    """One clean, still, well-exposed image [H, W, 3] uint8 and its caption record."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, 1, index]))
    colour = config.colours[int(rng.integers(len(config.colours)))]
    digit = config.digits[int(rng.integers(len(config.digits)))]
    background = sorted(world.BACKGROUNDS)[int(rng.integers(len(world.BACKGROUNDS)))]
    pool = plan.pools["train"][digit]
    size = int(rng.integers(config.digit_size[0], config.digit_size[1] + 1))
    mask = world.digit_mask(world.digit_instance(digit, int(pool[rng.integers(pool.size)])), size)
    width = config.image_size
    grey = world.background_crop(
        background,
        (width, width),
        rng,
        mean=float(rng.uniform(*config.background_mean)),
        contrast=float(rng.uniform(*config.background_contrast)),
    )
    centre = tuple(rng.uniform(size / 2, width - size / 2, size=2).tolist())
    geometry = world.ClipGeometry(centre, (0.0, 0.0))
    colour_rgb = world.isoluminant_colour(colour, config.digit_luma)
    rgb, _ = world.render_clip(mask, colour_rgb, grey, geometry, 1)
    template = CAPTION_TEMPLATES[int(rng.integers(len(CAPTION_TEMPLATES)))]
    caption = template.format(
        colour=colour, digit=world.DIGIT_WORDS[digit], background=world.BACKGROUNDS[background]
    )
    record = {"caption": caption, "colour": colour, "digit": digit, "background": background}
    return np.round(rgb[0]).astype(np.uint8), record


def write_captions(root: Path, config: SyntheticConfig, seed: int, plan: Plan) -> int:
    """Write the image-caption pairs (``captions/NNNNNN.png`` + ``captions.jsonl``) unless done."""
    from PIL import Image

    final, listing = root / "captions", root / "captions.jsonl"
    if final.is_dir() and listing.is_file():
        return sum(1 for _ in listing.open())
    tmp = temp_folder_beside(final)
    try:
        lines = []
        for index in range(config.n_captions):
            image, record = render_caption_image(config, plan, seed, index)
            Image.fromarray(image).save(tmp / f"{index:06d}.png")
            lines.append(json.dumps({"image": f"captions/{index:06d}.png", **record}) + "\n")
        shutil.rmtree(final, ignore_errors=True)
        os.replace(tmp, final)
    except BaseException:  # Ctrl-C or a failed write: leave nothing half-made behind
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    write_atomic(listing, "".join(lines))
    return config.n_captions
