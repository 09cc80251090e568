"""The plan and the small files of the synthetic benchmark: which clip goes where, the split
lists in HARDVS format, few-shot lists, class names and the clean image-caption pairs.

Kept apart from :mod:`evclip.datasets.synthetic` (which renders and writes the clips) so that
the plan can be built and checked without rendering anything.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from evclip.datasets import synthetic_render as world

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
    tmp = path.with_name(f".tmp-{path.name}")
    tmp.write_text(text)
    os.replace(tmp, path)


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
    tmp = root / ".tmp-captions"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    lines = []
    for index in range(config.n_captions):
        image, record = render_caption_image(config, plan, seed, index)
        Image.fromarray(image).save(tmp / f"{index:06d}.png")
        lines.append(json.dumps({"image": f"captions/{index:06d}.png", **record}) + "\n")
    shutil.rmtree(final, ignore_errors=True)
    os.replace(tmp, final)
    write_atomic(listing, "".join(lines))
    return config.n_captions
