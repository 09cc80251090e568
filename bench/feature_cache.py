"""Benchmark: a SAFE epoch on the engine's feature cache against recomputing CLIP every epoch.

With a frozen CLIP, SAFE's CLIP tokens never change, so the engine writes them once to a
memory-mapped cache (:mod:`evclip.engine.cache`) and later epochs read them back instead of
decoding the frames and running CLIP again. Both ways of running a training epoch are timed in
the same run, on a split of the small synthetic benchmark (``--root``; built there on the first
run, 10 s to a minute, and reused afterwards; the 20-clip test split by default to stay short,
``--split train`` for the 40 training clips), with the engine's own pieces: ``FeatureCache.fill``,
``CachedDataset``, ``IndexedDataset``, ``make_loader`` and ``move_batch``. Every timed epoch
starts from the same head weights and a fresh AdamW, so the two ways must produce the same
losses; the logits of ``predict`` on the first batch must agree too. The epochs run after the
cache is filled, which warms both paths up.

The CLIP has random weights and the head is small (width 64). The cached epoch still pays the
head's forward and backward over every token, so the ratio depends on CLIP's cost against the
head's. ``--shape`` picks the CLIP: ``vitb16`` (the default; the paper's ViT-B/16: vision width
768, 12 layers, 12 heads, patch 16, 224 px; text width 512, 12 layers, 8 heads; joint space 512)
or ``tiny`` (width 128, 4 layers, 112 px, patch 16; text width 64, 2 layers), where CLIP is cheap
next to the head and the ratio is small. ``--width``, ``--layers``, ``--image-size`` and
``--patch`` override the preset's vision tower. A ViT-B/16 forward pass costs 0.3 to 0.5 s per
image on the shared 2-core CPU, so ``vitb16`` uses the first ``--limit`` samples of the split
(4 by default: 40 images an epoch, one batch) and 3 rounds, 2 to 3 minutes in all;
``--limit 0`` uses the whole split. Loading is part of the saving: the recomputing epoch
decodes the PNG frames again.

Run: .venv/bin/python bench/feature_cache.py [--shape vitb16|tiny] [--limit 4] [--split test]
     [--root SYNTH_DIR] [--batch 8]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch
from _common import fail, interleaved_medians, machine_note
from torch.utils.data import Subset

from evclip.backbones.configs import build_random_clip, clip_config
from evclip.datasets import build_synthetic_benchmark, get_dataset
from evclip.datasets.synthetic import FORMAT_VERSION
from evclip.engine.cache import (
    CachedDataset,
    FeatureCache,
    cache_folder,
    method_cache_key,
    sample_paths,
)
from evclip.engine.data import IndexedDataset, class_names_of, make_loader, move_batch
from evclip.models.safe import build_safe

#: CLIP shapes: the vision tower (``--width`` etc. override it), the text tower, the defaults.
SHAPES = {
    "vitb16": {
        "width": 768, "layers": 12, "image_size": 224, "patch": 16, "text_width": 512,
        "text_layers": 12, "embed_dim": 512, "limit": 4, "repeats": 3,
    },
    "tiny": {
        "width": 128, "layers": 4, "image_size": 112, "patch": 16, "text_width": 64,
        "text_layers": 2, "embed_dim": None, "limit": 0, "repeats": 3,
    },
}  # fmt: skip


def frozen_safe(class_names: list[str], args: argparse.Namespace):
    """SAFE (paper head) over a random CLIP, every CLIP weight frozen."""
    config = clip_config(
        vision_width=args.width, vision_layers=args.layers, vision_heads=max(1, args.width // 64),
        patch_size=args.patch, image_size=args.image_size, text_width=args.text_width,
        text_layers=args.text_layers, text_heads=max(1, args.text_width // 64),
        embed_dim=args.embed_dim or args.width,
    )  # fmt: skip
    clip = build_random_clip(config, seed=0, name="bench_clip").to(args.device)
    return build_safe(
        clip=clip, class_names=class_names, num_frames=args.frames, freeze="all",
        templates="photo", dim=64, heads=2,
    )  # fmt: skip


def run_epoch(method, dataset, initial: dict, args: argparse.Namespace) -> list[float]:
    """One training epoch over ``dataset`` from the ``initial`` weights; the loss of each step."""
    method.load_state_dict(initial)
    method.train()
    optimizer = torch.optim.AdamW(method.parameter_groups()["head"], lr=1e-3)
    losses = []
    for batch in make_loader(dataset, batch_size=args.batch):
        out = method.training_step(move_batch(batch, torch.device(args.device)))
        out["loss"].backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        losses.append(out["loss"].detach().item())
    return losses


@torch.no_grad()
def first_logits(method, dataset, args: argparse.Namespace) -> torch.Tensor:
    """``predict`` on the first batch of the split, in eval mode -> [batch, C]."""
    method.eval()
    batch = next(iter(make_loader(dataset, batch_size=args.batch)))
    return method.predict(move_batch(batch, torch.device(args.device))).cpu()


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--root",
        type=Path,
        # a new format version of the benchmark gets a new folder (an old build is refused)
        default=Path(tempfile.gettempdir()) / f"evclip-bench-synthetic-small-v{FORMAT_VERSION}",
        help="the small synthetic benchmark (built there when missing or unfinished)",
    )
    parser.add_argument("--split", default="test", help="test: 20 clips; train: 40")
    parser.add_argument("--shape", choices=sorted(SHAPES), default="vitb16")
    parser.add_argument(
        "--limit",
        type=int,
        default=None,
        help="the first N samples of the split (0: all; default: the shape's)",
    )
    parser.add_argument("--frames", type=int, default=5)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--width", type=int, default=None, help="vision width (the shape's)")
    parser.add_argument("--layers", type=int, default=None)
    parser.add_argument("--image-size", type=int, default=None)
    parser.add_argument("--patch", type=int, default=None)
    parser.add_argument("--repeats", type=int, default=None, help="rounds (the shape's)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--tolerance", type=float, default=1e-4)
    args = parser.parse_args()
    for key, value in SHAPES[args.shape].items():
        if getattr(args, key, None) is None:
            setattr(args, key, value)
    return args


def main() -> None:
    args = parse_args()
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory(prefix="evclip-bench-cache-") as scratch:
        build_synthetic_benchmark(args.root, size="small", seed=0, progress=False)  # or resume
        # centred frames (train=False): the features are the same every epoch, so cacheable
        full = get_dataset("synthetic", root=args.root, split=args.split, train=False)
        count = min(args.limit, len(full)) if args.limit else len(full)
        dataset = Subset(full, range(count)) if count < len(full) else full
        paths = (sample_paths(full) or [])[:count] or None
        method = frozen_safe(class_names_of(full), args)
        key = method_cache_key(method)
        if key is None:
            fail("the frozen SAFE offers no feature-cache key")
        cache = FeatureCache(cache_folder(Path(scratch) / "cache", dataset, key))
        start = time.perf_counter()
        cache.fill(method, dataset, batch_size=args.batch, device=args.device)
        fill_s = time.perf_counter() - start
        cached = CachedDataset(cache, class_names_of(full), paths)
        files = IndexedDataset(dataset)
        initial = {k: v.clone() for k, v in method.state_dict().items()}
        runs = {
            "recompute": lambda: run_epoch(method, files, initial, args),
            "cached": lambda: run_epoch(method, cached, initial, args),
        }
        results = interleaved_medians(runs, args.repeats, args.device, warmup=0)
        (recompute_s, recompute_losses), (cached_s, cached_losses) = results.values()
        method.load_state_dict(initial)
        logits_diff = float((first_logits(method, files, args) - first_logits(method, cached, args))
                            .abs().max())  # fmt: skip
        cache_mb = sum(p.stat().st_size for p in cache.folder.rglob("*.npy")) / 1e6
    loss_diff = max(abs(a - b) for a, b in zip(recompute_losses, cached_losses, strict=True))
    n = len(dataset)
    print(
        f"SAFE epoch with a frozen CLIP ({args.shape}: vision width {args.width}, {args.layers} "
        f"layers, {args.image_size} px, patch {args.patch}; text width {args.text_width}, "
        f"{args.text_layers} layers): {n} of the {len(full)} samples of the synthetic "
        f"'{args.split}' split, {args.frames} RGB + {args.frames} event frames each, batch "
        f"{args.batch}, "
        f"{args.device}, median of {args.repeats} alternating epochs each"
    )
    print(machine_note(torch.get_num_threads()))
    print(f"{'epoch':<46}{'seconds':>9}{'samples/s':>11}")
    print(
        f"{'recompute: decode frames + CLIP + head':<46}{recompute_s:9.3f}{n / recompute_s:11.1f}"
    )
    print(f"{'evclip feature cache: mmap read + head':<46}{cached_s:9.3f}{n / cached_s:11.1f}")
    print(f"{'(one-off) fill the cache':<46}{fill_s:9.3f}{n / fill_s:11.1f}")
    print(
        f"cache size: {cache_mb:.1f} MB; speed-up of a cached epoch: {recompute_s / cached_s:.1f}x"
    )
    print(f"agreement: max |loss diff| {loss_diff:.2e}, max |logit diff| {logits_diff:.2e}")
    worst = max(loss_diff, logits_diff)
    if not worst <= args.tolerance:
        fail(f"cached and recomputed runs differ by {worst:.2e} > {args.tolerance}")


if __name__ == "__main__":
    main()
