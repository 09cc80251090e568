"""open_clip checkpoints (``open_clip_pytorch_model.bin`` / ``.safetensors``) -> OpenAI key layout.

open_clip's standard ViT CLIP keeps OpenAI's names; what differs is the wrapping: training
checkpoints nest the weights under ``state_dict`` with DDP's ``module.`` prefix, and some
configurations store ``text_projection`` as a Linear layer. Towers from other libraries (a
Hugging Face text tower under ``text.``, a timm image tower under ``visual.trunk.``) are refused.
"""

from __future__ import annotations

import torch

from evclip.backbones.errors import BackboneError

UNSUPPORTED_PREFIXES = {
    "text.": "a Hugging Face text tower (open_clip hf-text configs)",
    "visual.trunk.": "a timm image tower",
    "visual.attn_pool.": "an attention-pooling image tower (CoCa)",
    "text_decoder.": "a caption decoder (CoCa)",
}


def unwrap_state_dict(checkpoint: dict, source: str) -> dict[str, torch.Tensor]:
    """The weights of a checkpoint dict: under ``state_dict`` if present, ``module.`` stripped."""
    state = checkpoint.get("state_dict", checkpoint) if isinstance(checkpoint, dict) else None
    if not isinstance(state, dict):
        raise BackboneError(f"{source} does not hold a state dict")
    if state and all(key.startswith("module.") for key in state):
        state = {key[len("module.") :]: value for key, value in state.items()}
    tensors = {key: value for key, value in state.items() if isinstance(value, torch.Tensor)}
    if not tensors:
        raise BackboneError(f"{source} holds no tensors")
    return tensors


def openclip_to_openai(state: dict[str, torch.Tensor], source: str) -> dict[str, torch.Tensor]:
    """OpenAI-layout keys from an open_clip ViT CLIP state dict."""
    for prefix, what in UNSUPPORTED_PREFIXES.items():
        if any(key.startswith(prefix) for key in state):
            raise BackboneError(f"{source}: {what} is not supported (keys {prefix}*)")
    state = dict(state)
    if "text_projection.weight" in state:  # nn.Linear form: (D, Wt) -> OpenAI's (Wt, D)
        if "text_projection.bias" in state:
            raise BackboneError(f"{source}: a text projection with a bias is not supported")
        state["text_projection"] = state.pop("text_projection.weight").t()
    return state
