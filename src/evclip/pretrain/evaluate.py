"""Zero-shot accuracy of a CLIP on held-out stills: can it name the digit, colour, background?

Every combination of attribute values is one class, its text embedding the normalised mean over
caption templates ("a photo of a {colour} {digit} on {background}", ...). An image's class
probabilities are summed over the other attributes to give one distribution per attribute (the
digit's probability is that of every caption naming that digit), and accuracy is measured per
attribute against chance (one over the number of values, since test attributes are drawn
uniformly).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence

import numpy as np
import torch

from evclip.datasets import synthetic_render as world
from evclip.datasets.synthetic_layout import CAPTION_TEMPLATES
from evclip.pretrain.captions import PairRecord, format_caption

ATTRIBUTES = ("colour", "digit", "background")
MOTIONS = tuple(world.MOTION_DIRECTIONS)


def combinations(colours, digits, backgrounds) -> list[PairRecord]:
    """Every (colour, digit, background) as a record, in a fixed order."""
    return [PairRecord(c, d, b) for c, d, b in itertools.product(colours, digits, backgrounds)]


@torch.no_grad()
def class_embeddings(
    encode_text: Callable[[list[str]], torch.Tensor],
    classes: Sequence[PairRecord],
    templates: Sequence[str] = CAPTION_TEMPLATES,
) -> torch.Tensor:
    """[K, D] normalised mean over templates of each class's normalised caption embedding."""
    texts = [format_caption(t, record) for record in classes for t in templates]
    embeds = torch.nn.functional.normalize(encode_text(texts).float(), dim=-1)
    embeds = embeds.view(len(classes), len(templates), -1).mean(dim=1)
    return torch.nn.functional.normalize(embeds, dim=-1)


def attribute_accuracy(
    image_embeds: torch.Tensor,
    records: Sequence[PairRecord],
    classes: Sequence[PairRecord],
    class_embeds: torch.Tensor,
    scale: float = 100.0,
    attributes: Sequence[str] = ATTRIBUTES,
) -> dict[str, dict[str, float]]:
    """Per-attribute zero-shot accuracy and chance, plus the whole caption's accuracy.

    Args:
        image_embeds: [N, D] image embeddings (normalised here).
        records: what each image shows.
        classes: the K caption classes.
        class_embeds: [K, D] their normalised text embeddings.
        scale: logit multiplier before the softmax (CLIP's learned temperature).
        attributes: attributes to score (each must vary over ``classes``).
    """
    images = torch.nn.functional.normalize(image_embeds.float(), dim=-1)
    probs = torch.softmax(scale * images @ class_embeds.T, dim=-1)  # [N, K]
    result: dict[str, dict[str, float]] = {}
    for attribute in attributes:
        values = sorted({c.key(attribute) for c in classes})
        member = torch.tensor(
            [[c.key(attribute) == v for v in values] for c in classes], dtype=probs.dtype
        )  # [K, V]
        predicted = (probs @ member).argmax(dim=-1)  # [N]
        truth = torch.tensor([values.index(r.key(attribute)) for r in records])
        result[attribute] = {
            "accuracy": round(float((predicted == truth).float().mean()), 4),
            "chance": round(1.0 / len(values), 4),
        }
    best = probs.argmax(dim=-1).tolist()
    joint = np.mean(
        [
            all(classes[k].key(a) == r.key(a) for a in attributes)
            for k, r in zip(best, records, strict=True)
        ]
    )
    result["caption"] = {"accuracy": round(float(joint), 4), "chance": round(1 / len(classes), 4)}
    return result
