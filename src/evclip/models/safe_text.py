"""SAFE's class tokens: one token per class in CLIP's joint space, from the class names.

Three sources, one interface (``tokens, terms = source(clip)`` with tokens [C, D]):

- ``"text"``: every template (and every description sentence) of a class through CLIP's text
  tower, normalised, averaged, normalised again (the zero-shot classifier recipe). When the text
  tower is frozen the result is computed once and cached (cleared by ``set_classes`` and by
  loading a state dict); when it is trainable it is recomputed, with gradients, once per call.
- ``"coop"``: CoOp learnable context (``evclip.prompts.PromptLearner``) plus the KgCoOp term
  that keeps the learned class embeddings near the hand-written ones (``terms["kgcoop"]``).
- ``"learned"``: one free vector per class, no language at all (the paper's "without semantic
  class information" ablation); new class names get new, untrained vectors.

The source does not own the CLIP module (the model does); it is passed in at every call, so
CLIP's weights appear once in the model's state dict.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from evclip.prompts import (
    PromptLearner,
    check_class_names,
    class_sentences,
    get_templates,
    kgcoop_loss,
    load_descriptions,
)

#: The general prompt the paper tried ("A photo of a {}": 56.29 on PokerEvent); a named set of
#: :mod:`evclip.prompts` ("playing_card" was the paper's best on PokerEvent, "name" = no prompt).
DEFAULT_TEMPLATES = "photo"


def resolve_descriptions(
    descriptions: str | Path | Mapping[str, Sequence[str]] | None,
) -> dict[str, list[str]] | None:
    """Per-class sentences from a file (``evclip.prompts.load_descriptions``) or a mapping."""
    if descriptions is None:
        return None
    if isinstance(descriptions, (str, Path)):
        return load_descriptions(descriptions)
    return {str(k): [str(s) for s in v] for k, v in descriptions.items()}


def ensemble_embeddings(clip: nn.Module, ids: torch.Tensor, owners: torch.Tensor) -> torch.Tensor:
    """Normalised mean of the normalised text embeddings of each class's sentences.

    The recipe of :func:`evclip.prompts.zero_shot_classifier`, on token ids made once (so a
    trainable text tower costs no tokenising per step).

    Args:
        clip: the backbone (``encode_text`` takes token ids).
        ids: token ids [S, L] of all sentences.
        owners: class index of each sentence [S].

    Returns:
        [C, D], differentiable with respect to the text tower.
    """
    embeddings = F.normalize(clip.encode_text(ids).float(), dim=-1)  # (S, D)
    count = int(owners.max()) + 1
    sums = embeddings.new_zeros(count, embeddings.shape[-1]).index_add(0, owners, embeddings)
    return F.normalize(sums, dim=-1)  # (C, D)


def _text_trainable(clip: nn.Module) -> bool:
    modules = (clip.text, clip.model.text_projection)
    return any(p.requires_grad for m in modules for p in m.parameters())


class SafeClassTokens(nn.Module):
    """One token per class in the joint space [C, D]; see the module docstring for the sources.

    Args:
        clip: the backbone (used here to tokenise and to size things; not kept).
        names: the class names.
        use_text: class tokens from the text tower (else ``"learned"`` tokens).
        templates: template set name, one template, or a list (empty when the descriptions
            cover every class).
        descriptions: per-class sentences (file path or mapping) added to the templates.
        learnable_context: CoOp context length; 0 = hand-written prompts only.
        context_init: phrase initialising the CoOp context (its token count then sets the
            length); None draws ``learnable_context`` random vectors.
        seed: seed of the random CoOp context.
    """

    def __init__(
        self,
        clip: nn.Module,
        names: Sequence[str],
        *,
        use_text: bool = True,
        templates: str | Sequence[str] = DEFAULT_TEMPLATES,
        descriptions: str | Path | Mapping[str, Sequence[str]] | None = None,
        learnable_context: int = 0,
        context_init: str | None = None,
        seed: int = 0,
    ) -> None:
        super().__init__()
        if learnable_context < 0:
            raise ValueError(f"learnable_context must be >= 0, got {learnable_context}")
        if learnable_context and not use_text:
            raise ValueError("learnable_context needs use_text=True (it is a text prompt)")
        self.mode = "learned" if not use_text else "coop" if learnable_context else "text"
        self.templates = get_templates(templates) if templates else []
        self.descriptions = resolve_descriptions(descriptions)
        self.learnable_context = int(learnable_context)
        self.context_init = context_init
        self.seed = int(seed)
        self.embed_dim = int(clip.embed_dim)
        self.class_names: list[str] = []
        self.learned: nn.Parameter | None = None
        self.prompt_learner: nn.Module | None = None
        self.register_buffer("ids", torch.zeros(0, 0, dtype=torch.long), persistent=False)
        self.register_buffer("owners", torch.zeros(0, dtype=torch.long), persistent=False)
        self._cache: torch.Tensor | None = None
        self.set_classes(names, clip)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def clear(self) -> None:
        """Forget the cached text embeddings (weights or classes changed)."""
        self._cache = None

    def set_classes(self, names: Sequence[str], clip: nn.Module) -> None:
        """Rebuild everything that depends on the class names."""
        names = check_class_names(names)
        if self.mode == "learned":
            self._set_learned(names)
        else:
            sentences, owners = class_sentences(names, self.templates, self.descriptions)
            self.ids = clip.tokenize(sentences)  # (S, L)
            self.owners = torch.tensor(owners, device=self.ids.device)  # (S,)
        if self.mode == "coop":
            self._set_prompt_learner(names, clip)
        self.class_names = names
        self.clear()

    def _set_learned(self, names: list[str]) -> None:
        if names == self.class_names:
            return
        if self.learned is not None:
            warnings.warn(
                "safe without text: new class names get new, untrained class tokens",
                stacklevel=3,
            )
        device = self.ids.device
        self.learned = nn.Parameter(torch.randn(len(names), self.embed_dim, device=device) * 0.02)

    def _set_prompt_learner(self, names: list[str], clip: nn.Module) -> None:
        if self.prompt_learner is not None:
            self.prompt_learner.set_classes(names)  # the learned context is kept
            return
        if self.context_init:
            count = len(clip.tokenizer.encode(self.context_init))
            if count != self.learnable_context:
                raise ValueError(
                    f"context_init {self.context_init!r} has {count} tokens but "
                    f"learnable_context={self.learnable_context}; make them agree"
                )
        self.prompt_learner = PromptLearner(
            clip,
            names,
            context_init=self.context_init,
            n_ctx=self.learnable_context,
            seed=self.seed,
        )

    def _handcrafted(self, clip: nn.Module) -> torch.Tensor:
        """The template/description ensemble [C, D]; cached while the text tower is frozen."""
        if _text_trainable(clip):
            self._cache = None
            return ensemble_embeddings(clip, self.ids, self.owners)
        cache = self._cache
        if cache is None or cache.device != self.ids.device:
            with torch.no_grad(), torch.autocast(self.ids.device.type, enabled=False):
                cache = ensemble_embeddings(clip, self.ids, self.owners)
            self._cache = cache
        return cache

    def forward(self, clip: nn.Module) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Class tokens [C, D] and extra loss terms (``{"kgcoop": ...}`` with CoOp context)."""
        if self.mode == "learned":
            return self.learned, {}
        if self.mode == "text":
            return self._handcrafted(clip), {}
        learned = self.prompt_learner()  # (C, D), normalised
        with torch.no_grad():
            reference = self._handcrafted(clip)
        return learned, {"kgcoop": kgcoop_loss(learned, reference)}
