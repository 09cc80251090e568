"""Captions of the pre-training pairs and the small word-level tokenizer that reads them.

A caption states some of an image's attributes (colour, digit, background) and may add words that
carry nothing (a motion the still image cannot show, a generic prefix such as "an image of"):
those words exist in the benchmark's class names and in the usual prompt templates, so the text
tower must learn to read past them. Captions that leave an attribute out match every image that
agrees on the attributes they do state (see :func:`caption_matches`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from evclip.datasets import synthetic_render as world
from evclip.datasets.synthetic_layout import CAPTION_TEMPLATES

PAD, UNK, BOS, EOS = "<pad>", "<unk>", "<bos>", "<eos>"
SPECIAL_TOKENS = (PAD, UNK, BOS, EOS)  # ids 0..3; EOS must not be 2 (transformers' legacy rule)

# Templates of full captions: the benchmark's own four plus a few phrasings of the same facts.
FULL_TEMPLATES = CAPTION_TEMPLATES + (
    "an image of a {colour} {digit} on {background}",
    "a picture of the {colour} {digit} with {background} behind it",
    "{background} with a {colour} {digit}",
    "a {colour} {digit} moving {motion} over {background}",
)
# Partial captions, leaving out one or two attributes.
PARTIAL_TEMPLATES = (
    "a {colour} {digit}",
    "{prefix} a {colour} {digit}",
    "a {colour} {digit} moving {motion}",
    "a photo of a {digit} on {background}",
    "a handwritten {digit}",
    "the digit {digit}",
    "something {colour} on {background}",
    "a {colour} shape",
)
# Generic prefixes of prompt templates people use with CLIP (carry no information here).
PREFIXES = (
    "a photo of",
    "an image of",
    "a drafted image of",
    "a point cloud image of",
    "the content of the playing card is",
)
MOTION_WORDS = tuple(world.MOTION_DIRECTIONS)
EXTRA_WORDS = ("picture", "number", "event", "camera", "frame", "digits", "and")
PUNCTUATION = (".", ",", "!", "?", ":", ";", "-", "'", '"', "(", ")")


def template_attributes(template: str) -> frozenset[str]:
    """Which attributes (``colour``, ``digit``, ``background``) a template states."""
    return frozenset(a for a in ("colour", "digit", "background") if "{" + a + "}" in template)


@dataclass(frozen=True)
class PairRecord:
    """The attributes of one rendered image."""

    colour: str
    digit: int
    background: str  # a key of ``synthetic_render.BACKGROUNDS`` (e.g. "moon")

    def key(self, attribute: str) -> str:
        """The value of one attribute as a string."""
        return str(getattr(self, attribute))


def format_caption(
    template: str, record: PairRecord, motion: str = "left", prefix: str = "a photo of"
) -> str:
    """Fill a template with the words of ``record`` (digit names, background words)."""
    return template.format(
        colour=record.colour,
        digit=world.DIGIT_WORDS[record.digit],
        background=world.BACKGROUNDS[record.background],
        motion=motion,
        prefix=prefix,
    )


def caption_matches(
    stated: list[frozenset[str]], texts: list[PairRecord], images: list[PairRecord]
) -> np.ndarray:
    """bool [N_text, N_image]: text i describes image j (every attribute it states agrees)."""
    match = np.ones((len(texts), len(images)), dtype=bool)
    for attribute in ("colour", "digit", "background"):
        said = np.array([attribute in s for s in stated])
        text_values = np.array([r.key(attribute) for r in texts])
        image_values = np.array([r.key(attribute) for r in images])
        agree = text_values[:, None] == image_values[None, :]
        match &= agree | ~said[:, None]
    return match


def vocabulary(colours, digits) -> list[str]:
    """Every word the tokenizer knows, specials first, in a fixed order."""
    words: list[str] = []
    phrases = list(FULL_TEMPLATES + PARTIAL_TEMPLATES + PREFIXES) + list(EXTRA_WORDS)
    phrases += list(colours) + [world.DIGIT_WORDS[d] for d in digits]
    phrases += list(world.COLOUR_HUES) + list(world.DIGIT_WORDS)
    phrases += list(world.BACKGROUNDS.values()) + list(MOTION_WORDS) + list(PUNCTUATION)
    for phrase in phrases:
        for word in split_words(phrase):
            if not word.startswith("{") and word not in words:
                words.append(word)
    return list(SPECIAL_TOKENS) + words


def split_words(text: str) -> list[str]:
    """Lower-case words and punctuation marks, as the tokenizer splits them (templates kept)."""
    import re

    return re.findall(r"\{\w+\}|\w+|[^\w\s]", text.lower())


def build_tokenizer(words: list[str], context_length: int):
    """A transformers ``PreTrainedTokenizerFast`` over a word-level ``tokenizers`` model.

    Lower-cases, splits on whitespace and punctuation, wraps every text in BOS ... EOS, truncates
    to ``context_length`` tokens (keeping the EOS) and pads with PAD.
    """
    from tokenizers import Tokenizer, normalizers, pre_tokenizers, processors
    from tokenizers.models import WordLevel
    from transformers import PreTrainedTokenizerFast

    vocab = {word: i for i, word in enumerate(words)}
    for i, special in enumerate(SPECIAL_TOKENS):
        if vocab.get(special) != i:
            raise ValueError(f"vocabulary must start with {SPECIAL_TOKENS}")
    core = Tokenizer(WordLevel(vocab, unk_token=UNK))
    core.normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.Lowercase()])
    core.pre_tokenizer = pre_tokenizers.Whitespace()  # \w+ runs and punctuation runs
    core.post_processor = processors.TemplateProcessing(
        single=f"{BOS} $A {EOS}", special_tokens=[(BOS, vocab[BOS]), (EOS, vocab[EOS])]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=core,
        bos_token=BOS,
        eos_token=EOS,
        pad_token=PAD,
        unk_token=UNK,
        model_max_length=context_length,
        padding_side="right",
        truncation_side="right",
        model_input_names=["input_ids", "attention_mask"],
    )


def tokenize(tokenizer, texts: list[str], context_length: int):
    """LongTensor [B, context_length] of ids; a truncated text still ends in EOS."""
    import torch

    batch = tokenizer(texts, padding="max_length", truncation=True, max_length=context_length)
    ids = torch.tensor(batch["input_ids"], dtype=torch.long)
    lengths = torch.tensor([sum(m) for m in batch["attention_mask"]])
    ids[torch.arange(len(texts)), lengths - 1] = tokenizer.eos_token_id  # EOS survives truncation
    return ids


def save_tokenizer(tokenizer, folder: str | Path) -> None:
    """Write ``tokenizer.json``, ``tokenizer_config.json`` and the special tokens map."""
    tokenizer.save_pretrained(str(folder))
