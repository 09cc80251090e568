"""Benchmark: evclip's batched zero-shot classifier against open_clip's loop over classes.

``evclip.prompts.zero_shot_classifier`` fills every template with every class name and encodes
all the sentences in batches of ``--chunk`` (512 by default), then averages per class with one
``index_add``. open_clip's ``build_zero_shot_classifier`` (without its ``num_classes_per_batch``
option, as its zero-shot scripts and most copies of it run) loops over the classes and encodes
one class's templates per call. Both are timed in the same run on the 80 ImageNet templates
and the class captions of the full synthetic benchmark (16 of its 60 by default, to stay
short on a CPU; ``--classes 60`` for all), and the class embeddings must agree.

The CLIP text tower has random weights and test_clip_tiny's shape by default (width 64, 2
layers, context 77); ``--width 512 --layers 12`` is ViT-B/16's text tower.

Run: .venv/bin/python bench/zeroshot_text.py [--classes 16] [--templates imagenet] [--width 64]
"""

from __future__ import annotations

import argparse

import torch
import torch.nn.functional as F
from _common import fail, interleaved_medians, machine_note

from evclip.backbones.configs import build_random_clip, clip_config
from evclip.datasets.synthetic import SyntheticConfig
from evclip.prompts import format_prompts, get_templates, zero_shot_classifier


def text_clip(width: int, layers: int):
    """A CLIP with random weights whose text tower is ``width`` wide and ``layers`` deep."""
    heads = max(1, width // 64)
    config = clip_config(
        vision_width=64, vision_layers=1, vision_heads=1, patch_size=8, image_size=32,
        text_width=width, text_layers=layers, text_heads=heads, embed_dim=width,
    )  # fmt: skip
    return build_random_clip(config, seed=0, name="bench_text_clip")


def class_names(count: int) -> list[str]:
    """``count`` distinct captions: the full synthetic benchmark's, numbered when more are asked."""
    names = SyntheticConfig.full().class_names()
    return [names[i % len(names)] + (f" {i // len(names)}" if i >= len(names) else "")
            for i in range(count)]  # fmt: skip


def per_class_classifier(clip, names: list[str], templates: list[str]) -> torch.Tensor:
    """open_clip's loop: one text-encoder call per class, mean of the normalised embeddings."""
    weights = []
    for name in names:
        embeddings = clip.encode_text(format_prompts(templates, name), normalize=True)  # (K, D)
        weights.append(F.normalize(embeddings.mean(0), dim=-1))
    return torch.stack(weights)  # (C, D)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--classes", type=int, default=16)
    parser.add_argument("--templates", default="imagenet", help="a template set of evclip.prompts")
    parser.add_argument("--width", type=int, default=64)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--chunk", type=int, default=512, help="sentences per batched call")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--tolerance", type=float, default=1e-5)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    clip = text_clip(args.width, args.layers)
    names = class_names(args.classes)
    templates = list(get_templates(args.templates))
    sentences = len(names) * len(templates)

    with torch.no_grad():
        runs = {
            "batched": lambda: zero_shot_classifier(clip, names, templates, batch_size=args.chunk),
            "looped": lambda: per_class_classifier(clip, names, templates),
        }
        results = interleaved_medians(runs, args.repeats)
    (batched_s, batched), (looped_s, looped) = results["batched"], results["looped"]
    if batched.shape != looped.shape:
        fail(f"classifier shapes differ: {tuple(batched.shape)} != {tuple(looped.shape)}")
    worst = float((batched - looped).abs().max())
    calls = -(-sentences // args.chunk)
    print(
        f"zero-shot classifier: {len(names)} classes x {len(templates)} templates "
        f"({args.templates}) = {sentences} sentences; text tower width {args.width}, "
        f"{args.layers} layers, context {clip.context_length}; median of {args.repeats} "
        "alternating rounds"
    )
    print(machine_note(torch.get_num_threads()))
    print(f"{'approach':<46}{'calls':>7}{'ms':>10}{'sentences/s':>13}")
    print(f"{'evclip zero_shot_classifier (batched)':<46}{calls:>7}{batched_s * 1e3:10.1f}"
          f"{sentences / batched_s:13.0f}")  # fmt: skip
    print(f"{'open_clip-style loop, one call per class':<46}{len(names):>7}"
          f"{looped_s * 1e3:10.1f}{sentences / looped_s:13.0f}")  # fmt: skip
    print(
        f"speed-up of the batched classifier over the per-class loop: {looped_s / batched_s:.2f}x"
    )
    print(f"class embeddings agree: max |diff| {worst:.2e} (unit vectors)")
    if not worst <= args.tolerance:
        fail(f"batched and per-class embeddings differ by {worst:.2e} > {args.tolerance}")


if __name__ == "__main__":
    main()
