"""``load_clip``: one entry point for registered names, hub ids, saved folders and checkpoints."""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch

from evclip.backbones.clip import PREPROCESSOR_FILE, ClipBackbone
from evclip.backbones.errors import BackboneError, BackboneNotFoundError
from evclip.backbones.preprocess import OPENAI_MEAN, OPENAI_STD
from evclip.backbones.tokenizer import (
    TOKENIZER_FILES,
    HFTokenizer,
    default_tokenizer,
    has_tokenizer_files,
)

CHECKPOINT_SUFFIXES = (".pt", ".pth", ".bin", ".safetensors", ".ckpt")
DTYPES = {
    "fp32": torch.float32, "float32": torch.float32, "float": torch.float32,
    "bf16": torch.bfloat16, "bfloat16": torch.bfloat16,
    "fp16": torch.float16, "float16": torch.float16, "half": torch.float16,
}  # fmt: skip


def parse_dtype(dtype: torch.dtype | str | None) -> torch.dtype | None:
    """torch dtype from a dtype or a name ("fp32", "bf16", "fp16", ...)."""
    if dtype is None or isinstance(dtype, torch.dtype):
        return dtype
    try:
        return DTYPES[str(dtype).lower()]
    except KeyError:
        raise BackboneError(f"unknown dtype {dtype!r}; known: {', '.join(DTYPES)}") from None


def _read_preprocessor(folder: Path, default_size: int) -> dict:
    """Mean, std and crop size from a folder's preprocessor_config.json (OpenAI's when absent)."""
    path = folder / PREPROCESSOR_FILE
    settings = {"mean": OPENAI_MEAN, "std": OPENAI_STD, "image_size": default_size}
    if not path.is_file():
        return settings
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise BackboneError(f"cannot read {path}: {error}") from error
    crop = data.get("crop_size", default_size)
    side = crop.get("height", default_size) if isinstance(crop, dict) else crop
    settings["image_size"] = int(side)
    settings["mean"] = tuple(data.get("image_mean", OPENAI_MEAN))
    settings["std"] = tuple(data.get("image_std", OPENAI_STD))
    return settings


def load_folder(folder: str | Path, *, name: str | None = None) -> ClipBackbone:
    """A ClipBackbone from a folder written by ``save_pretrained`` (or a hub snapshot)."""
    from transformers import CLIPModel

    folder = Path(folder)
    if not (folder / "config.json").is_file():
        from evclip.backbones.layouts import find_checkpoint_in_folder, load_checkpoint

        checkpoint = find_checkpoint_in_folder(folder)
        if checkpoint is None:
            raise BackboneNotFoundError(
                f"{folder} holds neither config.json nor a CLIP checkpoint file"
            )
        return load_checkpoint(checkpoint)
    try:
        model = CLIPModel.from_pretrained(str(folder))
    except (OSError, ValueError, KeyError, RuntimeError) as error:
        raise BackboneError(f"cannot load a CLIP model from {folder}: {error}") from error
    vocab = int(model.config.text_config.vocab_size)
    if has_tokenizer_files(folder):
        tokenizer = HFTokenizer.from_folder(folder)
    else:
        tokenizer = default_tokenizer(vocab, str(folder))
    settings = _read_preprocessor(folder, int(model.config.vision_config.image_size))
    return ClipBackbone(model.eval(), tokenizer, name=name or str(folder), **settings)


def _hub_file(repo_id: str, filename: str) -> Path | None:
    try:
        from huggingface_hub import hf_hub_download

        return Path(hf_hub_download(repo_id, filename))
    except Exception:  # noqa: BLE001 - an optional file; its absence means defaults
        return None


def load_hub(repo_id: str) -> ClipBackbone:
    """A ClipBackbone from a Hugging Face hub id (downloaded once, then read from the cache)."""
    from transformers import AutoTokenizer, CLIPModel

    try:
        model = CLIPModel.from_pretrained(repo_id)
    except Exception as error:  # noqa: BLE001 - hub and network errors of many types
        offline = os.environ.get("HF_HUB_OFFLINE") == "1"
        raise BackboneNotFoundError(
            f"cannot load CLIP model {repo_id!r}: it is not a registered name, not an existing "
            f"file or folder, and not loadable from the Hugging Face hub"
            f"{' (HF_HUB_OFFLINE=1)' if offline else ''}. Download it once with network access, "
            f"or pass a local folder or checkpoint file. Cause: {type(error).__name__}: "
            f"{str(error).splitlines()[0] if str(error) else ''}"
        ) from None
    vocab = int(model.config.text_config.vocab_size)
    # without tokenizer files AutoTokenizer silently builds an empty CLIP tokenizer: check first
    if any(_hub_file(repo_id, name) is not None for name in TOKENIZER_FILES):
        tokenizer = HFTokenizer(AutoTokenizer.from_pretrained(repo_id))
    else:
        tokenizer = default_tokenizer(vocab, repo_id)
    preprocessor = _hub_file(repo_id, PREPROCESSOR_FILE)
    default_size = int(model.config.vision_config.image_size)
    if preprocessor is None:
        settings = {"mean": OPENAI_MEAN, "std": OPENAI_STD, "image_size": default_size}
    else:
        settings = _read_preprocessor(preprocessor.parent, default_size)
    return ClipBackbone(model.eval(), tokenizer, name=repo_id, **settings)


def _looks_like_path(name: str) -> bool:
    return (
        name.startswith(("/", ".", "~"))
        or name.lower().endswith(CHECKPOINT_SUFFIXES)
        or name.count("/") > 1
        or os.sep != "/"
        and os.sep in name
    )


def _resolve(name_or_path: str | Path, hidden_act: str | None) -> ClipBackbone:
    from evclip.backbones.configs import CLIP_MODELS

    name = str(name_or_path)
    if name in CLIP_MODELS:
        return CLIP_MODELS.get(name)()
    path = Path(name).expanduser()
    if path.is_dir():
        return load_folder(path)
    if path.is_file():
        from evclip.backbones.layouts import load_checkpoint

        return load_checkpoint(path, hidden_act=hidden_act)
    if isinstance(name_or_path, Path) or _looks_like_path(name):
        raise BackboneNotFoundError(f"CLIP model path {name!r} does not exist")
    if "/" not in name:
        known = ", ".join(CLIP_MODELS.names())
        raise BackboneNotFoundError(
            f"unknown CLIP model {name!r}: not a registered name ({known}), not an existing file "
            f"or folder, and not a hub id (hub ids look like 'openai/clip-vit-base-patch16')"
        )
    return load_hub(name)


def load_clip(
    name_or_path: str | Path,
    *,
    device: torch.device | str | None = None,
    dtype: torch.dtype | str | None = None,
    image_size: int | None = None,
    hidden_act: str | None = None,
) -> ClipBackbone:
    """Loads a CLIP backbone, in eval mode, with every parameter trainable.

    Args:
        name_or_path: a registered name (``list_clip_models()``), a hub id
            ("openai/clip-vit-base-patch16"), a folder written by ``save_pretrained``, an
            OpenAI-format checkpoint ("ViT-B-16.pt", TorchScript or state dict) or an open_clip
            checkpoint ("open_clip_pytorch_model.bin" / ".safetensors").
        device: where to put the model (CPU when None).
        dtype: torch dtype or "fp32" / "bf16" / "fp16" (fp32 when None).
        image_size: input side; when it differs from the pre-training size the position
            embeddings are interpolated.
        hidden_act: activation for checkpoint files, whose shapes cannot tell it: "quick_gelu"
            (OpenAI's, the default for OpenAI files) or "gelu" (the default for open_clip files).

    Raises:
        BackboneNotFoundError: the name, path or hub id cannot be found (message says how).
        BackboneError: the weights cannot be read or mapped.
    """
    clip = _resolve(name_or_path, hidden_act)
    if image_size is not None:
        if int(image_size) < clip.patch_size:
            raise BackboneError(
                f"image_size {image_size} is below the patch size {clip.patch_size}"
            )
        clip.image_size = int(image_size)
    clip.to(device=device, dtype=parse_dtype(dtype))
    return clip.eval()
