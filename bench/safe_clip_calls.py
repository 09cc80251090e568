"""Benchmark: SAFE's one CLIP call per batch against the public code's one call per image.

SAFE encodes T RGB frames and T event images per sample with the same CLIP vision tower.
``Safe.extract_features`` preprocesses and encodes all M * B * T images of a batch (M = 2
modalities) in one call; the public code loops in Python and calls the image tower on one image
at a time (``../shared/METHODS.md``, "defects not to repeat"). Both are timed in the same run on
the same batch and CLIP (random weights, default width 256, 4 layers, 112 px, patch 16), under
``torch.no_grad`` (a frozen backbone, or feature extraction). The tokens must agree to
``--tolerance`` (batched and single-image matrix products round differently).

Run: .venv/bin/python bench/safe_clip_calls.py [--batch 4] [--frames 5] [--width 256]
"""

from __future__ import annotations

import argparse

import torch
from _common import fail, interleaved_medians, machine_note

from evclip.backbones.configs import build_random_clip, clip_config
from evclip.models.safe import FEATURE_KEYS, build_safe


def bench_clip(width: int, layers: int, image_size: int, patch: int, device: str):
    """A CLIP with random weights: vision and text towers of ``width`` and ``layers``."""
    heads = max(1, width // 64)
    config = clip_config(
        vision_width=width, vision_layers=layers, vision_heads=heads, patch_size=patch,
        image_size=image_size, text_width=width, text_layers=2, text_heads=heads,
        embed_dim=width,
    )  # fmt: skip
    return build_random_clip(config, seed=0, name="bench_clip").to(device)


def random_batch(batch: int, frames: int, height: int, width: int, seed: int = 0) -> dict:
    """SAFE's input: uint8 [B, T, 3, H, W] RGB frames and event images."""
    gen = torch.Generator().manual_seed(seed)
    shape = (batch, frames, 3, height, width)
    return {
        "rgb": torch.randint(0, 256, shape, generator=gen, dtype=torch.uint8),
        "events": torch.randint(0, 256, shape, generator=gen, dtype=torch.uint8),
    }


def per_image_features(safe, batch: dict) -> dict[str, torch.Tensor]:
    """The public code's loop: preprocess and encode each frame of each sample by itself."""
    clip = safe.clip
    out = {}
    for modality in safe.modalities:
        images = batch[modality]  # (B, T, 3, H, W)
        samples = []
        for b in range(images.shape[0]):
            frames = []
            for t in range(images.shape[1]):
                pixels = clip.preprocess(images[b, t][None])  # (1, 3, S, S)
                tokens = clip.project_image_tokens(clip.image_tokens(pixels))  # (1, 1 + N, D)
                frames.append(tokens[0])
            samples.append(torch.stack(frames))  # (T, 1 + N, D)
        out[FEATURE_KEYS[modality]] = torch.stack(samples)  # (B, T, 1 + N, D)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--frames", type=int, default=5)
    parser.add_argument("--input-size", type=int, default=128, help="side of the stored frames")
    parser.add_argument("--width", type=int, default=256)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--image-size", type=int, default=112)
    parser.add_argument("--patch", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--tolerance", type=float, default=1e-3)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    clip = bench_clip(args.width, args.layers, args.image_size, args.patch, args.device)
    safe = build_safe(
        clip=clip, class_names=["a", "b", "c"], num_frames=args.frames, freeze="all",
        dim=64, heads=2,
    ).eval()  # fmt: skip
    batch = random_batch(args.batch, args.frames, args.input_size, args.input_size)
    batch = {k: v.to(args.device) for k, v in batch.items()}
    images = len(safe.modalities) * args.batch * args.frames

    with torch.no_grad():
        runs = {
            "batched": lambda: safe.extract_features(batch),
            "looped": lambda: per_image_features(safe, batch),
        }
        results = interleaved_medians(runs, args.repeats, args.device)
    (batched_s, batched), (looped_s, looped) = results["batched"], results["looped"]
    for key, value in looped.items():
        if batched[key].shape != value.shape:
            fail(f"{key}: batched shape {tuple(batched[key].shape)} != {tuple(value.shape)}")
    worst = max(float((batched[k] - looped[k]).abs().max()) for k in looped)
    scale = max(float(v.abs().max()) for v in looped.values())
    model = (
        f"CLIP width {args.width}, {args.layers} layers, {args.image_size} px, patch {args.patch}"
    )
    print(
        f"SAFE CLIP calls: {args.batch} samples x {args.frames} frames x "
        f"{len(safe.modalities)} modalities = {images} images of {args.input_size}x"
        f"{args.input_size}; {model}; {args.device}, no_grad, median of {args.repeats} "
        "alternating rounds"
    )
    print(machine_note(torch.get_num_threads()))
    print(f"{'approach':<44}{'calls':>7}{'ms':>10}{'images/s':>10}")
    print(f"{'evclip Safe.extract_features (one call)':<44}{1:>7}{batched_s * 1e3:10.1f}"
          f"{images / batched_s:10.1f}")  # fmt: skip
    print(f"{'public code: one CLIP call per image':<44}{images:>7}{looped_s * 1e3:10.1f}"
          f"{images / looped_s:10.1f}")  # fmt: skip
    print(f"speed-up of one call over the per-image loop: {looped_s / batched_s:.2f}x")
    print(f"tokens agree: max |diff| {worst:.2e} (largest |token| {scale:.1f})")
    if not worst <= args.tolerance:
        fail(f"batched and per-image tokens differ by {worst:.2e} > {args.tolerance}")


if __name__ == "__main__":
    main()
