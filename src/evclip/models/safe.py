"""SAFE: semantic-aware frame-event fusion (method ``safe``; Li et al., Pattern Recognition 2025).

RGB frames and event images go through one CLIP vision tower, class names through CLIP's text
tower (``evclip.prompts``: templates, descriptions, optional CoOp context), and a fusion head
(:mod:`evclip.models.safe_heads`) turns the tokens into class logits. See
``../shared/METHODS.md`` section 1 for what the paper describes and what the public code does;
``variant="paper"`` builds the former, ``variant="reference"`` the latter.

The model splits into a CLIP part and a head so that an engine can cache the CLIP part when it
is frozen: :meth:`Safe.extract_features` returns the tokens, and a batch carrying them under
``batch["features"]`` skips CLIP entirely. CLIP runs once per batch over every image of every
modality and frame (B * T * 2 images in one call), and the class tokens are computed once per
step, or once per run when the text tower is frozen and there is no learnable context.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from evclip.models import METHODS
from evclip.models.safe_heads import SafePaperHead, SafeReferenceHead
from evclip.models.safe_text import DEFAULT_TEMPLATES, SafeClassTokens
from evclip.prompts import check_class_names, get_templates

VARIANTS = ("paper", "reference")
MODALITIES = {"both": ("rgb", "events"), "rgb": ("rgb",), "events": ("events",)}
VISIONS = ("clip", "vit")
TOKENS = ("all", "cls")
#: batch key of each modality's pixels -> key of its CLIP tokens in ``extract_features``.
FEATURE_KEYS = {"rgb": "rgb_tokens", "events": "event_tokens"}
#: key of each modality's embedding in ``embed``.
EMBED_KEYS = {"rgb": "rgb", "events": "event"}


def _choice(name: str, value: str, allowed: Sequence[str]) -> str:
    if value not in allowed:
        raise ValueError(f"safe: {name}={value!r} is not one of {', '.join(map(repr, allowed))}")
    return value


def _requires_grad(modules: Sequence[nn.Module]) -> bool:
    return any(p.requires_grad for m in modules for p in m.parameters())


class Safe(nn.Module):
    """SAFE around a CLIP backbone: CLIP tokens -> fusion head -> class logits.

    Build it with :func:`build_safe` (registered as ``safe``); the constructor takes the parts.

    Args:
        clip: a :class:`evclip.backbones.ClipBackbone` (its freezing already applied).
        class_tokens: the per-class token source (text ensemble, CoOp context or learned).
        head: :class:`SafePaperHead` or :class:`SafeReferenceHead`.
        modalities: which of ``"rgb"`` / ``"events"`` the model reads.
        tokens: ``"all"`` (CLS + patch tokens of every frame) or ``"cls"`` (CLS only).
        kgcoop_weight: weight of the KgCoOp term when the context is learnable.
        config: the builder's keyword arguments (kept for saving a self-describing model).
    """

    def __init__(
        self,
        clip: nn.Module,
        class_tokens: SafeClassTokens,
        head: SafePaperHead | SafeReferenceHead,
        *,
        modalities: tuple[str, ...],
        tokens: str = "all",
        kgcoop_weight: float = 8.0,
        config: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__()
        self.clip = clip
        self.class_tokens = class_tokens
        self.head = head
        self.modalities = modalities
        self.tokens = tokens
        self.kgcoop_weight = float(kgcoop_weight)
        self.config = dict(config or {})
        self.register_load_state_dict_post_hook(lambda module, keys: module.class_tokens.clear())

    # --- the contract -------------------------------------------------------------------------
    @property
    def class_names(self) -> list[str]:
        return list(self.class_tokens.class_names)

    def set_classes(self, names: Sequence[str]) -> None:
        """Rebuild what depends on the class names (class tokens; the reference classifier).

        The paper head scores each class token with one shared scorer, so any list works. The
        reference head's classifier has one output per class: a different number of classes
        gives it a new, untrained classifier (a warning says so).
        """
        names = check_class_names(names)
        changed = len(names) != self.class_tokens.num_classes
        self.class_tokens.set_classes(names, self.clip)
        if changed and isinstance(self.head, SafeReferenceHead):
            warnings.warn(
                f"safe (reference variant): {len(names)} classes instead of the "
                f"classifier's {self.head.classifier.out_features}; the classifier is "
                "re-initialised and must be trained again",
                stacklevel=2,
            )
            self.head.resize_classes(len(names))

    def training_step(self, batch: Mapping[str, Any]) -> dict[str, torch.Tensor]:
        """Cross-entropy on the labels (+ ``kgcoop_weight`` x KgCoOp with learnable context)."""
        logits, _, terms = self._forward(batch)
        labels = batch["label"].to(logits.device)
        ce = F.cross_entropy(logits.float(), labels)
        out = {"loss": ce, "ce": ce.detach()}
        if "kgcoop" in terms:
            out["loss"] = ce + self.kgcoop_weight * terms["kgcoop"]
            out["kgcoop"] = terms["kgcoop"].detach()
        return out

    def predict(self, batch: Mapping[str, Any]) -> torch.Tensor:
        """Class logits [B, C] for the current class names."""
        return self._forward(batch)[0]

    def forward(self, batch: Mapping[str, Any]) -> torch.Tensor:
        """Same as :meth:`predict` (so that DDP-wrapped calls work)."""
        return self.predict(batch)

    def embed(self, batch: Mapping[str, Any]) -> dict[str, torch.Tensor]:
        """L2-normalised embeddings: ``"rgb"`` / ``"event"`` (CLIP CLS tokens averaged over
        frames, in the joint space) and ``"fused"`` (the head's fused feature)."""
        visual = self._visual(batch)
        _, fused, _ = self._forward(batch, visual=visual)
        out = {
            EMBED_KEYS[m]: F.normalize(visual[m][:, :, 0].float().mean(1), dim=-1)
            for m in self.modalities
        }
        out["fused"] = F.normalize(fused.float(), dim=-1)
        return out

    # --- engine hooks -------------------------------------------------------------------------
    def export_pretrained(self, folder: str | Path) -> dict[str, str]:
        """Files a rebuilt model needs offline: a backbone that came from a local path (or as a
        module) is saved to ``folder/clip`` and the builder's ``clip`` argument points there.
        Registered names and hub ids are rebuilt by name (the weights come from the state
        dict either way)."""
        source = self.config.get("clip")
        if isinstance(source, str) and not Path(source).expanduser().exists():
            return {}  # a registered name or a hub id
        self.clip.save_pretrained(Path(folder) / "clip")
        return {"clip": "clip"}

    def parameter_groups(self) -> dict[str, list[nn.Parameter]]:
        """Trainable parameters split into the pre-trained ``"backbone"`` and the new ``"head"``
        (fusion head, learnable context, learned class tokens), for separate learning rates."""
        backbone = [p for p in self.clip.parameters() if p.requires_grad]
        seen = {id(p) for p in backbone}
        head = [p for p in self.parameters() if p.requires_grad and id(p) not in seen]
        return {"backbone": backbone, "head": head}

    def feature_cache_key(self) -> str | None:
        """Identifies :meth:`extract_features` outputs (weights, preprocessing, modalities,
        tokens), or None when the vision tower is trainable and its outputs must not be cached."""
        vision = [self.clip.vision, self.clip.model.visual_projection]
        if _requires_grad(vision):
            return None
        parts = [self.clip.digest("vision"), "+".join(self.modalities), self.tokens]
        return "safe-" + "-".join(parts)

    def extract_features(self, batch: Mapping[str, Any]) -> dict[str, torch.Tensor]:
        """CLIP tokens in the joint space, one CLIP call for every image of the batch.

        Args:
            batch: ``"rgb"`` and/or ``"events"``: uint8 [B, T, 3, H, W] (the modalities this
                model reads must be present).

        Returns:
            ``{"rgb_tokens": [B, T, N, D], "event_tokens": [B, T, N, D]}`` for the modalities
            read, N = 1 + patches (or 1 with ``tokens="cls"``), D = ``clip.embed_dim``.
        """
        pixels, shapes = [], []
        for m in self.modalities:
            images = self._images(batch, m)  # (B, T, 3, H, W)
            shapes.append(images.shape[:2])
            pixels.append(self.clip.preprocess(images.flatten(0, 1)))  # (B * T, 3, S, S)
        tokens = self.clip.image_tokens(torch.cat(pixels))  # (M * B * T, 1 + N, W)
        if self.tokens == "cls":
            tokens = tokens[:, :1]
        tokens = self.clip.project_image_tokens(tokens)  # (M * B * T, N, D)
        chunks = tokens.split([b * t for b, t in shapes])
        return {
            FEATURE_KEYS[m]: chunk.unflatten(0, tuple(shape))  # (B, T, N, D)
            for m, chunk, shape in zip(self.modalities, chunks, shapes, strict=True)
        }

    # --- internals ----------------------------------------------------------------------------
    @staticmethod
    def _images(batch: Mapping[str, Any], modality: str) -> torch.Tensor:
        if modality not in batch or batch[modality] is None:
            raise KeyError(
                f"safe reads {modality!r} but the batch has no {modality!r} (keys: "
                f"{', '.join(sorted(batch))}); build with modality='rgb' or 'events' for one "
                "modality"
            )
        images = batch[modality]
        if images.ndim == 4:  # [B, 3, H, W]: one frame per sample
            images = images.unsqueeze(1)
        if images.ndim != 5:
            raise ValueError(
                f"batch[{modality!r}] must be [B, T, 3, H, W], got {tuple(images.shape)}"
            )
        return images

    def _visual(self, batch: Mapping[str, Any]) -> dict[str, torch.Tensor]:
        """Each modality's tokens [B, T, N, D], from ``batch["features"]`` when it is there."""
        features = batch.get("features")
        if features is None:
            features = self.extract_features(batch)
        dtype, device = self.head.visual_in.weight.dtype, self.head.visual_in.weight.device
        out = {}
        for m in self.modalities:
            if FEATURE_KEYS[m] not in features:
                raise KeyError(f"batch['features'] has no {FEATURE_KEYS[m]!r} for {m!r}")
            out[m] = features[FEATURE_KEYS[m]].to(device=device, dtype=dtype)
        return out

    def _forward(
        self, batch: Mapping[str, Any], visual: dict[str, torch.Tensor] | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
        """(logits [B, C], fused feature [B, F], extra loss terms)."""
        visual = self._visual(batch) if visual is None else visual
        class_tokens, terms = self.class_tokens(self.clip)  # (C, D)
        class_tokens = class_tokens.to(self.head.visual_in.weight.dtype)
        logits, fused = self.head(visual, class_tokens)
        return logits, fused, terms


def _reinitialise_vision(clip: nn.Module, seed: int) -> None:
    """Random weights for the vision tower and projection: a plain ViT of the same shape."""
    from transformers import CLIPVisionModelWithProjection

    config = clip.model.config.vision_config
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        fresh = CLIPVisionModelWithProjection(config)
    device, dtype = clip.device, clip.dtype
    clip.vision.load_state_dict(fresh.vision_model.state_dict())
    clip.model.visual_projection.load_state_dict(fresh.visual_projection.state_dict())
    clip.to(device=device, dtype=dtype)


def _load_backbone(clip: str | nn.Module, vision: str, seed: int, device, dtype) -> nn.Module:
    if isinstance(clip, str):
        from evclip.backbones import load_clip

        clip = load_clip(clip, device=device, dtype=dtype)
    if vision == "vit":
        _reinitialise_vision(clip, seed)
    return clip


@METHODS.register("safe")
def build_safe(
    *,
    # backbone
    clip: str | nn.Module = "openai/clip-vit-base-patch16",
    vision: str = "clip",
    freeze: str = "none",
    text_freeze: str | None = None,
    tokens: str = "all",
    device: str | torch.device | None = None,
    dtype: str | torch.dtype | None = None,
    # inputs
    modality: str = "both",
    num_frames: int = 5,
    # classes and text
    class_names: Sequence[str] | None = None,
    templates: str | Sequence[str] = DEFAULT_TEMPLATES,
    descriptions: str | Mapping[str, Sequence[str]] | None = None,
    learnable_context: int = 0,
    context_init: str | None = None,
    kgcoop_weight: float = 8.0,
    use_text: bool = True,
    # fusion head
    variant: str = "paper",
    dim: int = 768,
    heads: int = 12,
    depth: int = 1,
    mlp_ratio: float = 4.0,
    dropout: float = 0.0,
    num_cls_tokens: int = 10,
    use_multimodal: bool = True,
    use_self_attention: bool = True,
    use_cross_attention: bool = True,
    seed: int = 0,
) -> Safe:
    """Build SAFE (RGB + event + class-text fusion over one CLIP backbone).

    Args:
        clip: CLIP to load with :func:`evclip.backbones.load_clip` (registered name, hub id,
            folder or checkpoint), or a loaded ``ClipBackbone``.
        vision: ``"clip"`` (CLIP's pre-trained vision tower) or ``"vit"`` (a plain ViT of the
            same shape with random weights: the paper's no-language-pre-training ablation; the
            text tower stays CLIP's).
        freeze: freezing policy of the backbone (``ClipBackbone.freeze``: ``"none"`` as the
            published code, which fine-tunes CLIP; ``"all"``, ``"last:K"``, ``"layernorm"``,
            ``"bias"``). The logit scale, unused by SAFE, is always frozen; the text tower too
            when ``use_text`` is false.
        text_freeze: freezing policy of the text tower alone (None: as ``freeze``). With
            ``freeze="all", text_freeze="none"`` the vision tower stays frozen (its tokens can
            be cached) while the class sentences are fine-tuned (``optim.backbone_lr``).
        tokens: ``"all"`` (CLS + patch tokens of every frame, as the paper) or ``"cls"``
            (one token per frame: much cheaper, an evclip option).
        device: where to load the backbone when ``clip`` is a name.
        dtype: the backbone's dtype when ``clip`` is a name.
        modality: ``"both"``, ``"rgb"`` (RGB frames only) or ``"events"`` (event images only):
            the single-modality floors the fusion must beat.
        num_frames: frames per modality T (the paper's best: 5).
        class_names: the classes (required; ``set_classes`` changes them later).
        templates: a named template set of :mod:`evclip.prompts` (default ``"photo"``: "a photo
            of a {}."; ``"playing_card"`` was the paper's best on PokerEvent, ``"name"`` the bare
            class name), one template with ``{}``, or a list of templates.
        descriptions: per-class sentences (a file path for ``evclip.prompts.load_descriptions``,
            or a mapping name -> sentences), averaged into each class's text token.
        learnable_context: CoOp context length (0 = hand-written prompts only).
        context_init: phrase initialising the CoOp context (e.g. "a photo of a"; its token
            count then sets the length); None draws ``learnable_context`` random vectors.
        kgcoop_weight: weight of the KgCoOp term keeping the learned prompt near the hand-written
            one (KgCoOp's default 8.0); used only with learnable context.
        use_text: class tokens from CLIP's text tower; false = one learned token per class
            (Table 4's "without semantic class information"; the same head).
        variant: ``"paper"`` (the paper's design) or ``"reference"`` (the public code's).
        dim: fusion width (the public code: 768).
        heads: attention heads of the fusion layers.
        depth: layers per fusion stage (paper head) / joint blocks (reference head).
        mlp_ratio: feed-forward width as a multiple of ``dim``.
        dropout: dropout in the fusion layers.
        num_cls_tokens: learnable CLS tokens of the reference head.
        use_multimodal: the multi-modal Transformers (Table 4 ablation when false).
        use_self_attention: self-attention over RGB + event tokens (ablation when false).
        use_cross_attention: class-query cross-attention (ablation when false).
        seed: seed of the head's (and a plain ViT's) initial weights; the global RNG is untouched.

    Returns:
        A :class:`Safe` module.
    """
    config = {k: v for k, v in locals().items() if k not in ("clip", "device", "dtype")}
    config["clip"] = clip if isinstance(clip, str) else None
    _choice("variant", variant, VARIANTS)
    _choice("modality", modality, tuple(MODALITIES))
    _choice("vision", vision, VISIONS)
    _choice("tokens", tokens, TOKENS)
    if num_frames < 1:
        raise ValueError(f"safe: num_frames must be at least 1, got {num_frames}")
    if class_names is None:
        raise ValueError("safe: class_names is required (the list of class names)")
    class_names = check_class_names(class_names)
    if templates:
        get_templates(templates)  # a bad template fails before the backbone loads
    backbone = _load_backbone(clip, vision, seed, device, dtype)
    backbone.freeze(freeze)
    if text_freeze is not None:
        backbone.freeze(text_freeze, tower="text")
    backbone.logit_scale.requires_grad_(False)
    if not use_text:
        backbone.freeze("all", tower="text")
    modalities = MODALITIES[modality]
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        class_tokens = SafeClassTokens(
            backbone,
            class_names,
            use_text=use_text,
            templates=templates,
            descriptions=descriptions,
            learnable_context=learnable_context,
            context_init=context_init,
            seed=seed,
        )
        head = _build_head(
            variant,
            in_dim=backbone.embed_dim,
            dim=dim,
            heads=heads,
            depth=depth,
            num_frames=num_frames,
            num_classes=class_tokens.num_classes,
            modalities=modalities,
            use_multimodal=use_multimodal,
            use_self_attention=use_self_attention,
            use_cross_attention=use_cross_attention,
            num_cls_tokens=num_cls_tokens,
            mlp_ratio=mlp_ratio,
            dropout=dropout,
        )
    head.to(device=backbone.device)
    class_tokens.to(device=backbone.device)
    return Safe(
        backbone,
        class_tokens,
        head,
        modalities=modalities,
        tokens=tokens,
        kgcoop_weight=kgcoop_weight,
        config=config,
    )


def _build_head(
    variant: str, *, num_frames: int, num_classes: int, num_cls_tokens: int, **common: Any
) -> SafePaperHead | SafeReferenceHead:
    if variant == "paper":
        return SafePaperHead(num_frames=num_frames, **common)
    return SafeReferenceHead(num_classes=num_classes, num_cls_tokens=num_cls_tokens, **common)


#: Class names of the tiny test variants.
TEST_CLASS_NAMES = ("cat", "dog", "bird")


@METHODS.register("test_safe_tiny")
def build_safe_test_tiny(
    *,
    clip: str | nn.Module = "test_clip_tiny",
    class_names: Sequence[str] | None = TEST_CLASS_NAMES,
    num_frames: int = 2,
    dim: int = 32,
    heads: int = 2,
    **overrides: Any,
) -> Safe:
    """SAFE (paper variant) on ``test_clip_tiny`` with a 32-wide, 2-head head and 2 frames."""
    return build_safe(
        clip=clip, class_names=class_names, num_frames=num_frames, dim=dim, heads=heads, **overrides
    )


@METHODS.register("test_safe_reference_tiny")
def build_safe_reference_test_tiny(
    *,
    class_names: Sequence[str] | None = TEST_CLASS_NAMES,
    num_frames: int = 2,
    variant: str = "reference",
    num_cls_tokens: int = 4,
    **overrides: Any,
) -> Safe:
    """SAFE (reference variant) on ``test_clip_tiny``; 32 wide, 2 heads, 2 frames, 4 CLS tokens."""
    return build_safe_test_tiny(
        class_names=class_names,
        num_frames=num_frames,
        variant=variant,
        num_cls_tokens=num_cls_tokens,
        **overrides,
    )
