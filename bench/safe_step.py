"""Benchmark: one SAFE training step in evclip against the public code's way of calling CLIP.

A step is forward, backward and an AdamW update of SAFE with a fine-tuned CLIP (``freeze="none"``
and lr 8e-6, as the paper) and the paper head. The two sides share the model, the head, the
batch, the loss and the optimiser; only the way CLIP's two towers are called differs:

- evclip, ``Safe.training_step``: one vision call over all M * B * T images of the batch
  (M = 2 modalities), and the class sentences through the text tower once per step, run only up
  to the last end-of-text token (the mask is causal, so the padding after it changes nothing).
- the public code (Event-AHU/SAFE_LargeVLM, ``models/base_block.py``): the vision tower called
  on one image at a time in a Python loop (``../shared/METHODS.md`` section 1, "defects not to
  repeat"), and the class sentences through OpenAI's ``encode_text``, which runs all 77
  positions of the context. It encodes the text once per forward call, i.e. once per step.
  ``--text-per-sample`` encodes it once per sample of the batch instead (how issue 9 describes
  the public code; the published code read for this script does not do that). ``--breakdown``
  also times per-image vision calls with evclip's text, which splits the gain between the two.

With ``--amp`` (``auto`` by default: where the device has native bf16 matrix products, as CPUs
with AVX512-BF16 or AMX and recent GPUs do), evclip's step is also timed under the engine's
bf16 autocast (``optim.amp=bf16``), against the same fp32 public pattern: the public code has no
mixed precision. bf16 rounds, so that side is checked on the loss only (within 2%).

``--flops`` counts each side's FLOPs (one more step each). On the 2-core CPU: 3.22 TFLOP at 98
GFLOP/s against 4.99 TFLOP at 90 GFLOP/s, with the matrix-multiply peak at 140-188 GFLOP/s, so
the public pattern's one-image calls already keep the CPU busy and the step ratio cannot go far
past the FLOP ratio (1.55x); a GPU's further gain (one launch instead of 20, no idle device
between one-image calls) does not exist on a CPU.

Every timed step starts from the same weights with a fresh AdamW (reloading them is inside the
timing for both sides, a fraction of a percent of a step), so the two losses and the gradients
of a head parameter and of two CLIP parameters (text and vision) must agree to ``--tolerance``
(batched and one-image matrix products, full and trimmed text, round differently).

The default is the ViT-B/16 shape with random weights (vision width 768, 12 layers, 12 heads,
patch 16, 224 px; text width 512, 12 layers, 8 heads; joint space 512), 5 RGB frames and 5
event images per sample, batch 2, the paper head at width 768, and 114 classes (PokerEvent's
count; the public code encodes every class name at every step). On the shared 2-core CPU a
step takes one to four minutes, so the default times a single round and no warm-up (the
one-off costs of a first call are small next to such a step): 4 to 5 minutes in all.
``--repeats`` and ``--warmup`` add rounds; ``--width``, ``--layers``, ``--image-size``,
``--text-layers``, ``--classes``, ``--batch`` and ``--frames`` shrink the step.

Run: .venv/bin/python bench/safe_step.py [--batch 2] [--frames 5] [--classes 114] [--width 768]
     [--breakdown] [--text-per-sample] [--amp auto|bf16|none]
"""

from __future__ import annotations

import argparse
from functools import partial

import torch
import torch.nn.functional as F
from _common import fail, flop_counter, interleaved_medians, machine_note
from safe_clip_calls import per_image_features, random_batch

from evclip.backbones.configs import build_random_clip, clip_config
from evclip.engine.build import autocast_factory
from evclip.models.safe import FEATURE_KEYS, build_safe

#: Parameters whose gradients the two sides must agree on: the head, the text and vision towers.
WATCHED = (
    "head.visual_in.weight",
    "clip.model.text_model.final_layer_norm.weight",
    "clip.model.vision_model.embeddings.patch_embedding.weight",
)


def add_model_args(parser: argparse.ArgumentParser) -> None:
    """Flags of the model's shape and input (ViT-B/16 defaults); shared with safe_inference."""
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--frames", type=int, default=5)
    parser.add_argument("--classes", type=int, default=114, help="PokerEvent has 114")
    parser.add_argument("--input-size", type=int, default=224, help="side of the stored frames")
    parser.add_argument("--width", type=int, default=768, help="vision width (heads = width/64)")
    parser.add_argument("--layers", type=int, default=12, help="vision layers")
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--patch", type=int, default=16)
    parser.add_argument("--text-width", type=int, default=512)
    parser.add_argument("--text-layers", type=int, default=12)
    parser.add_argument("--embed-dim", type=int, default=512)
    parser.add_argument("--head-dim", type=int, default=768, help="fusion width (heads = dim/64)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu")


def model_note(args: argparse.Namespace) -> str:
    """The model's shape in words, for the first printed line."""
    return (
        f"vision width {args.width}, {args.layers} layers, {args.image_size} px, patch "
        f"{args.patch}; text width {args.text_width}, {args.text_layers} layers; paper head "
        f"width {args.head_dim}; {args.classes} classes"
    )


def labelled_batch(args: argparse.Namespace) -> dict:
    """Random uint8 frames and event images [B, T, 3, H, W] and labels [B], on the device."""
    batch = random_batch(args.batch, args.frames, args.input_size, args.input_size)
    batch["label"] = torch.arange(args.batch) % args.classes
    return {k: v.to(args.device) for k, v in batch.items()}


def build_model(args: argparse.Namespace, freeze: str = "none"):
    """SAFE (paper head) over a random CLIP of the requested shape (``freeze`` policy)."""
    config = clip_config(
        vision_width=args.width, vision_layers=args.layers, vision_heads=max(1, args.width // 64),
        patch_size=args.patch, image_size=args.image_size, text_width=args.text_width,
        text_layers=args.text_layers, text_heads=max(1, args.text_width // 64),
        embed_dim=args.embed_dim,
    )  # fmt: skip
    clip = build_random_clip(config, seed=0, name="bench_clip").to(args.device)
    class_names = [f"class {i}" for i in range(args.classes)]
    return build_safe(
        clip=clip, class_names=class_names, num_frames=args.frames, freeze=freeze,
        variant="paper", dim=args.head_dim, heads=max(1, args.head_dim // 64),
    )  # fmt: skip


def full_context_class_tokens(clip, ids: torch.Tensor, owners: torch.Tensor) -> torch.Tensor:
    """Class tokens [C, D] as OpenAI's ``encode_text`` makes them: all L positions of ids [S, L].

    Same ensemble as ``evclip.models.safe_text.ensemble_embeddings`` (normalise, average per
    class, normalise), so the head sees the same values; only the text tower's length differs.
    """
    pooled = clip.text(input_ids=ids).pooler_output  # (S, Wt), every position of the context
    embeddings = F.normalize(clip.model.text_projection(pooled).float(), dim=-1)  # (S, D)
    count = int(owners.max()) + 1
    sums = embeddings.new_zeros(count, embeddings.shape[-1]).index_add(0, owners, embeddings)
    return F.normalize(sums, dim=-1)  # (C, D)


def public_loss(safe, batch: dict, text: str) -> torch.Tensor:
    """The public code's calling pattern feeding evclip's head: one CLIP call per image.

    ``text``: ``"step"`` (77-token text once per step, the public code), ``"sample"`` (once per
    sample) or ``"evclip"`` (evclip's class tokens: isolates the per-image vision calls).
    """
    features = per_image_features(safe, batch)  # one vision call per image
    visual = {m: features[FEATURE_KEYS[m]] for m in safe.modalities}  # each (B, T, N, D)
    if text == "evclip":
        class_tokens = safe.class_tokens(safe.clip)[0]  # (C, D)
    else:
        ids, owners = safe.class_tokens.ids, safe.class_tokens.owners
        copies = batch["label"].shape[0] if text == "sample" else 1
        # identical copies, one per sample: their mean is the same tokens, the gradient shared
        class_tokens = torch.stack(
            [full_context_class_tokens(safe.clip, ids, owners) for _ in range(copies)]
        ).mean(0)  # (C, D)
    logits, _ = safe.head(visual, class_tokens)  # (B, C)
    return F.cross_entropy(logits.float(), batch["label"])


def train_step(safe, initial: dict, loss_fn, args: argparse.Namespace):
    """One step from the ``initial`` weights: (loss, gradients of the WATCHED parameters)."""
    safe.load_state_dict(initial)
    safe.train()
    parameters = [p for p in safe.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(parameters, lr=args.lr, weight_decay=1e-4)
    loss = loss_fn()
    loss.backward()
    named = dict(safe.named_parameters())
    grads = {name: named[name].grad.detach().clone() for name in WATCHED}
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return loss.detach().item(), grads


def text_tokens(safe, text_per_sample: bool, batch: int) -> tuple[int, int]:
    """Token positions the text tower runs per step: (evclip, public code)."""
    ids = safe.class_tokens.ids  # (S, L)
    eos = (ids == safe.clip.tokenizer.eos_id).int().argmax(dim=1)  # (S,)
    trimmed = ids.shape[0] * (int(eos.max()) + 1)
    full = ids.numel() * (batch if text_per_sample else 1)
    return trimmed, full


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_model_args(parser)
    parser.add_argument("--lr", type=float, default=8e-6)
    parser.add_argument("--text-per-sample", action="store_true",
                        help="public side encodes the class text once per sample (issue 9's "
                        "description) instead of once per step (the published code)")  # fmt: skip
    parser.add_argument(
        "--breakdown",
        action="store_true",
        help="also time per-image CLIP calls with evclip's text, to split the "
        "gain between the text and the vision calls",
    )
    parser.add_argument(
        "--amp", choices=("auto", "bf16", "none"), default="auto",
        help="also time evclip's step under the engine's bf16 autocast (optim.amp=bf16; the "
        "public code has none); auto: where the device has fast bf16 kernels",
    )  # fmt: skip
    parser.add_argument(
        "--flops", action="store_true",
        help="also count each side's FLOPs (torch's FlopCounterMode, one more step each) and "
        "print the rate: where both run at the device's peak, the step ratio is the FLOP ratio",
    )  # fmt: skip
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--warmup", type=int, default=0)
    parser.add_argument("--tolerance", type=float, default=1e-3,
                        help="largest loss and relative gradient difference")  # fmt: skip
    return parser.parse_args()


def check_agreement(evclip: tuple, public: tuple, tolerance: float) -> str:
    """Compares (loss, grads) of both sides; fails beyond ``tolerance``; returns a summary."""
    loss_diff = abs(evclip[0] - public[0])
    parts = [f"loss {evclip[0]:.6f} vs {public[0]:.6f} (|diff| {loss_diff:.2e})"]
    worst = loss_diff
    for name in WATCHED:
        a, b = evclip[1][name], public[1][name]
        relative = float((a - b).abs().max()) / max(float(b.abs().max()), 1e-12)
        worst = max(worst, relative)
        parts.append(f"grad {name.split('.', 1)[0]}:{name.rsplit('.', 2)[-2]} rel {relative:.1e}")
    if not worst <= tolerance:
        fail(f"evclip and public-pattern steps differ by {worst:.2e} > {tolerance}: {parts}")
    return "; ".join(parts)


def main() -> None:
    args = parse_args()
    torch.set_num_threads(args.threads)
    safe = build_model(args)
    batch = labelled_batch(args)
    initial = {k: v.detach().clone() for k, v in safe.state_dict().items()}
    public_text = "sample" if args.text_per_sample else "step"
    losses = {
        "evclip": lambda: safe.training_step(batch)["loss"],
        "public": partial(public_loss, safe, batch, public_text),
    }
    if args.breakdown:
        losses["vision"] = partial(public_loss, safe, batch, "evclip")
    if use_bf16(args):
        autocast = autocast_factory("bf16", torch.device(args.device))

        def bf16_loss():
            with autocast():
                return safe.training_step(batch)["loss"]

        losses["bf16"] = bf16_loss
    runs = {name: partial(train_step, safe, initial, fn, args) for name, fn in losses.items()}
    results = interleaved_medians(runs, args.repeats, args.device, warmup=args.warmup)
    (evclip_s, evclip), (public_s, public) = results["evclip"], results["public"]
    images = len(safe.modalities) * args.batch * args.frames
    trimmed, full = text_tokens(safe, args.text_per_sample, args.batch)
    text_calls = args.batch if args.text_per_sample else 1
    print(
        f"SAFE training step (forward, backward, AdamW lr {args.lr:g}), CLIP fine-tuned: "
        f"{model_note(args)}; batch {args.batch} x {args.frames} frames x "
        f"{len(safe.modalities)} modalities = {images} images; {args.device}, median of "
        f"{args.repeats} alternating round(s) after {args.warmup} warm-up"
    )
    print(machine_note(torch.get_num_threads()))
    rows = [("evclip Safe.training_step", 1, 1, trimmed, evclip_s)]
    rows.append(("public code: per-image CLIP, 77-token text", images, text_calls, full, public_s))
    if args.breakdown:
        rows.append(("per-image CLIP, evclip's text", images, 1, trimmed, results["vision"][0]))
    print(f"{'approach':<44}{'vision calls':>13}{'text calls':>11}{'text tokens':>12}"
          f"{'s/step':>9}{'samples/s':>11}")  # fmt: skip
    for name, vision_calls, calls, tokens, seconds in rows:
        print(f"{name:<44}{vision_calls:>13}{calls:>11}{tokens:>12}{seconds:9.2f}"
              f"{args.batch / seconds:11.3f}")  # fmt: skip
    print(f"speed-up of evclip's step over the public pattern: {public_s / evclip_s:.2f}x")
    per_sample = ", and once per step rather than per sample" * args.text_per_sample
    print(
        f"where it comes from: the text tower runs {trimmed} token positions per step in evclip "
        f"against {full} in the public pattern ({full / trimmed:.1f}x fewer: the class sentences "
        f"stop at their last end-of-text token{per_sample}), and the vision tower gets one call "
        f"of {images} images against {images} one-image calls; the vision FLOPs, the head and "
        "the optimiser are the same on both sides"
    )
    if args.breakdown:
        vision_s = results["vision"][0]
        print(
            f"breakdown: the one vision call saves {vision_s - evclip_s:.2f} s a step "
            f"({vision_s / evclip_s:.2f}x), the shorter text {public_s - vision_s:.2f} s "
            f"({public_s / vision_s:.2f}x)"
        )
    if "bf16" in results:
        bf16_s, (bf16_loss_value, _) = results["bf16"]
        print(
            f"with the engine's bf16 autocast (optim.amp=bf16): {bf16_s:.2f} s/step, "
            f"{public_s / bf16_s:.2f}x the public pattern in fp32 (loss {bf16_loss_value:.4f} "
            f"vs {public[0]:.4f} in fp32; bf16 rounds, so only the loss is compared, to 2%)"
        )
        if not abs(bf16_loss_value - public[0]) <= 0.02 * abs(public[0]):
            fail(f"bf16 loss {bf16_loss_value} is not within 2% of fp32's {public[0]}")
    if args.breakdown:
        check_agreement(evclip, results["vision"][1], args.tolerance)
    print(f"agreement: {check_agreement(evclip, public, args.tolerance)}")
    if args.flops:
        counted = {name: count_flops(runs[name]) for name in ("evclip", "public")}
        for name, seconds in (("evclip", evclip_s), ("public", public_s)):
            rate = counted[name] / 1e9 / seconds
            print(f"{name}: {counted[name] / 1e12:.2f} TFLOP a step, {rate:.0f} GFLOP/s timed")
        print(
            f"FLOP ratio public / evclip: {counted['public'] / counted['evclip']:.2f}x (the step "
            "ratio if both sides ran at the same FLOP rate)"
        )


def count_flops(step) -> int:
    """FLOPs of one training step (matrix products, convolutions, attention)."""
    with flop_counter() as counter:
        step()
    return counter.get_total_flops()


def use_bf16(args: argparse.Namespace) -> bool:
    """``--amp``: bf16 asked for, or (auto) the device runs bf16 matrix products natively."""
    if args.amp != "auto":
        return args.amp == "bf16"
    if args.device.startswith("cuda"):
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    return bool(
        torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported()
    )


if __name__ == "__main__":
    main()
