"""The small CLIP that evclip pre-trains offline, and the Hugging Face folder it is saved as.

The model is a plain transformers ``CLIPModel`` (a ViT image tower whose patch embedding is a
strided convolution, a causal text transformer pooled at EOS), so the saved folder reads like any
hub checkpoint: ``config.json`` + ``model.safetensors`` + tokenizer files +
``preprocessor_config.json`` in the CLIP image processor's format.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from evclip.pretrain.captions import SPECIAL_TOKENS, build_tokenizer

# Mean and std of the rendered stills (measured on 2 048 training images, rounded).
IMAGE_MEAN = (0.30, 0.30, 0.30)
IMAGE_STD = (0.16, 0.16, 0.16)


@dataclass(frozen=True)
class TinyClipSpec:
    """Sizes of the pre-trained CLIP (defaults: the shipped ``evclip-tiny-bench``)."""

    # 32 px with 8 px patches (16 tokens): a supervised probe of this tower left chance after
    # ~125 steps, against none in 125 steps at 4 px patches (64 tokens), for a quarter the cost
    image_size: int = 32
    patch_size: int = 8
    vision_width: int = 128
    vision_layers: int = 3
    vision_heads: int = 4
    text_width: int = 64
    text_layers: int = 2
    text_heads: int = 4
    embed_dim: int = 64
    context_length: int = 24
    mlp_ratio: int = 4

    @classmethod
    def tiny(cls) -> TinyClipSpec:
        """A few-thousand-parameter variant for tests."""
        return cls(
            image_size=16,
            patch_size=4,
            vision_width=32,
            vision_layers=1,
            vision_heads=2,
            text_width=32,
            text_layers=1,
            text_heads=2,
            embed_dim=16,
            context_length=24,
        )


def clip_config(spec: TinyClipSpec, vocab_size: int):
    """A transformers ``CLIPConfig`` for ``spec`` with the word-level vocabulary's special ids."""
    from transformers import CLIPConfig

    pad, _, bos, eos = range(len(SPECIAL_TOKENS))
    text = {
        "vocab_size": vocab_size,
        "hidden_size": spec.text_width,
        "intermediate_size": spec.mlp_ratio * spec.text_width,
        "num_hidden_layers": spec.text_layers,
        "num_attention_heads": spec.text_heads,
        "max_position_embeddings": spec.context_length,
        "projection_dim": spec.embed_dim,
        "hidden_act": "quick_gelu",
        "pad_token_id": pad,
        "bos_token_id": bos,
        "eos_token_id": eos,  # pooled output reads the first EOS; never the legacy id 2
    }
    vision = {
        "image_size": spec.image_size,
        "patch_size": spec.patch_size,
        "hidden_size": spec.vision_width,
        "intermediate_size": spec.mlp_ratio * spec.vision_width,
        "num_hidden_layers": spec.vision_layers,
        "num_attention_heads": spec.vision_heads,
        "projection_dim": spec.embed_dim,
        "hidden_act": "quick_gelu",
    }
    return CLIPConfig(
        text_config=text,
        vision_config=vision,
        projection_dim=spec.embed_dim,
        logit_scale_init_value=float(np.log(1 / 0.07)),
    )


def build_model(spec: TinyClipSpec, vocab_size: int, seed: int):
    """A freshly initialised ``CLIPModel`` (float32), deterministic in ``seed``."""
    from transformers import CLIPModel

    torch.manual_seed(seed)
    model = CLIPModel(clip_config(spec, vocab_size))
    return model.float()


def preprocess(images: np.ndarray | torch.Tensor, size: int, *, mode: str = "bicubic"):
    """uint8 [B, H, W, 3] -> float [B, 3, size, size]: resize (antialiased), clamp, normalise.

    The same steps as the CLIP image processor for square inputs (resize the short side to
    ``size``, centre-crop, scale to 0..1, normalise with :data:`IMAGE_MEAN` / :data:`IMAGE_STD`).
    """
    x = torch.as_tensor(np.asarray(images)).permute(0, 3, 1, 2).float() / 255.0  # [B, 3, H, W]
    if x.shape[-1] != size or x.shape[-2] != size:
        x = F.interpolate(x, size=(size, size), mode=mode, antialias=True, align_corners=False)
        x = x.clamp(0.0, 1.0)
    mean = torch.tensor(IMAGE_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(IMAGE_STD).view(1, 3, 1, 1)
    return (x - mean) / std


def preprocessor_config(size: int) -> dict:
    """``preprocessor_config.json`` in the Hugging Face CLIP image processor's format."""
    return {
        "image_processor_type": "CLIPImageProcessor",
        "do_resize": True,
        "size": {"shortest_edge": size},
        "resample": 3,  # bicubic
        "do_center_crop": True,
        "crop_size": {"height": size, "width": size},
        "do_rescale": True,
        "rescale_factor": 1 / 255,
        "do_normalize": True,
        "image_mean": list(IMAGE_MEAN),
        "image_std": list(IMAGE_STD),
        "do_convert_rgb": True,
    }


def save_folder(model, words: list[str], spec: TinyClipSpec, folder: Path, info: dict) -> None:
    """Write the model as a Hugging Face CLIP folder plus ``pretrain.json`` (how it was made)."""
    from transformers.utils import logging

    folder.mkdir(parents=True, exist_ok=True)
    logging.disable_progress_bar()  # one file of a few MB: no "Writing model shards" bar
    model.save_pretrained(str(folder))
    build_tokenizer(words, spec.context_length).save_pretrained(str(folder))
    (folder / "preprocessor_config.json").write_text(
        json.dumps(preprocessor_config(spec.image_size), indent=2) + "\n"
    )
    (folder / "pretrain.json").write_text(
        json.dumps({"spec": asdict(spec), **info}, indent=2) + "\n"
    )
