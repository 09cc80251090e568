"""Transformer building blocks shared by the methods: attention, feed-forward, residual blocks.

Blocks take their normalisation and activation classes as arguments (as timm does), so a method
can swap ``nn.LayerNorm`` for ``nn.RMSNorm`` or ``nn.GELU`` for ``nn.SiLU`` without new code.
Attention runs through ``torch.nn.functional.scaled_dot_product_attention``, which picks a fused
kernel (flash / memory-efficient) where the device has one.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

NormLayer = type[nn.Module]
ActLayer = type[nn.Module]


class Attention(nn.Module):
    """Multi-head attention: queries from ``x``, keys and values from ``context`` (default ``x``).

    Args:
        dim: width of the queries and of the output.
        heads: number of heads; must divide ``dim``.
        kv_dim: width of the context tokens (default ``dim``).
        qkv_bias: whether the query/key/value projections have a bias.
        out_proj: whether the heads are mixed by an output projection (a bare single-head
            attention, as some published code uses, has none).
        attn_drop: dropout on the attention weights while training.
        proj_drop: dropout on the output.
    """

    def __init__(
        self,
        dim: int,
        heads: int = 8,
        *,
        kv_dim: int | None = None,
        qkv_bias: bool = True,
        out_proj: bool = True,
        attn_drop: float = 0.0,
        proj_drop: float = 0.0,
    ) -> None:
        super().__init__()
        if dim % heads:
            raise ValueError(f"attention width {dim} is not divisible by heads={heads}")
        self.heads = heads
        self.attn_drop = attn_drop
        kv_dim = dim if kv_dim is None else kv_dim
        self.q = nn.Linear(dim, dim, bias=qkv_bias)
        self.kv = nn.Linear(kv_dim, 2 * dim, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim) if out_proj else nn.Identity()
        self.proj_drop = nn.Dropout(proj_drop)

    def _split_heads(self, x: torch.Tensor) -> torch.Tensor:
        batch, tokens, width = x.shape
        # (B, N, W) -> (B, heads, N, W / heads)
        return x.view(batch, tokens, self.heads, width // self.heads).transpose(1, 2)

    def forward(self, x: torch.Tensor, context: torch.Tensor | None = None) -> torch.Tensor:
        """Attend from ``x`` [B, Nq, dim] to ``context`` [B, Nk, kv_dim]; returns [B, Nq, dim]."""
        context = x if context is None else context
        q = self._split_heads(self.q(x))  # (B, h, Nq, d)
        k, v = (self._split_heads(t) for t in self.kv(context).chunk(2, dim=-1))  # (B, h, Nk, d)
        drop = self.attn_drop if self.training else 0.0
        out = F.scaled_dot_product_attention(q, k, v, dropout_p=drop)  # (B, h, Nq, d)
        out = out.transpose(1, 2).flatten(2)  # (B, Nq, dim)
        return self.proj_drop(self.proj(out))


class FeedForward(nn.Module):
    """Two linear layers with an activation between them (the Transformer MLP).

    Args:
        dim: input and output width.
        hidden: hidden width.
        act_layer: activation class (instantiated without arguments).
        drop: dropout after the activation and after the second layer.
    """

    def __init__(
        self, dim: int, hidden: int, *, act_layer: ActLayer = nn.GELU, drop: float = 0.0
    ) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = act_layer()
        self.fc2 = nn.Linear(hidden, dim)
        self.drop = nn.Dropout(drop)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """[..., dim] -> [..., dim]."""
        return self.drop(self.fc2(self.drop(self.act(self.fc1(x)))))


class SelfAttentionBlock(nn.Module):
    """Pre-norm Transformer layer: ``x + attn(norm(x))`` then ``x + ffn(norm(x))``.

    Args:
        dim: token width.
        heads: attention heads.
        mlp_ratio: hidden width of the feed-forward as a multiple of ``dim``.
        qkv_bias: bias on the query/key/value projections.
        drop: dropout on the attention output and in the feed-forward.
        attn_drop: dropout on the attention weights.
        norm_layer: normalisation class, called as ``norm_layer(dim)``.
        act_layer: activation class of the feed-forward.
    """

    def __init__(
        self,
        dim: int,
        heads: int,
        *,
        mlp_ratio: float = 4.0,
        qkv_bias: bool = True,
        drop: float = 0.0,
        attn_drop: float = 0.0,
        norm_layer: NormLayer = nn.LayerNorm,
        act_layer: ActLayer = nn.GELU,
    ) -> None:
        super().__init__()
        self.norm1 = norm_layer(dim)
        self.attn = Attention(dim, heads, qkv_bias=qkv_bias, attn_drop=attn_drop, proj_drop=drop)
        self.norm2 = norm_layer(dim)
        self.mlp = FeedForward(dim, int(dim * mlp_ratio), act_layer=act_layer, drop=drop)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """[B, N, dim] -> [B, N, dim]."""
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class CrossAttention(nn.Module):
    """Pre-norm cross-attention without residual: ``attn(norm_q(q), norm_kv(kv))``.

    The residual is left to the caller so that several sources can be added to one query
    (``q + cross_a(q, a) + cross_b(q, b)``); see :class:`CrossAttentionBlock`.

    Args:
        dim: query width (and output width).
        heads: attention heads.
        kv_dim: width of the key/value tokens (default ``dim``).
        qkv_bias: bias on the projections.
        drop: dropout on the output.
        attn_drop: dropout on the attention weights.
        norm_layer: normalisation class.
    """

    def __init__(
        self,
        dim: int,
        heads: int,
        *,
        kv_dim: int | None = None,
        qkv_bias: bool = True,
        drop: float = 0.0,
        attn_drop: float = 0.0,
        norm_layer: NormLayer = nn.LayerNorm,
    ) -> None:
        super().__init__()
        kv_dim = dim if kv_dim is None else kv_dim
        self.norm_q = norm_layer(dim)
        self.norm_kv = norm_layer(kv_dim)
        self.attn = Attention(
            dim, heads, kv_dim=kv_dim, qkv_bias=qkv_bias, attn_drop=attn_drop, proj_drop=drop
        )

    def forward(self, q: torch.Tensor, kv: torch.Tensor) -> torch.Tensor:
        """Queries [B, Nq, dim] attend to [B, Nk, kv_dim]; returns the update [B, Nq, dim]."""
        return self.attn(self.norm_q(q), self.norm_kv(kv))


class CrossAttentionBlock(nn.Module):
    """Queries attend to one or more token sources, then a feed-forward; both residual.

    ``q + sum_i cross_i(q, sources[i])`` then ``q + ffn(norm(q))``: with two sources this is the
    "cross-attention against each, outputs added" stage of SAFE.

    Args:
        dim: query width.
        heads: attention heads.
        num_sources: how many key/value sources ``forward`` takes (one attention each).
        mlp_ratio: feed-forward hidden width as a multiple of ``dim``.
        qkv_bias: bias on the projections.
        drop: dropout on attention outputs and in the feed-forward.
        attn_drop: dropout on the attention weights.
        norm_layer: normalisation class.
        act_layer: activation class of the feed-forward.
    """

    def __init__(
        self,
        dim: int,
        heads: int,
        *,
        num_sources: int = 1,
        mlp_ratio: float = 4.0,
        qkv_bias: bool = True,
        drop: float = 0.0,
        attn_drop: float = 0.0,
        norm_layer: NormLayer = nn.LayerNorm,
        act_layer: ActLayer = nn.GELU,
    ) -> None:
        super().__init__()
        self.cross = nn.ModuleList(
            CrossAttention(
                dim, heads, qkv_bias=qkv_bias, drop=drop, attn_drop=attn_drop, norm_layer=norm_layer
            )
            for _ in range(num_sources)
        )
        self.norm = norm_layer(dim)
        self.mlp = FeedForward(dim, int(dim * mlp_ratio), act_layer=act_layer, drop=drop)

    def forward(self, q: torch.Tensor, sources: Sequence[torch.Tensor]) -> torch.Tensor:
        """Queries [B, Nq, dim] against each source [B, Nk_i, dim]; returns [B, Nq, dim]."""
        if len(sources) != len(self.cross):
            raise ValueError(f"expected {len(self.cross)} key/value sources, got {len(sources)}")
        q = q + sum(cross(q, kv) for cross, kv in zip(self.cross, sources, strict=True))
        return q + self.mlp(self.norm(q))


def init_transformer_weights(module: nn.Module, std: float = 0.02) -> None:
    """ViT-style initialisation: truncated-normal linear weights, zero biases, unit norms.

    Use as ``model.apply(init_transformer_weights)``.
    """
    if isinstance(module, nn.Linear):
        nn.init.trunc_normal_(module.weight, std=std)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.LayerNorm) and module.elementwise_affine:
        nn.init.ones_(module.weight)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
