"""Image-caption pairs for pre-training, rendered on the fly with the synthetic benchmark's world.

The benchmark ships 2 000 clean captioned stills; a small CLIP needs far more, and they cost a few
milliseconds each, so every batch is drawn fresh from the same generator (the benchmark's digit
masks, textures, isoluminant colours and compositing). Handwriting is split as the benchmark
splits it: training pairs only use the handwritten instances of the benchmark's *train* pool, and
the held-out evaluation set only those of its *test* pool, so no evaluated image (and no
benchmark test clip) shows a handwriting seen in pre-training.

Most of a batch comes in groups of images that share colour, background, position, size and
caption template and differ only by the digit: colour and background alone then cannot tell the
pairs of a group apart, and the contrastive loss has to read the digit.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields
from functools import lru_cache
from pathlib import Path

import numpy as np

from evclip.datasets import synthetic_render as world
from evclip.pretrain.captions import (
    FULL_TEMPLATES,
    MOTION_WORDS,
    PARTIAL_TEMPLATES,
    PREFIXES,
    PairRecord,
    format_caption,
    template_attributes,
)

BACKGROUND_NAMES = tuple(sorted(world.BACKGROUNDS))


@dataclass(frozen=True)
class PairWorld:
    """What the pairs may show, and which handwritten instances each side may use.

    Attributes:
        colours: colour words (keys of ``synthetic_render.COLOUR_HUES``).
        digits: digits shown.
        train_instances: digit -> indices of scikit-learn instances for training pairs.
        heldout_instances: digit -> indices for the held-out evaluation set.
        image_size: rendered image side (the benchmark's image size).
        digit_size: (min, max) digit side in pixels.
        digit_luma: luma of every colour (the benchmark's isoluminant ink).
        background_mean: range of the texture's mean grey level.
        background_contrast: range of the texture's standard deviation.
    """

    colours: tuple[str, ...]
    digits: tuple[int, ...]
    train_instances: dict[int, np.ndarray] = field(repr=False)
    heldout_instances: dict[int, np.ndarray] = field(repr=False)
    image_size: int = 64
    digit_size: tuple[int, int] = (26, 38)
    digit_luma: float = 128.0
    background_mean: tuple[float, float] = (45.0, 90.0)
    background_contrast: tuple[float, float] = (10.0, 25.0)

    def instances(self, heldout: bool) -> dict[int, np.ndarray]:
        """The instance pools of one side."""
        return self.heldout_instances if heldout else self.train_instances


def world_from_config(config, seed: int, colours: tuple[str, ...] | None = None) -> PairWorld:
    """The pair world of a benchmark built with ``SyntheticConfig`` ``config`` and ``seed``.

    Colours default to every isoluminant hue the benchmark knows (a superset of its own).
    """
    from evclip.datasets.synthetic_layout import plan_samples

    plan = plan_samples(config, seed, world.digit_instance_counts())
    return PairWorld(
        colours=tuple(colours or world.COLOUR_HUES),
        digits=tuple(config.digits),
        train_instances=dict(plan.pools["train"]),
        heldout_instances=dict(plan.pools["test"]),
        image_size=config.image_size,
        digit_size=tuple(config.digit_size),
        digit_luma=config.digit_luma,
        background_mean=tuple(config.background_mean),
        background_contrast=tuple(config.background_contrast),
    )


def world_from_manifest(manifest: dict | None, where: str = "manifest") -> PairWorld:
    """The pair world of a benchmark described by its manifest (``seed`` and ``config``), or of
    the full benchmark with seed 0 when ``manifest`` is None."""
    from evclip.datasets.synthetic import SyntheticConfig

    if manifest is None:
        return world_from_config(SyntheticConfig.full(), 0)
    try:
        raw, seed = manifest["config"], int(manifest["seed"])
        known = {f.name for f in fields(SyntheticConfig)}
        config = SyntheticConfig(
            **{k: tuple(v) if isinstance(v, list) else v for k, v in raw.items() if k in known}
        )
    except (ValueError, KeyError, TypeError) as err:
        raise ValueError(f"{where}: not a synthetic benchmark manifest ({err})") from None
    return world_from_config(config, seed)


def read_manifest(root: str | Path) -> dict:
    """The ``manifest.json`` of the benchmark under ``root``."""
    path = Path(root) / "manifest.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: missing; build the benchmark with `evclip synth-dataset`")
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise ValueError(f"{path}: unreadable manifest ({err})") from None


def world_from_benchmark(root: str | Path | None) -> PairWorld:
    """The pair world of the benchmark under ``root`` (its ``manifest.json``), or of the full
    benchmark with seed 0 when ``root`` is None."""
    if root is None:
        return world_from_manifest(None)
    return world_from_manifest(read_manifest(root), str(Path(root) / "manifest.json"))


@lru_cache(maxsize=4096)
def _mask(digit: int, instance: int, size: int) -> np.ndarray:
    mask = world.digit_mask(world.digit_instance(digit, instance), size)
    mask.setflags(write=False)
    return mask


@dataclass(frozen=True)
class Scene:
    """Everything but the digit: what a hard-negative group shares."""

    colour: str
    background: str
    grey: np.ndarray  # float [H, W] background
    size: int
    centre: tuple[float, float]


def draw_scene(pairs: PairWorld, rng: np.random.Generator) -> Scene:
    """A random colour, background crop, digit size and position."""
    colour = pairs.colours[int(rng.integers(len(pairs.colours)))]
    background = BACKGROUND_NAMES[int(rng.integers(len(BACKGROUND_NAMES)))]
    side = pairs.image_size
    grey = world.background_crop(
        background,
        (side, side),
        rng,
        mean=float(rng.uniform(*pairs.background_mean)),
        contrast=float(rng.uniform(*pairs.background_contrast)),
    )
    size = int(rng.integers(pairs.digit_size[0], pairs.digit_size[1] + 1))
    size = min(size, side)
    centre = tuple(rng.uniform(size / 2, side - size / 2, size=2).tolist())
    return Scene(colour, background, grey, size, centre)


def render_digit(pairs: PairWorld, scene: Scene, digit: int, instance: int) -> np.ndarray:
    """uint8 [H, W, 3]: the handwritten ``instance`` of ``digit`` in ``scene`` (clean, still)."""
    mask = _mask(digit, instance, scene.size)
    colour = world.isoluminant_colour(scene.colour, pairs.digit_luma)
    geometry = world.ClipGeometry(scene.centre, (0.0, 0.0))
    rgb, _ = world.render_clip(mask, colour, scene.grey, geometry, 1)
    return np.round(rgb[0]).astype(np.uint8)


def degrade(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Photograph a clean still with the benchmark's camera failures: too little light (partly
    rescued by gain) or too much (clipping), shot and read noise (same ranges as its clips)."""
    mode = int(rng.integers(3))
    if mode == 0:
        light = float(np.exp(rng.uniform(np.log(0.03), np.log(0.15))))
        gain = float(rng.uniform(0.3, 0.8) / light)
    elif mode == 1:
        light, gain = float(np.exp(rng.uniform(np.log(2.5), np.log(6.0)))), 1.0
    else:
        light, gain = float(rng.uniform(0.8, 1.25)), 1.0
    camera = world.CameraModel(n_frames=1, duty_cycle=1.0, light=light, gain=gain)
    return world.capture_rgb(image[None].astype(np.float32), camera, rng)[0]


@dataclass
class PairBatch:
    """Rendered images with their captions.

    Attributes:
        images: uint8 [B, H, W, 3].
        records: what each image shows.
        captions: one caption per image.
        stated: the attributes each caption states (the others match any image).
        scenes: int [B], the scene each image was drawn in (a hard-negative group shares one).
    """

    images: np.ndarray
    records: list[PairRecord]
    captions: list[str]
    stated: list[frozenset[str]]
    scenes: np.ndarray


def _draw_caption(rng: np.random.Generator, partial_probability: float, need_digit: bool):
    """(template, motion, prefix): a full template, or sometimes a partial one."""
    templates = FULL_TEMPLATES
    if rng.random() < partial_probability:
        templates = tuple(
            t for t in PARTIAL_TEMPLATES if not need_digit or "digit" in template_attributes(t)
        )
    template = templates[int(rng.integers(len(templates)))]
    motion = MOTION_WORDS[int(rng.integers(len(MOTION_WORDS)))]
    return template, motion, PREFIXES[int(rng.integers(len(PREFIXES)))]


def sample_batch(
    pairs: PairWorld,
    rng: np.random.Generator,
    batch_size: int,
    *,
    group_size: int = 5,
    group_fraction: float = 0.75,
    partial_probability: float = 0.2,
    degrade_probability: float = 0.25,
) -> PairBatch:
    """A training batch from the train instance pools.

    ``group_fraction`` of the batch comes in groups of ``group_size`` images (at most one per
    digit) sharing scene, template and filler words, so only the digit tells them apart; the rest
    are independent images.
    """
    group_size = max(1, min(group_size, len(pairs.digits)))
    pools = pairs.instances(heldout=False)
    n_grouped = int(batch_size * group_fraction) // group_size * group_size if group_size > 1 else 0
    images, records, captions, stated, scenes = [], [], [], [], []
    while len(images) < batch_size:
        scene_id = len(set(scenes))
        in_group = len(images) < n_grouped
        size = group_size if in_group else 1
        scene = draw_scene(pairs, rng)
        digits = rng.choice(len(pairs.digits), size=size, replace=False)
        template, motion, prefix = _draw_caption(rng, partial_probability, need_digit=in_group)
        camera_seed = int(rng.integers(2**31)) if rng.random() < degrade_probability else None
        for index in digits.tolist():
            digit = pairs.digits[index]
            instance = int(pools[digit][rng.integers(pools[digit].size)])
            image = render_digit(pairs, scene, digit, instance)
            if camera_seed is not None:  # the same light for the whole group
                image = degrade(image, np.random.default_rng(camera_seed))
            record = PairRecord(scene.colour, digit, scene.background)
            images.append(image)
            records.append(record)
            captions.append(format_caption(template, record, motion, prefix))
            stated.append(template_attributes(template))
            scenes.append(scene_id)
    return PairBatch(np.stack(images), records, captions, stated, np.asarray(scenes))


def heldout_set(pairs: PairWorld, n: int, seed: int) -> tuple[np.ndarray, list[PairRecord]]:
    """``n`` clean stills (uint8 [n, H, W, 3]) from the held-out handwriting, with their records.

    Deterministic in ``seed``; attributes are drawn independently per image.
    """
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0x5EED, n]))
    pools = pairs.instances(heldout=True)
    images, records = [], []
    for _ in range(n):
        scene = draw_scene(pairs, rng)
        digit = pairs.digits[int(rng.integers(len(pairs.digits)))]
        instance = int(pools[digit][rng.integers(pools[digit].size)])
        images.append(render_digit(pairs, scene, digit, instance))
        records.append(PairRecord(scene.colour, digit, scene.background))
    return np.stack(images), records
