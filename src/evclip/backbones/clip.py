"""ClipBackbone: one small interface over a transformers ``CLIPModel``, tokenizer and preprocessing.

Shapes: B batch, L context length, S input side, N patches, W tower width, D joint embedding size.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from evclip.backbones.errors import BackboneError
from evclip.backbones.freezing import apply_freeze_policy
from evclip.backbones.preprocess import OPENAI_MEAN, OPENAI_STD, preprocess_images
from evclip.backbones.tokenizer import ClipTokenizer, eos_positions, tokenize

PREPROCESSOR_FILE = "preprocessor_config.json"


class ClipBackbone(nn.Module):
    """A CLIP model with its tokenizer and image preprocessing.

    Args:
        model: a ``transformers.CLIPModel``.
        tokenizer: the tokenizer whose ids the text tower was trained on.
        image_size: input side S; when it differs from the pre-training size the vision
            position embeddings are interpolated (bicubic) on every forward.
        mean: per-channel normalisation mean.
        std: per-channel normalisation standard deviation.
        name: where the weights came from (for messages and the digest).
    """

    def __init__(
        self,
        model: nn.Module,
        tokenizer: ClipTokenizer,
        *,
        image_size: int | None = None,
        mean: Sequence[float] = OPENAI_MEAN,
        std: Sequence[float] = OPENAI_STD,
        name: str = "clip",
    ) -> None:
        super().__init__()
        self.model = model
        self.tokenizer = tokenizer
        self.name = name
        self.pretrain_image_size = int(model.config.vision_config.image_size)
        self.image_size = int(image_size or self.pretrain_image_size)
        self.patch_size = int(model.config.vision_config.patch_size)
        if self.image_size < self.patch_size:
            raise BackboneError(
                f"{name}: image_size {self.image_size} is below the patch size {self.patch_size}"
            )
        self.image_mean = tuple(float(v) for v in mean)
        self.image_std = tuple(float(v) for v in std)
        vocab = int(model.config.text_config.vocab_size)
        if tokenizer.eos_id >= vocab:
            raise BackboneError(
                f"{name}: tokenizer end-of-text id {tokenizer.eos_id} is outside the vocabulary "
                f"({vocab})"
            )
        self._digest_cache: tuple[tuple, str] | None = None

    # --- towers and sizes -------------------------------------------------------------------
    @property
    def vision(self) -> nn.Module:
        """transformers' ``CLIPVisionModel`` (embeddings, pre_layrnorm, encoder, post_layernorm)."""
        return self.model.vision_model

    @property
    def text(self) -> nn.Module:
        """The transformers ``CLIPTextModel`` (embeddings, encoder, final_layer_norm)."""
        return self.model.text_model

    @property
    def logit_scale(self) -> nn.Parameter:
        """Log of the logit multiplier (open_clip convention): logits = exp(logit_scale) * cos."""
        return self.model.logit_scale

    @property
    def embed_dim(self) -> int:
        return int(self.model.config.projection_dim)

    @property
    def vision_width(self) -> int:
        return int(self.model.config.vision_config.hidden_size)

    @property
    def text_width(self) -> int:
        return int(self.model.config.text_config.hidden_size)

    @property
    def context_length(self) -> int:
        return int(self.model.config.text_config.max_position_embeddings)

    @property
    def device(self) -> torch.device:
        return self.logit_scale.device

    @property
    def dtype(self) -> torch.dtype:
        return self.model.visual_projection.weight.dtype

    # --- images -----------------------------------------------------------------------------
    def preprocess(self, images: torch.Tensor | np.ndarray) -> torch.Tensor:
        """Images (uint8 [..., H, W, 3] or [..., 3, H, W]) -> normalised [..., 3, S, S]."""
        return preprocess_images(
            images,
            size=self.image_size,
            mean=self.image_mean,
            std=self.image_std,
            device=self.device,
            dtype=self.dtype,
        )

    def _vision_forward(self, pixels: torch.Tensor):
        if pixels.ndim != 4 or pixels.shape[1] != 3:
            raise ValueError(f"pixels must be [B, 3, H, W], got {tuple(pixels.shape)}")
        height, width = pixels.shape[-2:]
        resize = (height, width) != (self.pretrain_image_size, self.pretrain_image_size)
        return self.vision(pixel_values=pixels.to(self.dtype), interpolate_pos_encoding=resize)

    def encode_image(self, pixels: torch.Tensor, normalize: bool = False) -> torch.Tensor:
        """Image embeddings [B, D] of preprocessed pixels [B, 3, S, S]."""
        pooled = self._vision_forward(pixels).pooler_output  # (B, W)
        features = self.model.visual_projection(pooled)  # (B, D)
        return F.normalize(features, dim=-1) if normalize else features

    def image_tokens(self, pixels: torch.Tensor) -> torch.Tensor:
        """CLS + patch tokens [B, 1 + N, W] of the last layer, after the post-LayerNorm."""
        hidden = self._vision_forward(pixels).last_hidden_state  # (B, 1 + N, W)
        return self.vision.post_layernorm(hidden)

    def project_image_tokens(self, tokens: torch.Tensor) -> torch.Tensor:
        """Visual projection [..., W] -> [..., D] (tokens into the joint space)."""
        return self.model.visual_projection(tokens)

    # --- text -------------------------------------------------------------------------------
    def tokenize(self, texts: Sequence[str]) -> torch.Tensor:
        """Token ids LongTensor [B, L] (bos, tokens, eos, pad ids), on the model's device."""
        return tokenize(self.tokenizer, texts, self.context_length).to(self.device)

    def token_embedding(self, ids: torch.Tensor) -> torch.Tensor:
        """Word embeddings [B, L, Wt] of token ids [B, L] (no position embedding)."""
        return self.text.embeddings.token_embedding(ids)

    def encode_text_embeddings(
        self, embeds: torch.Tensor, ids: torch.Tensor, normalize: bool = False
    ) -> torch.Tensor:
        """Runs the text tower on word embeddings [B, L, Wt]; pools at each row's eos in ids [B, L].

        Returns:
            Text embeddings [B, D].
        """
        eos = eos_positions(ids.to(embeds.device), self.tokenizer.eos_id)  # (B,)
        # The mask is causal: positions after the last eos cannot change any pooled output, so
        # the tower runs on the shortest prefix that holds every eos (16 of 77 for ImageNet's
        # prompts, about 4x less work).
        length = int(eos.max()) + 1 if eos.numel() else embeds.shape[1]
        embeds = embeds[:, :length]
        hidden = self.text.embeddings(inputs_embeds=embeds.to(self.dtype))  # (B, L, Wt) + positions
        blocked = torch.full((length, length), torch.finfo(hidden.dtype).min, device=hidden.device)
        causal = blocked.triu(1).to(hidden.dtype)[None, None]  # (1, 1, L, L) additive
        hidden = self.text.encoder(inputs_embeds=hidden, attention_mask=causal).last_hidden_state
        hidden = self.text.final_layer_norm(hidden)
        rows = torch.arange(hidden.shape[0], device=hidden.device)
        pooled = hidden[rows, eos.to(hidden.device)]  # (B, Wt)
        features = self.model.text_projection(pooled)  # (B, D)
        return F.normalize(features, dim=-1) if normalize else features

    def encode_text(
        self, texts: Sequence[str] | torch.Tensor, normalize: bool = False
    ) -> torch.Tensor:
        """Text embeddings [B, D] of sentences (or of token ids [B, L])."""
        ids = texts.to(self.device) if isinstance(texts, torch.Tensor) else self.tokenize(texts)
        return self.encode_text_embeddings(self.token_embedding(ids), ids, normalize=normalize)

    # --- training policy, identity, saving --------------------------------------------------
    def freeze(self, policy: str = "all", tower: str = "both") -> ClipBackbone:
        """Sets ``requires_grad`` by policy: "all", "none", "last:K", "layernorm", "bias".

        Args:
            policy: "all" freezes everything; "none" trains everything; "last:K" trains the last
                K transformer blocks plus the tower's final LayerNorm and projection; "layernorm"
                trains LayerNorm weights and biases only; "bias" trains biases only (BitFit).
            tower: "vision", "text" or "both"; the other tower is left as it was. The logit scale
                is trainable only under "none" with tower "both".

        Returns:
            self, for chaining.
        """
        apply_freeze_policy(self.model, policy, tower)
        return self

    def digest(self, tower: str = "both") -> str:
        """Short hex id of the weights, dtype, preprocessing and tokenizer (for feature caches).

        Args:
            tower: ``"both"`` (the whole model) or ``"vision"`` (only what image tokens depend
                on: the vision tower, its projection and the preprocessing, so that a training
                text tower leaves cached image tokens valid).
        """
        if tower == "vision":
            state = {f"v.{k}": v for k, v in self.vision.state_dict().items()}
            state |= {f"p.{k}": v for k, v in self.model.visual_projection.state_dict().items()}
            settings = json.dumps([self.image_size, self.image_mean, self.image_std])
        elif tower == "both":
            state = self.model.state_dict()
            tokenizer = (self.tokenizer.kind, self.tokenizer.eos_id)
            settings = json.dumps([self.image_size, self.image_mean, self.image_std, tokenizer])
        else:
            raise ValueError(f"digest: tower must be 'both' or 'vision', got {tower!r}")
        # in-place updates (optimiser steps) bump a tensor's version: recompute only then
        key = (tower, settings, tuple(t._version for t in state.values()))
        if self._digest_cache is not None and self._digest_cache[0] == key:
            return self._digest_cache[1]
        hasher = hashlib.sha256(settings.encode())
        for name in sorted(state):
            tensor = state[name].detach().cpu().contiguous()
            hasher.update(f"{name}{tuple(tensor.shape)}{tensor.dtype}".encode())
            hasher.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
        value = hasher.hexdigest()[:16]
        self._digest_cache = (key, value)
        return value

    def save_pretrained(self, folder: str | Path) -> Path:
        """Writes config.json, model.safetensors, preprocessor_config.json and any own tokenizer."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        self.model.save_pretrained(str(folder))
        preprocessor = {
            "image_mean": list(self.image_mean),
            "image_std": list(self.image_std),
            "crop_size": {"height": self.image_size, "width": self.image_size},
            "size": {"shortest_edge": self.image_size},
            "do_center_crop": True,
            "do_normalize": True,
            "resample": 3,
        }
        (folder / PREPROCESSOR_FILE).write_text(json.dumps(preprocessor, indent=2) + "\n")
        saver = getattr(self.tokenizer, "save_pretrained", None)
        if saver is not None:
            saver(folder)
        return folder

    def extra_repr(self) -> str:
        return f"name={self.name!r}, image_size={self.image_size}, embed_dim={self.embed_dim}"
