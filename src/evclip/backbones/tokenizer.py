"""Text tokenizers for CLIP: OpenAI's BPE (offline, instant-clip-tokenizer) or a model folder's own.

Both produce the same layout: ``[bos] tokens... [eos] pad...`` in a LongTensor [B, L]; the text
tower pools at the first ``eos`` of each row, so ``eos_id`` must be the id the tokenizer writes.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import torch

from evclip.backbones.errors import BackboneError

TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json")


class ClipTokenizer(Protocol):
    """What the backbone needs from a tokenizer."""

    kind: str
    bos_id: int | None
    eos_id: int
    pad_id: int

    def encode(self, text: str) -> list[int]:
        """Token ids of ``text`` without special tokens."""
        ...


class OpenAIBPETokenizer:
    """OpenAI's CLIP BPE (vocabulary 49408) via instant-clip-tokenizer; pads with 0 as OpenAI."""

    kind = "openai-bpe"
    vocab_size = 49408

    def __init__(self) -> None:
        from instant_clip_tokenizer import Tokenizer

        self._tokenizer = Tokenizer()
        self.bos_id = 49406
        self.eos_id = 49407
        self.pad_id = 0

    def encode(self, text: str) -> list[int]:
        return list(self._tokenizer.encode(text.lower()))


class HFTokenizer:
    """A Hugging Face tokenizer saved in a model folder (tokenizer.json / tokenizer_config.json)."""

    kind = "hf"

    def __init__(self, tokenizer) -> None:
        self._tokenizer = tokenizer
        if len(tokenizer) < 4:  # e.g. a CLIPTokenizer built without its vocabulary files
            raise BackboneError(
                f"tokenizer {tokenizer.name_or_path!r} has only {len(tokenizer)} entries; its "
                f"vocabulary files are missing or unreadable"
            )
        self.bos_id = tokenizer.bos_token_id
        eos = tokenizer.eos_token_id
        if eos is None:
            raise BackboneError(f"tokenizer {tokenizer.name_or_path!r} defines no eos token")
        self.eos_id = int(eos)
        pad = tokenizer.pad_token_id
        self.pad_id = int(pad) if pad is not None else self.eos_id
        self.vocab_size = len(tokenizer)

    @classmethod
    def from_folder(cls, folder: str | Path) -> HFTokenizer:
        from transformers import AutoTokenizer

        try:
            return cls(AutoTokenizer.from_pretrained(str(folder)))
        except (OSError, ValueError) as error:
            raise BackboneError(f"cannot read the tokenizer in {folder}: {error}") from error

    def encode(self, text: str) -> list[int]:
        return list(self._tokenizer.encode(text, add_special_tokens=False))

    def save_pretrained(self, folder: str | Path) -> None:
        self._tokenizer.save_pretrained(str(folder))


def default_tokenizer(vocab_size: int, where: str) -> OpenAIBPETokenizer:
    """OpenAI's BPE for a model without tokenizer files; an error when the vocabulary differs."""
    if vocab_size != OpenAIBPETokenizer.vocab_size:
        raise BackboneError(
            f"{where} has no tokenizer files (tokenizer.json) and its vocabulary ({vocab_size}) is "
            f"not OpenAI's ({OpenAIBPETokenizer.vocab_size}); save the tokenizer beside the model"
        )
    return OpenAIBPETokenizer()


def has_tokenizer_files(folder: str | Path) -> bool:
    """True when ``folder`` carries a Hugging Face tokenizer."""
    return any((Path(folder) / name).is_file() for name in TOKENIZER_FILES)


def tokenize(tokenizer: ClipTokenizer, texts: Sequence[str], context_length: int) -> torch.Tensor:
    """Token ids [B, context_length]: bos, the text's tokens (truncated), eos, then pad ids.

    Args:
        tokenizer: the model's tokenizer.
        texts: the sentences.
        context_length: L, the text tower's number of positions.

    Returns:
        LongTensor [B, L]; every row holds exactly one eos.
    """
    if isinstance(texts, str):
        raise TypeError("tokenize takes a list of strings, not one string")
    prefix = [] if tokenizer.bos_id is None else [tokenizer.bos_id]
    room = context_length - len(prefix) - 1
    ids = torch.full((len(texts), context_length), tokenizer.pad_id, dtype=torch.long)
    for row, text in enumerate(texts):
        tokens = [*prefix, *tokenizer.encode(text)[:room], tokenizer.eos_id]
        ids[row, : len(tokens)] = torch.tensor(tokens, dtype=torch.long)
    return ids


def eos_positions(ids: torch.Tensor, eos_id: int) -> torch.Tensor:
    """Index of the first ``eos_id`` in each row of ids [B, L] -> [B]; error when a row has none."""
    is_eos = ids == eos_id
    if not bool(is_eos.any(dim=-1).all()):
        raise BackboneError(f"every token row must contain the end-of-text id {eos_id}")
    return is_eos.int().argmax(dim=-1)
