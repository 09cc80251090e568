"""Zero-shot text classifier: every template x every class name, normalised, averaged per class."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
import torch.nn.functional as F

from evclip.prompts.templates import format_prompts, get_templates


def check_class_names(class_names: Sequence[str]) -> list[str]:
    """The class names as a list; ValueError naming empty or repeated ones."""
    if isinstance(class_names, str):
        raise ValueError("class names must be a list of strings, not one string")
    names = list(class_names)
    if not names:
        raise ValueError("the class-name list is empty")
    empty = [i for i, name in enumerate(names) if not isinstance(name, str) or not name.strip()]
    if empty:
        raise ValueError(f"class names at positions {empty} are empty")
    seen: set[str] = set()
    repeated = [name for name in names if name in seen or seen.add(name)]
    if repeated:
        raise ValueError(f"class names are repeated: {sorted(set(repeated))}")
    return names


def class_sentences(
    class_names: Sequence[str],
    templates: str | Sequence[str],
    descriptions: Mapping[str, Sequence[str]] | None = None,
) -> tuple[list[str], list[int]]:
    """All sentences and the class index of each: templates filled with the name, plus the
    class's descriptions when given. A class needs at least one sentence."""
    names = check_class_names(class_names)
    template_list = get_templates(templates) if templates else []
    sentences: list[str] = []
    owners: list[int] = []
    for index, name in enumerate(names):
        own = [*format_prompts(template_list, name), *(descriptions or {}).get(name, ())]
        if not own:
            raise ValueError(f"class {name!r} has no template and no description")
        sentences.extend(own)
        owners.extend([index] * len(own))
    return sentences, owners


def zero_shot_classifier(
    clip,
    class_names: Sequence[str],
    templates: str | Sequence[str] = "imagenet",
    descriptions: Mapping[str, Sequence[str]] | None = None,
    *,
    batch_size: int = 512,
) -> torch.Tensor:
    """Class embeddings for zero-shot recognition, as open_clip builds them.

    Every template is filled with every class name (and each class's descriptions are added);
    the sentences are encoded in batches, normalised, averaged per class and renormalised.
    Gradients flow when the caller's grad mode allows; wrap in ``torch.no_grad()`` for a frozen
    text tower.

    Args:
        clip: a ``ClipBackbone``.
        class_names: C distinct class names.
        templates: a template-set name, one template, or a list; empty when descriptions
            cover every class.
        descriptions: optional ``{class name: [sentences]}`` (see ``load_descriptions``).
        batch_size: sentences per text-encoder call.

    Returns:
        Unit-norm class embeddings [C, D]; logits are ``exp(logit_scale) * image @ W.T``.
    """
    sentences, owners = class_sentences(class_names, templates, descriptions)
    features = torch.cat(
        [
            clip.encode_text(sentences[start : start + batch_size], normalize=True)
            for start in range(0, len(sentences), batch_size)
        ]
    )  # (N, D)
    index = torch.tensor(owners, device=features.device)
    count = len(check_class_names(class_names))
    sums = features.new_zeros(count, features.shape[-1]).index_add(0, index, features)  # (C, D)
    return F.normalize(sums, dim=-1)
