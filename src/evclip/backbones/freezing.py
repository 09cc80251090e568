"""Freezing policies for a transformers ``CLIPModel``: which parameters keep ``requires_grad``."""

from __future__ import annotations

from torch import nn

from evclip.backbones.errors import BackboneError

POLICIES = ("all", "none", "last:K", "layernorm", "bias")
TOWERS = ("vision", "text", "both")


def _tower_parts(model: nn.Module, tower: str) -> tuple[nn.Module, nn.ModuleList, list[nn.Module]]:
    """(whole tower incl. projection, its transformer blocks, its head: final norm + projection)."""
    if tower == "vision":
        body, projection = model.vision_model, model.visual_projection
        head = [body.post_layernorm, projection]
    else:
        body, projection = model.text_model, model.text_projection
        head = [body.final_layer_norm, projection]
    whole = nn.ModuleList([body, projection])
    return whole, body.encoder.layers, head


def _set(modules: list[nn.Module] | nn.Module, flag: bool) -> None:
    for module in modules if isinstance(modules, list) else [modules]:
        for parameter in module.parameters():
            parameter.requires_grad_(flag)


def _parse_last(policy: str, depth: int) -> int:
    try:
        count = int(policy.split(":", 1)[1])
    except ValueError:
        raise BackboneError(f"freeze policy {policy!r}: K in 'last:K' must be an integer") from None
    if not 0 <= count <= depth:
        raise BackboneError(
            f"freeze policy {policy!r}: K must be between 0 and the tower depth {depth}"
        )
    return count


def _apply_to_tower(model: nn.Module, policy: str, tower: str) -> None:
    whole, blocks, head = _tower_parts(model, tower)
    _set(whole, policy == "none")
    if policy in ("all", "none"):
        return
    if policy == "layernorm":
        _set([m for m in whole.modules() if isinstance(m, nn.LayerNorm)], True)
    elif policy == "bias":
        for name, parameter in whole.named_parameters():
            parameter.requires_grad_(name.endswith("bias"))
    else:
        count = _parse_last(policy, len(blocks))
        _set([*blocks[len(blocks) - count :], *head], True)


def apply_freeze_policy(model: nn.Module, policy: str, tower: str = "both") -> None:
    """Sets requires_grad of a CLIPModel's parameters by ``policy`` on ``tower``.

    Args:
        model: a transformers ``CLIPModel``.
        policy: one of "all", "none", "last:K", "layernorm", "bias".
        tower: "vision", "text" or "both"; the other tower is untouched. The logit scale is
            trainable only with policy "none" on both towers.
    """
    if policy not in ("all", "none", "layernorm", "bias") and not policy.startswith("last:"):
        raise BackboneError(f"unknown freeze policy {policy!r}; known: {', '.join(POLICIES)}")
    if tower not in TOWERS:
        raise BackboneError(f"unknown tower {tower!r}; known: {', '.join(TOWERS)}")
    for name in ("vision", "text") if tower == "both" else (tower,):
        _apply_to_tower(model, policy, name)
    if tower == "both":
        model.logit_scale.requires_grad_(policy == "none")
