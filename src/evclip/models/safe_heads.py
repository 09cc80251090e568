"""SAFE's fusion heads: the paper's design and the public code's design.

Both heads take CLIP tokens in the joint image-text space (``visual[m]`` of shape
[B, T, N, D] per modality ``m``, N = CLS + patch tokens, D = ``clip.embed_dim``) and one token
per class in the same space ([C, D]), and return class logits [B, C] plus a fused feature.

- :class:`SafePaperHead` follows the paper (Li et al., Pattern Recognition 2025): every frame's
  tokens kept in order with a learned temporal embedding, one multi-modal Transformer per
  modality over [visual, class] tokens, self-attention over the visual tokens of both
  modalities, cross-attention with class queries against each modality (outputs added), a final
  self-attention + feed-forward stage over everything. Logits come from the class tokens' own
  outputs: one linear scorer shared by all classes plus a bilinear match between the fused
  visual feature and each class output (a CLIP-like similarity). No weight is tied to a class
  position, so the head works unchanged for any list of class names (``set_classes`` with a
  different number of classes needs no new weights). Class tokens are centred over the class
  list first: CLIP embeddings of "a photo of a {}" share most of their direction (cosine
  0.8-0.98), and without the bilinear term and the centring a tiny model could not even
  memorise six clips (loss stuck at ln C).
- :class:`SafeReferenceHead` follows the public code (Event-AHU/SAFE_LargeVLM,
  ``models/base_block.py``): tokens averaged over frames, one joint Transformer block over
  [class, RGB, event], a bare single-head self-attention (no residual, no norm; the same weights
  are used again at the final stage), enhanced = RGB' + event', a bare single-head
  cross-attention shared by both modalities (outputs added), 10 learnable CLS tokens appended,
  and the CLS outputs flattened into a linear classifier with a fixed number of classes.
"""

from __future__ import annotations

import torch
from torch import nn

from evclip.models.blocks import (
    ActLayer,
    Attention,
    CrossAttentionBlock,
    NormLayer,
    SelfAttentionBlock,
    init_transformer_weights,
)

MODALITY_INDEX = {"text": 0, "rgb": 1, "events": 2}


class _HeadBase(nn.Module):
    """Input projections and modality-type embeddings shared by both heads."""

    def __init__(
        self, *, in_dim: int, dim: int, modalities: tuple[str, ...], input_norm: NormLayer | None
    ) -> None:
        super().__init__()
        self.modalities = modalities
        self.visual_norm = input_norm(in_dim) if input_norm else nn.Identity()
        self.text_norm = input_norm(in_dim) if input_norm else nn.Identity()
        self.visual_in = nn.Linear(in_dim, dim)  # one projection for both modalities
        self.text_in = nn.Linear(in_dim, dim)
        self.type_embed = nn.Parameter(torch.zeros(len(MODALITY_INDEX), dim))

    def _class_queries(self, class_tokens: torch.Tensor, batch: int) -> torch.Tensor:
        """[C, D] -> [B, C, dim] with the text type embedding added."""
        q = self.text_in(self.text_norm(class_tokens)) + self.type_embed[MODALITY_INDEX["text"]]
        return q.unsqueeze(0).expand(batch, -1, -1)

    def _project(self, tokens: torch.Tensor, modality: str) -> torch.Tensor:
        """[..., D] -> [..., dim] with the modality's type embedding added."""
        return self.visual_in(self.visual_norm(tokens)) + self.type_embed[MODALITY_INDEX[modality]]


class SafePaperHead(_HeadBase):
    """SAFE as the paper describes it; logits from a scorer shared by all class tokens.

    Args:
        in_dim: width of the CLIP tokens and class tokens (the joint space).
        dim: width of the fusion Transformer.
        heads: attention heads.
        depth: layers in each stage (multi-modal, self-attention, cross-attention, fusion).
        num_frames: frames per modality (size of the temporal embedding).
        modalities: ``("rgb", "events")``, ``("rgb",)`` or ``("events",)``.
        use_multimodal: run the per-modality multi-modal Transformers.
        use_self_attention: run self-attention over the visual tokens of all modalities.
        use_cross_attention: run cross-attention with class queries against each modality.
        mlp_ratio: feed-forward hidden width as a multiple of ``dim``.
        dropout: dropout in attention outputs and feed-forwards.
        norm_layer: normalisation class.
        act_layer: activation class.
    """

    def __init__(
        self,
        *,
        in_dim: int,
        dim: int,
        heads: int,
        depth: int,
        num_frames: int,
        modalities: tuple[str, ...],
        use_multimodal: bool = True,
        use_self_attention: bool = True,
        use_cross_attention: bool = True,
        mlp_ratio: float = 4.0,
        dropout: float = 0.0,
        norm_layer: NormLayer = nn.LayerNorm,
        act_layer: ActLayer = nn.GELU,
    ) -> None:
        super().__init__(in_dim=in_dim, dim=dim, modalities=modalities, input_norm=norm_layer)
        self.num_frames = num_frames
        self.temporal_embed = nn.Parameter(torch.zeros(num_frames, dim))

        def stack() -> nn.Sequential:
            return nn.Sequential(
                *(
                    SelfAttentionBlock(
                        dim,
                        heads,
                        mlp_ratio=mlp_ratio,
                        drop=dropout,
                        norm_layer=norm_layer,
                        act_layer=act_layer,
                    )
                    for _ in range(depth)
                )
            )

        self.multimodal = (
            nn.ModuleDict({m: stack() for m in modalities}) if use_multimodal else None
        )
        self.self_attention = stack() if use_self_attention else None
        self.cross_attention = (
            nn.ModuleList(
                CrossAttentionBlock(
                    dim,
                    heads,
                    num_sources=len(modalities),
                    mlp_ratio=mlp_ratio,
                    drop=dropout,
                    norm_layer=norm_layer,
                    act_layer=act_layer,
                )
                for _ in range(depth)
            )
            if use_cross_attention
            else None
        )
        self.fusion = stack()
        self.norm = norm_layer(dim)
        self.scorer = nn.Linear(dim, 1)  # one scorer for every class token
        self.match_visual = nn.Linear(dim, dim, bias=False)
        self.match_class = nn.Linear(dim, dim, bias=False)
        self.apply(init_transformer_weights)
        # the two factors of a bilinear similarity both at std 0.02 start it at a saddle (each
        # factor's gradient is scaled by the other): on frozen CLIP tokens the head then crawled
        # for many epochs; at unit gain the match term learns from the first steps
        for linear in (self.match_visual, self.match_class):
            nn.init.normal_(linear.weight, std=dim**-0.5)
        nn.init.trunc_normal_(self.temporal_embed, std=0.02)
        nn.init.trunc_normal_(self.type_embed, std=0.02)

    def _visual_tokens(self, tokens: torch.Tensor, modality: str) -> torch.Tensor:
        """[B, T, N, D] -> [B, T * N, dim] with temporal and type embeddings."""
        frames = tokens.shape[1]
        if frames != self.num_frames:
            raise ValueError(
                f"{modality} has {frames} frames per sample; this SAFE model was built with "
                f"num_frames={self.num_frames}"
            )
        x = self._project(tokens, modality) + self.temporal_embed[:, None, :]  # (B, T, N, dim)
        return x.flatten(1, 2)

    def _multimodal(
        self, xs: list[torch.Tensor], q: torch.Tensor
    ) -> tuple[list[torch.Tensor], torch.Tensor]:
        """One Transformer per modality over [visual, class]; class outputs averaged."""
        if self.multimodal is None:
            return xs, q
        outs, queries = [], []
        for m, x in zip(self.modalities, xs, strict=True):
            y = self.multimodal[m](torch.cat([x, q], dim=1))  # (B, TN + C, dim)
            outs.append(y[:, : x.shape[1]])
            queries.append(y[:, x.shape[1] :])
        return outs, torch.stack(queries).mean(0)

    def forward(
        self, visual: dict[str, torch.Tensor], class_tokens: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Fuse; returns logits [B, C] and a fused feature [B, dim]."""
        # the part every class shares (the template's words) says nothing about which class it is
        class_tokens = class_tokens - class_tokens.mean(0, keepdim=True)  # (C, D)
        xs = [self._visual_tokens(visual[m], m) for m in self.modalities]  # each (B, TN, dim)
        q = self._class_queries(class_tokens, xs[0].shape[0])  # (B, C, dim)
        xs, q = self._multimodal(xs, q)
        if self.self_attention is not None:
            sizes = [x.shape[1] for x in xs]
            xs = list(self.self_attention(torch.cat(xs, dim=1)).split(sizes, dim=1))
        if self.cross_attention is not None:
            for block in self.cross_attention:
                q = block(q, xs)
        num_classes = q.shape[1]
        y = self.norm(self.fusion(torch.cat([q, *xs], dim=1)))  # (B, C + sum TN, dim)
        classes, fused = y[:, :num_classes], y[:, num_classes:].mean(1)  # (B, C, dim), (B, dim)
        match = torch.einsum("bd,bcd->bc", self.match_visual(fused), self.match_class(classes))
        logits = self.scorer(classes).squeeze(-1) + match / classes.shape[-1] ** 0.5  # (B, C)
        return logits, fused


class SafeReferenceHead(_HeadBase):
    """SAFE as the public code builds it (frames averaged, one joint block, 10 CLS tokens).

    Args:
        in_dim: width of the CLIP tokens and class tokens (the joint space).
        dim: width of the fusion layers.
        heads: heads of the joint block (the bare attentions are single-head, as published).
        depth: joint blocks (the public code uses one: the last block of an ImageNet ViT).
        num_classes: outputs of the final linear classifier.
        modalities: ``("rgb", "events")``, ``("rgb",)`` or ``("events",)``.
        use_multimodal: run the joint block over [class, RGB, event].
        use_self_attention: run the bare self-attention over RGB + event tokens.
        use_cross_attention: run class-query cross-attention (else the class tokens pass as is).
        num_cls_tokens: learnable tokens whose outputs feed the classifier.
        mlp_ratio: feed-forward width of the joint block.
        dropout: dropout in the joint block.
        norm_layer: normalisation class of the joint block.
        act_layer: activation class of the joint block.
    """

    def __init__(
        self,
        *,
        in_dim: int,
        dim: int,
        heads: int,
        depth: int,
        num_classes: int,
        modalities: tuple[str, ...],
        use_multimodal: bool = True,
        use_self_attention: bool = True,
        use_cross_attention: bool = True,
        num_cls_tokens: int = 10,
        mlp_ratio: float = 4.0,
        dropout: float = 0.0,
        norm_layer: NormLayer = nn.LayerNorm,
        act_layer: ActLayer = nn.GELU,
    ) -> None:
        super().__init__(in_dim=in_dim, dim=dim, modalities=modalities, input_norm=None)
        self.use_self_attention = use_self_attention
        self.joint = (
            nn.Sequential(
                *(
                    SelfAttentionBlock(
                        dim,
                        heads,
                        mlp_ratio=mlp_ratio,
                        drop=dropout,
                        norm_layer=norm_layer,
                        act_layer=act_layer,
                    )
                    for _ in range(depth)
                ),
                norm_layer(dim),
            )
            if use_multimodal
            else None
        )
        # bare single-head attentions, as published: no norm, no residual, no output projection
        self.bare_self_attention = Attention(dim, 1, qkv_bias=True, out_proj=False)
        self.bare_cross_attention = (
            Attention(dim, 1, qkv_bias=False, out_proj=False) if use_cross_attention else None
        )
        self.cls_tokens = nn.Parameter(torch.zeros(num_cls_tokens, dim))
        self.classifier = nn.Linear(num_cls_tokens * dim, num_classes)
        self.apply(init_transformer_weights)
        nn.init.trunc_normal_(self.cls_tokens, std=0.02)

    def resize_classes(self, num_classes: int) -> None:
        """A new, untrained classifier for ``num_classes`` outputs (tied to the class list)."""
        old = self.classifier
        self.classifier = nn.Linear(old.in_features, num_classes).to(
            device=old.weight.device, dtype=old.weight.dtype
        )
        init_transformer_weights(self.classifier)

    def forward(
        self, visual: dict[str, torch.Tensor], class_tokens: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Fuse; returns logits [B, C] and the flattened CLS feature [B, num_cls * dim]."""
        # frame order is discarded by the mean, as in the public code
        xs = [self._project(visual[m].mean(1), m) for m in self.modalities]  # each (B, N, dim)
        batch = xs[0].shape[0]
        q = self._class_queries(class_tokens, batch)  # (B, C, dim)
        sizes = [q.shape[1]] + [x.shape[1] for x in xs]
        if self.joint is not None:
            q, *xs = self.joint(torch.cat([q, *xs], dim=1)).split(sizes, dim=1)
        if self.use_self_attention:
            xs = list(self.bare_self_attention(torch.cat(xs, dim=1)).split(sizes[1:], dim=1))
        enhanced = torch.stack(xs).sum(0)  # (B, N, dim)
        if self.bare_cross_attention is not None:
            q = torch.stack([self.bare_cross_attention(q, x) for x in xs]).sum(0)
        cls = self.cls_tokens.unsqueeze(0).expand(batch, -1, -1)
        final = self.bare_self_attention(torch.cat([enhanced, q, cls], dim=1))
        feature = final[:, -cls.shape[1] :].flatten(1)  # (B, num_cls * dim)
        return self.classifier(feature), feature
