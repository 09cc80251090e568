"""``evclip pretrain-clip OUT``: pre-train a small CLIP offline on the benchmark's world."""

from __future__ import annotations

import argparse
import json


def run(args: argparse.Namespace) -> int:
    import dataclasses

    import torch

    from evclip.pretrain.model import TinyClipSpec
    from evclip.pretrain.train import PretrainConfig, pretrain

    if args.threads:
        torch.set_num_threads(args.threads)
    for name in ("steps", "batch_size", "checkpoint_every", "eval_every", "eval_images"):
        if getattr(args, name) < 1:
            raise ValueError(f"--{name.replace('_', '-')} must be at least 1")
    spec = TinyClipSpec.tiny() if args.tiny else TinyClipSpec()
    config = PretrainConfig(steps=args.steps, batch_size=args.batch_size, seed=args.seed, spec=spec)
    if args.lr is not None:
        config = dataclasses.replace(config, lr=args.lr)
    config = dataclasses.replace(config, warmup_steps=min(config.warmup_steps, args.steps // 10))
    summary = pretrain(
        args.output,
        config,
        data=args.data,
        resume=args.resume,
        progress=not args.quiet,
        checkpoint_every=args.checkpoint_every,
        eval_every=args.eval_every,
        eval_images=args.eval_images,
    )
    report = {
        "output": args.output,
        "steps": args.steps,
        "steps_run_now": summary["steps_run_now"],
        "train_seconds_now": summary["train_seconds_now"],
        "final_loss": summary["final_loss"],
        "heldout_images": summary["heldout_images"],
        "heldout": summary["heldout"],
    }
    print(json.dumps(report))
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "pretrain-clip",
        help="pre-train a small CLIP offline on rendered digit image-caption pairs",
        description=(
            "Pre-train a small CLIP (contrastive image-caption loss, learnable temperature) on "
            "image-caption pairs rendered on the fly with the synthetic benchmark's world "
            "(coloured handwritten digits over textures; captions name colour, digit and "
            "background), and save it as a Hugging Face CLIP folder that load_clip reads. "
            "--data names a benchmark built by `evclip synth-dataset`: its seed and settings "
            "decide which handwritten instances train and which are held out, so the model "
            "never sees the benchmark's test handwriting (without --data: the full benchmark "
            "with seed 0). Prints JSON with held-out zero-shot accuracy (digit, colour, "
            "background) against chance."
        ),
    )
    parser.add_argument("output", help="output folder (the model; resumable checkpoint inside)")
    parser.add_argument("--data", help="synthetic benchmark folder (its manifest.json is read)")
    parser.add_argument("--steps", type=int, default=1500, help="optimizer steps (1500)")
    parser.add_argument("--batch-size", type=int, default=128, help="pairs per step (128)")
    parser.add_argument("--lr", type=float, default=None, help="peak learning rate (1e-3)")
    parser.add_argument("--seed", type=int, default=0, help="initialisation and batches (0)")
    parser.add_argument("--resume", action="store_true", help="continue OUT's checkpoint")
    parser.add_argument("--checkpoint-every", type=int, default=100, help="steps (100)")
    parser.add_argument("--eval-every", type=int, default=100, help="steps between checks (100)")
    parser.add_argument("--eval-images", type=int, default=1000, help="held-out images (1000)")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    parser.add_argument("--tiny", action="store_true", help="a tiny model (tests, smoke runs)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(func=run)
