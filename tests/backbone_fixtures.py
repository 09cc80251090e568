"""Synthetic CLIP checkpoints in OpenAI's key layout and a reference forward pass that follows
OpenAI's own model code (packed in-projection attention, ``x @ proj``, pooling at argmax id), so
that loaded models are checked against an implementation independent of the key mapping.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

VOCAB = 49408


def openai_state_dict(
    *,
    vision_width: int = 128,
    vision_layers: int = 2,
    patch: int = 8,
    grid: int = 4,
    text_width: int = 64,
    text_layers: int = 2,
    embed_dim: int = 48,
    context: int = 77,
    seed: int = 0,
) -> dict[str, torch.Tensor]:
    """Random tensors under OpenAI CLIP's names and shapes."""
    generator = torch.Generator().manual_seed(seed)

    def rand(*shape: int, scale: float = 0.05, base: float = 0.0) -> torch.Tensor:
        return base + scale * torch.randn(*shape, generator=generator)

    state: dict[str, torch.Tensor] = {}

    def tower(prefix: str, width: int, layers: int) -> None:
        for i in range(layers):
            p = f"{prefix}transformer.resblocks.{i}."
            state[p + "attn.in_proj_weight"] = rand(3 * width, width, scale=width**-0.5)
            state[p + "attn.in_proj_bias"] = rand(3 * width)
            state[p + "attn.out_proj.weight"] = rand(width, width, scale=width**-0.5)
            state[p + "attn.out_proj.bias"] = rand(width)
            for norm in ("ln_1", "ln_2"):
                state[p + f"{norm}.weight"] = rand(width, base=1.0)
                state[p + f"{norm}.bias"] = rand(width)
            state[p + "mlp.c_fc.weight"] = rand(4 * width, width, scale=width**-0.5)
            state[p + "mlp.c_fc.bias"] = rand(4 * width)
            state[p + "mlp.c_proj.weight"] = rand(width, 4 * width, scale=(4 * width) ** -0.5)
            state[p + "mlp.c_proj.bias"] = rand(width)

    state["visual.conv1.weight"] = rand(vision_width, 3, patch, patch, scale=0.1)
    state["visual.class_embedding"] = rand(vision_width, scale=0.5)
    state["visual.positional_embedding"] = rand(1 + grid * grid, vision_width, scale=0.5)
    for norm in ("ln_pre", "ln_post"):
        state[f"visual.{norm}.weight"] = rand(vision_width, base=1.0)
        state[f"visual.{norm}.bias"] = rand(vision_width)
    tower("visual.", vision_width, vision_layers)
    state["visual.proj"] = rand(vision_width, embed_dim, scale=vision_width**-0.5)
    state["token_embedding.weight"] = rand(VOCAB, text_width, scale=0.5)
    state["positional_embedding"] = rand(context, text_width, scale=0.1)
    tower("", text_width, text_layers)
    state["ln_final.weight"] = rand(text_width, base=1.0)
    state["ln_final.bias"] = rand(text_width)
    state["text_projection"] = rand(text_width, embed_dim, scale=text_width**-0.5)
    state["logit_scale"] = torch.tensor(4.6052)
    return state


def _activation(x: torch.Tensor, quick_gelu: bool) -> torch.Tensor:
    return x * torch.sigmoid(1.702 * x) if quick_gelu else F.gelu(x)


def _layer_norm(x: torch.Tensor, state: dict, name: str) -> torch.Tensor:
    return F.layer_norm(x, x.shape[-1:], state[f"{name}.weight"], state[f"{name}.bias"])


def _transformer(x, state, prefix, heads, mask, quick_gelu):
    width = x.shape[-1]
    blocks = prefix + "transformer.resblocks."
    layers = len({k[len(blocks) :].split(".")[0] for k in state if k.startswith(blocks)})
    for i in range(layers):
        p = f"{prefix}transformer.resblocks.{i}."
        attention = nn.MultiheadAttention(width, heads, batch_first=True)
        attention.load_state_dict(
            {
                "in_proj_weight": state[p + "attn.in_proj_weight"],
                "in_proj_bias": state[p + "attn.in_proj_bias"],
                "out_proj.weight": state[p + "attn.out_proj.weight"],
                "out_proj.bias": state[p + "attn.out_proj.bias"],
            }
        )
        y = _layer_norm(x, state, p + "ln_1")
        x = x + attention(y, y, y, need_weights=False, attn_mask=mask)[0]
        y = _layer_norm(x, state, p + "ln_2")
        y = F.linear(y, state[p + "mlp.c_fc.weight"], state[p + "mlp.c_fc.bias"])
        y = F.linear(
            _activation(y, quick_gelu), state[p + "mlp.c_proj.weight"], state[p + "mlp.c_proj.bias"]
        )
        x = x + y
    return x


@torch.no_grad()
def reference_image_features(state, pixels: torch.Tensor, quick_gelu: bool = True) -> torch.Tensor:
    """OpenAI's VisionTransformer.forward on a state dict: pixels [B, 3, S, S] -> [B, D]."""
    conv = state["visual.conv1.weight"]
    x = F.conv2d(pixels, conv, stride=conv.shape[-1])  # (B, W, g, g)
    x = x.flatten(2).transpose(1, 2)  # (B, g*g, W)
    cls = state["visual.class_embedding"].expand(x.shape[0], 1, -1)
    x = torch.cat([cls, x], dim=1) + state["visual.positional_embedding"]
    x = _layer_norm(x, state, "visual.ln_pre")
    x = _transformer(x, state, "visual.", x.shape[-1] // 64, None, quick_gelu)
    return _layer_norm(x[:, 0], state, "visual.ln_post") @ state["visual.proj"]


@torch.no_grad()
def reference_text_features(state, ids: torch.Tensor, quick_gelu: bool = True) -> torch.Tensor:
    """OpenAI's encode_text on a state dict: token ids [B, L] -> [B, D]."""
    x = state["token_embedding.weight"][ids] + state["positional_embedding"]
    length = ids.shape[1]
    mask = torch.full((length, length), float("-inf")).triu(1)
    x = _transformer(x, state, "", x.shape[-1] // 64, mask, quick_gelu)
    x = _layer_norm(x, state, "ln_final")
    return x[torch.arange(x.shape[0]), ids.argmax(dim=-1)] @ state["text_projection"]


class _Holder(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


def save_torchscript_archive(state: dict[str, torch.Tensor], path) -> None:
    """A TorchScript archive whose module tree carries ``state`` under the same dotted names."""
    root = _Holder()
    for key, value in state.items():
        *parents, leaf = key.split(".")
        module = root
        for name in parents:
            if not hasattr(module, name):
                module.add_module(name, nn.Module())
            module = getattr(module, name)
        module.register_parameter(leaf, nn.Parameter(value.clone(), requires_grad=False))
    torch.jit.script(root).save(str(path))
