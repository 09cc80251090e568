"""Learnable prompt context (CoOp) and the KgCoOp term keeping it near the hand-written prompt.

The prompt of class c is ``[bos] ctx_1 ... ctx_n <class name tokens> . [eos] pad...``: the n
context vectors are learned word embeddings shared by all classes, the rest are the text
tower's own word embeddings; the text tower pools at the eos position as usual.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from evclip.prompts.classifier import check_class_names


class PromptLearner(nn.Module):
    """CoOp context vectors over a ``ClipBackbone`` (the backbone is referenced, not owned).

    Args:
        clip: the backbone whose text tower encodes the prompts.
        class_names: the classes; ``set_classes`` changes them and keeps the context.
        context_init: phrase whose word embeddings initialise the context ("a photo of a");
            its token count sets ``n_ctx``. None draws ``n_ctx`` vectors from N(0, 0.02^2).
        n_ctx: number of context vectors when ``context_init`` is None.
        seed: seed of the random initialisation (global RNG untouched).
    """

    def __init__(
        self,
        clip,
        class_names: Sequence[str],
        *,
        context_init: str | None = "a photo of a",
        n_ctx: int = 4,
        seed: int = 0,
    ) -> None:
        super().__init__()
        self._clip = (clip,)  # a tuple keeps the backbone out of this module's parameters
        self.context_init = context_init
        tokenizer = clip.tokenizer
        if context_init:
            self._ctx_ids = tokenizer.encode(context_init)
            if not self._ctx_ids:
                raise ValueError(f"context_init {context_init!r} has no tokens")
            with torch.no_grad():
                ids = torch.tensor(self._ctx_ids, device=clip.device)
                init = clip.token_embedding(ids).float().clone()  # (n_ctx, Wt)
        else:
            if n_ctx < 1:
                raise ValueError(f"n_ctx must be at least 1, got {n_ctx}")
            placeholder = (tokenizer.encode("x") or [0])[0]
            self._ctx_ids = [placeholder] * n_ctx
            generator = torch.Generator().manual_seed(seed)
            init = 0.02 * torch.randn(n_ctx, clip.text_width, generator=generator)
        self.ctx = nn.Parameter(init.to(device=clip.device))  # (n_ctx, Wt)
        self.class_names: list[str] = []
        self.register_buffer("token_ids", torch.zeros(0, dtype=torch.long), persistent=False)
        self.set_classes(class_names)

    @property
    def clip(self):
        return self._clip[0]

    @property
    def n_ctx(self) -> int:
        return self.ctx.shape[0]

    def set_classes(self, class_names: Sequence[str]) -> None:
        """Builds the prompt token ids [C, L] for new class names; the context is kept."""
        names = check_class_names(class_names)
        tokenizer = self.clip.tokenizer
        length = self.clip.context_length
        prefix = [] if tokenizer.bos_id is None else [tokenizer.bos_id]
        self._ctx_start = len(prefix)
        room = length - len(prefix) - self.n_ctx - 1
        if room < 1:
            raise ValueError(f"{self.n_ctx} context vectors leave no room in {length} positions")
        ids = torch.full((len(names), length), tokenizer.pad_id, dtype=torch.long)
        for row, name in enumerate(names):
            tokens = [
                *prefix,
                *self._ctx_ids,
                *tokenizer.encode(f"{name}.")[:room],
                tokenizer.eos_id,
            ]
            ids[row, : len(tokens)] = torch.tensor(tokens)
        self.class_names = names
        self.token_ids = ids.to(self.ctx.device)

    def prompt_embeddings(self, ctx_shift: torch.Tensor | None = None) -> torch.Tensor:
        """Word embeddings of the prompts with the context inserted.

        Args:
            ctx_shift: optional per-sample offsets [B, n_ctx or 1, Wt] added to the context
                (CoCoOp-style conditioning).

        Returns:
            [C, L, Wt], or [B, C, L, Wt] with ``ctx_shift``.
        """
        words = self.clip.token_embedding(self.token_ids)  # (C, L, Wt)
        start, stop = self._ctx_start, self._ctx_start + self.n_ctx
        ctx = self.ctx.to(words.dtype)
        if ctx_shift is None:
            ctx = ctx.expand(words.shape[0], -1, -1)  # (C, n, Wt)
            return torch.cat([words[:, :start], ctx, words[:, stop:]], dim=1)
        batch = ctx_shift.shape[0]
        ctx = (ctx + ctx_shift.to(words.dtype))[:, None].expand(-1, words.shape[0], self.n_ctx, -1)
        words = words.expand(batch, -1, -1, -1)  # (B, C, L, Wt)
        return torch.cat([words[:, :, :start], ctx, words[:, :, stop:]], dim=2)

    def forward(
        self, ctx_shift: torch.Tensor | None = None, normalize: bool = True
    ) -> torch.Tensor:
        """Text features of the learned prompts: [C, D], or [B, C, D] with ``ctx_shift``."""
        embeds = self.prompt_embeddings(ctx_shift)
        if ctx_shift is None:
            return self.clip.encode_text_embeddings(embeds, self.token_ids, normalize=normalize)
        batch, classes = embeds.shape[:2]
        ids = self.token_ids.repeat(batch, 1)  # (B*C, L)
        flat = self.clip.encode_text_embeddings(embeds.flatten(0, 1), ids, normalize=normalize)
        return flat.view(batch, classes, -1)

    @torch.no_grad()
    def handwritten_features(self, template: str | None = None) -> torch.Tensor:
        """Normalised features [C, D] of the hand-written prompt (for ``kgcoop_loss``).

        Args:
            template: a template with ``{}``; by default ``"<context_init> {}."`` (or
                "a photo of a {}." when the context was random).
        """
        if template is None:
            template = f"{self.context_init or 'a photo of a'} {{}}."
        texts = [template.replace("{}", name) for name in self.class_names]
        return self.clip.encode_text(texts, normalize=True)


def kgcoop_loss(learned: torch.Tensor, handwritten: torch.Tensor) -> torch.Tensor:
    """KgCoOp's knowledge-guided term: mean squared L2 distance between normalised features.

    Args:
        learned: learned-prompt text features [..., C, D].
        handwritten: hand-written-prompt text features [C, D] (broadcast over leading axes).

    Returns:
        Scalar: mean over classes (and leading axes) of ||l/|l| - h/|h|||^2.
    """
    difference = F.normalize(learned, dim=-1) - F.normalize(handwritten, dim=-1).detach()
    return difference.pow(2).sum(dim=-1).mean()
