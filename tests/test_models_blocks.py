"""Tests for the shared Transformer blocks (evclip.models.blocks)."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from evclip.models.blocks import (
    Attention,
    CrossAttention,
    CrossAttentionBlock,
    FeedForward,
    SelfAttentionBlock,
    init_transformer_weights,
)


def _manual_attention(attn: Attention, x: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
    """Attention written out with softmax(QK^T / sqrt(d)) V, head by head."""
    q = attn.q(x)
    k, v = attn.kv(context).chunk(2, dim=-1)
    width = q.shape[-1] // attn.heads
    outs = []
    for h in range(attn.heads):
        cols = slice(h * width, (h + 1) * width)
        scores = q[..., cols] @ k[..., cols].transpose(-1, -2) / math.sqrt(width)
        outs.append(scores.softmax(-1) @ v[..., cols])
    return attn.proj(torch.cat(outs, dim=-1))


@pytest.mark.parametrize("heads", [1, 2, 4])
def test_attention_matches_written_out_formula(heads):
    torch.manual_seed(0)
    attn = Attention(8, heads, kv_dim=6).eval()
    x, context = torch.randn(3, 5, 8), torch.randn(3, 7, 6)
    out = attn(x, context)
    assert out.shape == (3, 5, 8)
    torch.testing.assert_close(out, _manual_attention(attn, x, context), rtol=1e-5, atol=1e-5)


def test_attention_without_output_projection_and_bias():
    attn = Attention(8, 1, qkv_bias=False, out_proj=False)
    assert isinstance(attn.proj, nn.Identity)
    assert attn.q.bias is None and attn.kv.bias is None
    x = torch.randn(2, 4, 8)
    torch.testing.assert_close(attn(x), _manual_attention(attn, x, x), rtol=1e-5, atol=1e-5)


def test_attention_rejects_width_not_divisible_by_heads():
    with pytest.raises(ValueError, match="not divisible by heads=3"):
        Attention(8, 3)


def test_self_attention_block_is_residual_and_uses_given_classes():
    block = SelfAttentionBlock(8, 2, mlp_ratio=2.0, norm_layer=nn.RMSNorm, act_layer=nn.SiLU)
    assert isinstance(block.norm1, nn.RMSNorm) and isinstance(block.mlp.act, nn.SiLU)
    assert block.mlp.fc1.out_features == 16
    # with the attention output and the feed-forward output zeroed, the block is the identity
    for linear in (block.attn.proj, block.mlp.fc2):
        nn.init.zeros_(linear.weight)
        nn.init.zeros_(linear.bias)
    x = torch.randn(2, 5, 8)
    torch.testing.assert_close(block(x), x)


def test_self_attention_block_mixes_tokens():
    torch.manual_seed(0)
    block = SelfAttentionBlock(8, 2).eval()
    x = torch.randn(1, 4, 8)
    y = x.clone()
    y[:, 3] += torch.randn(8)  # changing one token changes the others' outputs
    assert not torch.allclose(block(x)[:, 0], block(y)[:, 0])


def test_cross_attention_block_adds_every_source():
    torch.manual_seed(0)
    block = CrossAttentionBlock(8, 2, num_sources=2).eval()
    q, a, b = torch.randn(2, 3, 8), torch.randn(2, 5, 8), torch.randn(2, 6, 8)
    nn.init.zeros_(block.mlp.fc2.weight)
    nn.init.zeros_(block.mlp.fc2.bias)
    expected = q + block.cross[0](q, a) + block.cross[1](q, b)
    torch.testing.assert_close(block(q, [a, b]), expected)
    with pytest.raises(ValueError, match="expected 2 key/value sources, got 1"):
        block(q, [a])


def test_cross_attention_output_depends_on_keys_not_query_count():
    torch.manual_seed(0)
    cross = CrossAttention(8, 2, kv_dim=4).eval()
    q, kv = torch.randn(2, 3, 8), torch.randn(2, 5, 4)
    out = cross(q, kv)
    assert out.shape == (2, 3, 8)
    # each query attends independently: the first query's output ignores the other queries
    torch.testing.assert_close(cross(q[:, :1], kv), out[:, :1], rtol=1e-5, atol=1e-6)
    assert not torch.allclose(cross(q, kv + torch.randn_like(kv)), out)


def test_feed_forward_and_gradients_reach_every_parameter():
    torch.manual_seed(0)
    model = nn.ModuleList([SelfAttentionBlock(8, 2), CrossAttentionBlock(8, 2, num_sources=2)])
    model.apply(init_transformer_weights)
    x, q = torch.randn(2, 5, 8), torch.randn(2, 3, 8)
    y = model[0](x)
    out = model[1](q, [y, x])
    out.square().mean().backward()
    for name, param in model.named_parameters():
        assert param.grad is not None and param.grad.abs().sum() > 0, name
    assert FeedForward(4, 8)(torch.randn(3, 4)).shape == (3, 4)


def test_init_transformer_weights_zero_biases_small_weights():
    torch.manual_seed(0)
    block = SelfAttentionBlock(64, 4)
    block.apply(init_transformer_weights)
    assert block.attn.q.bias.abs().max() == 0
    assert 0.01 < block.mlp.fc1.weight.std().item() < 0.03
    assert torch.all(block.norm1.weight == 1)
