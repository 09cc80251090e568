"""Registered CLIP models: tiny seeded configurations for tests, and the shipped offline tiny CLIP.

Each entry is a factory returning a ``ClipBackbone`` on the CPU in fp32; ``load_clip`` moves it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch

from evclip.backbones.clip import ClipBackbone
from evclip.backbones.errors import BackboneNotFoundError
from evclip.backbones.tokenizer import ClipTokenizer, OpenAIBPETokenizer
from evclip.registry import Registry

CLIP_MODELS: Registry[Callable[[], ClipBackbone]] = Registry("CLIP model")

PRETRAINED_DIR = Path(__file__).parent / "pretrained"
TINY_BENCH_NAME = "evclip-tiny-bench"


def clip_config(
    *,
    vision_width: int,
    vision_layers: int,
    vision_heads: int,
    patch_size: int,
    image_size: int,
    text_width: int,
    text_layers: int,
    text_heads: int,
    embed_dim: int,
    vocab_size: int = 49408,
    context_length: int = 77,
    bos_id: int = 49406,
    eos_id: int = 49407,
    pad_id: int = 0,
    mlp_ratio: float = 4.0,
    vision_mlp_width: int | None = None,
    text_mlp_width: int | None = None,
    hidden_act: str = "quick_gelu",
):
    """A transformers ``CLIPConfig`` with explicit bos/eos/pad ids (never the library defaults)."""
    from transformers import CLIPConfig

    text_config = {
        "hidden_size": text_width,
        "intermediate_size": text_mlp_width or int(text_width * mlp_ratio),
        "num_hidden_layers": text_layers,
        "num_attention_heads": text_heads,
        "vocab_size": vocab_size,
        "max_position_embeddings": context_length,
        "bos_token_id": bos_id,
        "eos_token_id": eos_id,
        "pad_token_id": pad_id,
        "hidden_act": hidden_act,
        "projection_dim": embed_dim,
    }
    vision_config = {
        "hidden_size": vision_width,
        "intermediate_size": vision_mlp_width or int(vision_width * mlp_ratio),
        "num_hidden_layers": vision_layers,
        "num_attention_heads": vision_heads,
        "patch_size": patch_size,
        "image_size": image_size,
        "hidden_act": hidden_act,
        "projection_dim": embed_dim,
    }
    return CLIPConfig(
        text_config=text_config, vision_config=vision_config, projection_dim=embed_dim
    )


def build_random_clip(
    config, *, seed: int = 0, name: str = "clip", tokenizer: ClipTokenizer | None = None
) -> ClipBackbone:
    """A ClipBackbone from ``config`` with weights drawn from ``seed`` (global RNG untouched).

    Args:
        config: a transformers ``CLIPConfig`` (see ``clip_config``).
        seed: seed of the random initialisation.
        name: the backbone's name.
        tokenizer: the tokenizer (OpenAI's BPE when None); its bos/eos/pad ids must be the
            config's.
    """
    from transformers import CLIPModel

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = CLIPModel(config)
    return ClipBackbone(model.eval(), tokenizer or OpenAIBPETokenizer(), name=name)


@CLIP_MODELS.register("test_clip_tiny")
def test_clip_tiny() -> ClipBackbone:
    """Width 64, 2 layers, 2 heads in both towers; 32 px input, patch 8; OpenAI BPE vocabulary."""
    config = clip_config(
        vision_width=64, vision_layers=2, vision_heads=2, patch_size=8, image_size=32,
        text_width=64, text_layers=2, text_heads=2, embed_dim=64,
    )  # fmt: skip
    return build_random_clip(config, seed=0, name="test_clip_tiny")


@CLIP_MODELS.register("test_clip_tiny_uneven")
def test_clip_tiny_uneven() -> ClipBackbone:
    """Towers of different widths and depths with a joint size equal to neither; GELU, patch 16."""
    config = clip_config(
        vision_width=96, vision_layers=3, vision_heads=3, patch_size=16, image_size=48,
        text_width=64, text_layers=2, text_heads=2, embed_dim=80, hidden_act="gelu",
        context_length=40,
    )  # fmt: skip
    return build_random_clip(config, seed=1, name="test_clip_tiny_uneven")


@CLIP_MODELS.register(TINY_BENCH_NAME)
def evclip_tiny_bench() -> ClipBackbone:
    """The small CLIP pre-trained offline on the synthetic benchmark's captions (shipped folder)."""
    from evclip.backbones.loading import load_folder

    folder = PRETRAINED_DIR / TINY_BENCH_NAME
    if not (folder / "config.json").is_file():
        raise BackboneNotFoundError(
            f"{TINY_BENCH_NAME!r} is not built yet: {folder} has no config.json. Build it with "
            f"`evclip pretrain-clip {folder} --data BENCHMARK_DIR`, or pass another model."
        )
    return load_folder(folder, name=TINY_BENCH_NAME)


def list_clip_models(pattern: str | None = None) -> list[str]:
    """Registered CLIP model names (``pattern``: substring filter)."""
    return CLIP_MODELS.names(pattern)
