"""Benchmark: evclip's torch CLIP preprocessing against Pillow per image and transformers'.

A batch of uint8 RGB images (default 64 of 260x346, the DAVIS346 frame size) becomes normalised
224x224 CLIP input: bicubic resize of the shorter side to 224, centre crop, OpenAI mean/std.
``ClipBackbone.preprocess`` does it on the whole batch in torch (antialiased bicubic). The
alternatives a user reaches for without torchvision are timed in the same run:

- Pillow per image: ``Image.resize(BICUBIC)``, ``crop``, then numpy normalisation (what OpenAI's
  torchvision pipeline does to a PIL image, without torchvision);
- transformers' ``CLIPImageProcessor``, which falls back to its Pillow backend here (no
  torchvision installed).

Outputs agree up to the bicubic implementations: Pillow rounds to uint8 after each of its two
passes, torch stays in float; the largest difference is printed and must stay under
``--tolerance`` (in normalised units; one uint8 level is about 0.015).

Run: .venv/bin/python bench/clip_preprocess.py [--batch 64] [--height 260] [--width 346]
"""

from __future__ import annotations

import argparse
import warnings

import numpy as np
import torch
import torch.nn.functional as F
from _common import fail, interleaved_medians, machine_note
from PIL import Image

from evclip.backbones import load_clip


def textured_images(batch: int, height: int, width: int, seed: int = 0) -> np.ndarray:
    """uint8 [B, H, W, 3]: smooth colour texture plus pixel noise (photo-like, seeded)."""
    gen = torch.Generator().manual_seed(seed)
    coarse = torch.rand((batch, 3, height // 8 + 2, width // 8 + 2), generator=gen)
    smooth = F.interpolate(coarse, size=(height, width), mode="bilinear", align_corners=False)
    noise = torch.rand((batch, 3, height, width), generator=gen) - 0.5
    images = (smooth * 230 + noise * 40).clamp(0, 255).round().to(torch.uint8)
    return images.permute(0, 2, 3, 1).contiguous().numpy()


def pil_preprocess(images: np.ndarray, size: int, mean, std) -> torch.Tensor:
    """The per-image Pillow pipeline: [B, H, W, 3] uint8 -> float [B, 3, S, S]."""
    mean_a = np.asarray(mean, np.float32)
    std_a = np.asarray(std, np.float32)
    out = np.empty((len(images), 3, size, size), np.float32)
    for i, array in enumerate(images):
        image = Image.fromarray(array)
        width, height = image.size
        scale = size / min(width, height)
        new_w, new_h = max(size, round(width * scale)), max(size, round(height * scale))
        image = image.resize((new_w, new_h), Image.BICUBIC)
        left, top = (new_w - size) // 2, (new_h - size) // 2
        image = image.crop((left, top, left + size, top + size))
        pixels = np.asarray(image, np.float32) / 255.0  # (S, S, 3)
        out[i] = ((pixels - mean_a) / std_a).transpose(2, 0, 1)
    return torch.from_numpy(out)


def hf_processor(size: int, mean, std):
    """transformers' CLIP image processor, or None when transformers lacks it.

    Without torchvision ``CLIPImageProcessor`` falls back to ``CLIPImageProcessorPil`` (and says
    so on every construction); the Pillow class is asked for by name when it exists.
    """
    import transformers

    cls = getattr(transformers, "CLIPImageProcessorPil", None)
    if cls is None:
        cls = getattr(transformers, "CLIPImageProcessor", None)
    if cls is None:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return cls(
            size={"shortest_edge": size},
            crop_size={"height": size, "width": size},
            image_mean=list(mean),
            image_std=list(std),
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--height", type=int, default=260)
    parser.add_argument("--width", type=int, default=346)
    parser.add_argument("--size", type=int, default=224, help="CLIP input side")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (Pillow uses 1)")
    parser.add_argument("--device", default="cpu", help="where evclip preprocesses (cpu, cuda)")
    parser.add_argument("--tolerance", type=float, default=0.1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    # test_clip_tiny's weights are irrelevant here; only its preprocessing settings are used
    clip = load_clip("test_clip_tiny", image_size=args.size, device=args.device)
    mean, std = clip.image_mean, clip.image_std
    images = textured_images(args.batch, args.height, args.width)
    image_list = list(images)

    def evclip_run() -> torch.Tensor:
        return clip.preprocess(images).cpu()  # numpy [B, H, W, 3] uint8 in, as a loader gives it

    runs = {
        "evclip ClipBackbone.preprocess": evclip_run,
        "Pillow per image + numpy": lambda: pil_preprocess(images, args.size, mean, std),
    }
    processor = hf_processor(args.size, mean, std)
    if processor is not None:
        backend = type(processor).__name__
        runs[f"transformers {backend}"] = lambda: processor(images=image_list, return_tensors="pt")[
            "pixel_values"
        ]
    results = interleaved_medians(runs, args.repeats, args.device)
    ours_s, ours = results["evclip ClipBackbone.preprocess"]
    shape = f"{args.batch} images {args.height}x{args.width} -> {args.size}x{args.size}"
    print(
        f"CLIP preprocessing: {shape}, evclip on {args.device}, median of {args.repeats} "
        "alternating rounds"
    )
    print(machine_note(torch.get_num_threads()))
    header = f"{'ms':>9}{'images/s':>10}{'evclip x':>10}{'max|diff|':>11}{'mean|diff|':>11}"
    print(f"{'pipeline':<40}{header}")
    failures = []
    for name, (seconds, out) in results.items():
        if tuple(out.shape) != tuple(ours.shape):
            failures.append(f"{name}: shape {tuple(out.shape)} != {tuple(ours.shape)}")
            continue
        diff = (out.float() - ours).abs()
        worst, mean_diff = float(diff.max()), float(diff.mean())
        if worst > args.tolerance:
            failures.append(f"{name}: max |diff| {worst:.4f} > tolerance {args.tolerance}")
        speedup = f"{seconds / ours_s:9.1f}x"
        rate = args.batch / seconds
        print(
            f"{name:<40}{seconds * 1e3:9.1f}{rate:10.0f}{speedup:>10}{worst:11.4f}{mean_diff:11.5f}"
        )
    print("evclip x = how many times faster evclip is than that pipeline (same run, same input)")
    if failures:
        fail("; ".join(failures))


if __name__ == "__main__":
    main()
