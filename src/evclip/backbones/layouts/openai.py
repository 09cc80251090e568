"""OpenAI CLIP key layout (``ViT-B-16.pt``) -> transformers ``CLIPModel`` keys; sizes from shapes.

OpenAI names: ``visual.conv1``, ``visual.class_embedding``, ``visual.positional_embedding``,
``visual.ln_pre``, ``visual.transformer.resblocks.{i}.{attn.in_proj_*, attn.out_proj, ln_1, ln_2,
mlp.c_fc, mlp.c_proj}``, ``visual.ln_post``, ``visual.proj`` [W, D]; the text tower the same without
``visual.`` plus ``token_embedding``, ``positional_embedding``, ``ln_final``, ``text_projection``
[Wt, D]; and ``logit_scale`` (log). Heads are not stored: OpenAI's rule is width // 64.
"""

from __future__ import annotations

import math
import re

import torch

from evclip.backbones.errors import BackboneError

HEAD_WIDTH = 64
IGNORED_KEYS = ("input_resolution", "context_length", "vocab_size")
_BLOCK = re.compile(r"^(visual\.)?transformer\.resblocks\.(\d+)\.(.+)$")
_BLOCK_PARTS = {
    "attn.out_proj.weight": "self_attn.out_proj.weight",
    "attn.out_proj.bias": "self_attn.out_proj.bias",
    "ln_1.weight": "layer_norm1.weight",
    "ln_1.bias": "layer_norm1.bias",
    "ln_2.weight": "layer_norm2.weight",
    "ln_2.bias": "layer_norm2.bias",
    "mlp.c_fc.weight": "mlp.fc1.weight",
    "mlp.c_fc.bias": "mlp.fc1.bias",
    "mlp.c_proj.weight": "mlp.fc2.weight",
    "mlp.c_proj.bias": "mlp.fc2.bias",
}
_PLAIN = {
    "token_embedding.weight": "text_model.embeddings.token_embedding.weight",
    "positional_embedding": "text_model.embeddings.position_embedding.weight",
    "ln_final.weight": "text_model.final_layer_norm.weight",
    "ln_final.bias": "text_model.final_layer_norm.bias",
    "visual.class_embedding": "vision_model.embeddings.class_embedding",
    "visual.conv1.weight": "vision_model.embeddings.patch_embedding.weight",
    "visual.positional_embedding": "vision_model.embeddings.position_embedding.weight",
    "visual.ln_pre.weight": "vision_model.pre_layrnorm.weight",
    "visual.ln_pre.bias": "vision_model.pre_layrnorm.bias",
    "visual.ln_post.weight": "vision_model.post_layernorm.weight",
    "visual.ln_post.bias": "vision_model.post_layernorm.bias",
    "logit_scale": "logit_scale",
}


def _require(state: dict[str, torch.Tensor], key: str, source: str) -> torch.Tensor:
    if key not in state:
        raise BackboneError(f"{source}: missing key {key!r} of the OpenAI CLIP layout")
    return state[key]


def _depth(state: dict[str, torch.Tensor], visual: bool) -> int:
    blocks = {
        int(m.group(2)) for k in state if (m := _BLOCK.match(k)) and bool(m.group(1)) == visual
    }
    if not blocks or blocks != set(range(len(blocks))):
        tower = "image" if visual else "text"
        raise BackboneError(f"{tower} transformer blocks are missing or not numbered 0..N-1")
    return len(blocks)


def infer_config(state: dict[str, torch.Tensor], *, hidden_act: str, source: str):
    """A transformers ``CLIPConfig`` matching the shapes of an OpenAI-layout state dict."""
    from evclip.backbones.configs import clip_config

    if any(key.startswith(("visual.layer1.", "visual.attnpool.")) for key in state):
        raise BackboneError(f"{source}: ResNet image towers (RN50, ...) are not supported")
    conv = _require(state, "visual.conv1.weight", source)  # (W, 3, P, P)
    positions = _require(state, "visual.positional_embedding", source).shape[0]  # 1 + grid^2
    grid = math.isqrt(positions - 1)
    if grid * grid != positions - 1:
        raise BackboneError(f"{source}: {positions - 1} image positions do not form a square grid")
    vision_width, patch = conv.shape[0], conv.shape[-1]
    text_width = _require(state, "ln_final.weight", source).shape[0]
    vocab_size = _require(state, "token_embedding.weight", source).shape[0]
    embed_dim = _require(state, "text_projection", source).shape[-1]
    vision_mlp = _require(state, "visual.transformer.resblocks.0.mlp.c_fc.weight", source)
    text_mlp = _require(state, "transformer.resblocks.0.mlp.c_fc.weight", source)
    return clip_config(
        vision_width=vision_width,
        vision_layers=_depth(state, visual=True),
        vision_heads=max(1, vision_width // HEAD_WIDTH),
        patch_size=patch,
        image_size=grid * patch,
        text_width=text_width,
        text_layers=_depth(state, visual=False),
        text_heads=max(1, text_width // HEAD_WIDTH),
        embed_dim=embed_dim,
        vocab_size=vocab_size,
        context_length=_require(state, "positional_embedding", source).shape[0],
        vision_mlp_width=vision_mlp.shape[0],
        text_mlp_width=text_mlp.shape[0],
        hidden_act=hidden_act,
    )


def _map_block_key(key: str, value: torch.Tensor) -> dict[str, torch.Tensor]:
    match = _BLOCK.match(key)
    tower = "vision_model" if match.group(1) else "text_model"
    prefix = f"{tower}.encoder.layers.{match.group(2)}."
    part = match.group(3)
    if part in ("attn.in_proj_weight", "attn.in_proj_bias"):
        kind = part.rsplit("_", 1)[1]  # weight | bias
        query, key_, value_ = value.chunk(3, dim=0)  # packed [q; k; v] along the output axis
        return {
            f"{prefix}self_attn.q_proj.{kind}": query,
            f"{prefix}self_attn.k_proj.{kind}": key_,
            f"{prefix}self_attn.v_proj.{kind}": value_,
        }
    if part == "attn_mask" or part.endswith(".attn_mask"):
        return {}
    if part not in _BLOCK_PARTS:
        raise BackboneError(f"unsupported key {key!r} in a transformer block")
    return {prefix + _BLOCK_PARTS[part]: value}


def openai_to_transformers(state: dict[str, torch.Tensor], source: str) -> dict[str, torch.Tensor]:
    """Renames (and splits / transposes) OpenAI CLIP keys into ``CLIPModel`` keys.

    Raises:
        BackboneError: a key has no counterpart (the message lists a few of them).
    """
    mapped: dict[str, torch.Tensor] = {}
    unknown: list[str] = []
    for key, value in state.items():
        if key in IGNORED_KEYS or key == "attn_mask":
            continue
        if key in _PLAIN:
            mapped[_PLAIN[key]] = value
        elif key == "text_projection":
            mapped["text_projection.weight"] = value.t()  # (Wt, D) used as x @ P -> Linear (D, Wt)
        elif key == "visual.proj":
            mapped["visual_projection.weight"] = value.t()
        elif _BLOCK.match(key):
            mapped.update(_map_block_key(key, value))
        else:
            unknown.append(key)
    if unknown:
        shown = ", ".join(sorted(unknown)[:8])
        raise BackboneError(f"{source}: {len(unknown)} keys have no CLIP counterpart: {shown}")
    return {key: value.contiguous() for key, value in mapped.items()}
