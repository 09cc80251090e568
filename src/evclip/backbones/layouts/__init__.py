"""CLIP checkpoint files in other libraries' layouts, mapped onto transformers' ``CLIPModel``.

One module per layout: ``openai`` (key renaming, architecture from shapes), ``open_clip``
(unwrapping onto OpenAI's names), ``torchscript`` (a tensor-only reader for OpenAI's archives).
Reading stays safe: safetensors, ``torch.load(weights_only=True)``, or the tensor-only reader.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import torch

from evclip.backbones.clip import ClipBackbone
from evclip.backbones.errors import BackboneError, BackboneNotFoundError
from evclip.backbones.layouts.openai import infer_config, openai_to_transformers
from evclip.backbones.layouts.openclip_keys import openclip_to_openai, unwrap_state_dict
from evclip.backbones.layouts.torchscript import is_torchscript_archive, read_torchscript_tensors
from evclip.backbones.tokenizer import default_tokenizer

FOLDER_CHECKPOINTS = (
    "open_clip_model.safetensors",
    "open_clip_pytorch_model.safetensors",
    "open_clip_pytorch_model.bin",
)


def read_checkpoint(path: str | Path) -> tuple[dict[str, torch.Tensor], bool]:
    """(tensors, came_from_openai_archive) of a .safetensors, TorchScript or torch.save file."""
    path = Path(path)
    if not path.is_file():
        raise BackboneNotFoundError(f"CLIP checkpoint {path} does not exist")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        try:
            return load_file(str(path)), False
        except Exception as error:  # noqa: BLE001 - safetensors raises its own error types
            raise BackboneError(f"cannot read {path} as safetensors: {error}") from error
    if is_torchscript_archive(path):
        return read_torchscript_tensors(path), True
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError) as error:
        raise BackboneError(
            f"cannot read {path} as a weights-only torch checkpoint: {str(error).splitlines()[0]}"
        ) from error
    return unwrap_state_dict(checkpoint, str(path)), False


def _default_activation(path: Path, from_archive: bool) -> str:
    """OpenAI trained with QuickGELU; open_clip's own (LAION) weights use GELU."""
    if from_archive:
        return "quick_gelu"
    looks_open_clip = "open_clip" in path.name or path.suffix in (".bin", ".safetensors")
    return "gelu" if looks_open_clip else "quick_gelu"


def load_checkpoint(path: str | Path, *, hidden_act: str | None = None) -> ClipBackbone:
    """A ClipBackbone from an OpenAI or open_clip checkpoint file (ViT image towers).

    Args:
        path: ``ViT-B-16.pt`` (TorchScript archive or state dict), ``open_clip_pytorch_model.bin``
            or ``.safetensors``.
        hidden_act: "quick_gelu" or "gelu"; by default QuickGELU for OpenAI files and GELU for
            open_clip files (pass "quick_gelu" for open_clip's copies of OpenAI's weights).
    """
    from transformers import CLIPModel

    path = Path(path)
    source = str(path)
    tensors, from_archive = read_checkpoint(path)
    state = openclip_to_openai(tensors, source)
    activation = hidden_act or _default_activation(path, from_archive)
    config = infer_config(state, hidden_act=activation, source=source)
    mapped = openai_to_transformers(state, source)
    model = CLIPModel(config)
    try:
        model.load_state_dict(mapped, strict=True)
    except RuntimeError as error:
        raise BackboneError(
            f"{source}: weights do not fit the inferred architecture: {error}"
        ) from error
    tokenizer = default_tokenizer(config.text_config.vocab_size, source)
    return ClipBackbone(model.eval(), tokenizer, name=source)


def find_checkpoint_in_folder(folder: str | Path) -> Path | None:
    """The open_clip checkpoint in a folder (a hub snapshot without config.json), if any."""
    for name in FOLDER_CHECKPOINTS:
        if (Path(folder) / name).is_file():
            return Path(folder) / name
    return None
