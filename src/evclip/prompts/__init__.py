"""Prompts for CLIP: named template sets, per-class description files, the zero-shot classifier
(template x class -> normalised mean embedding) and learnable context (CoOp with the KgCoOp term).

Takes a backbone, returns tensors; knows nothing about events.
"""

from evclip.prompts.classifier import check_class_names, class_sentences, zero_shot_classifier
from evclip.prompts.coop import PromptLearner, kgcoop_loss
from evclip.prompts.descriptions import DescriptionError, load_descriptions
from evclip.prompts.templates import (
    IMAGENET_TEMPLATES,
    TEMPLATE_SETS,
    format_prompts,
    get_templates,
    list_template_sets,
)

__all__ = [
    "IMAGENET_TEMPLATES",
    "TEMPLATE_SETS",
    "DescriptionError",
    "PromptLearner",
    "check_class_names",
    "class_sentences",
    "format_prompts",
    "get_templates",
    "kgcoop_loss",
    "list_template_sets",
    "load_descriptions",
    "zero_shot_classifier",
]
