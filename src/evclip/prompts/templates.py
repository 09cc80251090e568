"""Named prompt template sets: CLIP's ImageNet ensemble and the templates the event papers use.

A template holds ``{}`` exactly once, where the class name goes.
"""

from __future__ import annotations

from collections.abc import Sequence

# The 80 ImageNet templates of CLIP's prompt-engineering notebook (Radford et al., 2021).
IMAGENET_TEMPLATES = (
    "a bad photo of a {}.", "a photo of many {}.", "a sculpture of a {}.",
    "a photo of the hard to see {}.", "a low resolution photo of the {}.", "a rendering of a {}.",
    "graffiti of a {}.", "a bad photo of the {}.", "a cropped photo of the {}.",
    "a tattoo of a {}.", "the embroidered {}.", "a photo of a hard to see {}.",
    "a bright photo of a {}.", "a photo of a clean {}.", "a photo of a dirty {}.",
    "a dark photo of the {}.", "a drawing of a {}.", "a photo of my {}.", "the plastic {}.",
    "a photo of the cool {}.", "a close-up photo of a {}.", "a black and white photo of the {}.",
    "a painting of the {}.", "a painting of a {}.", "a pixelated photo of the {}.",
    "a sculpture of the {}.", "a bright photo of the {}.", "a cropped photo of a {}.",
    "a plastic {}.", "a photo of the dirty {}.", "a jpeg corrupted photo of a {}.",
    "a blurry photo of the {}.", "a photo of the {}.", "a good photo of the {}.",
    "a rendering of the {}.", "a {} in a video game.", "a photo of one {}.", "a doodle of a {}.",
    "a close-up photo of the {}.", "a photo of a {}.", "the origami {}.",
    "the {} in a video game.", "a sketch of a {}.", "a doodle of the {}.", "a origami {}.",
    "a low resolution photo of a {}.", "the toy {}.", "a rendition of the {}.",
    "a photo of the clean {}.", "a photo of a large {}.", "a rendition of a {}.",
    "a photo of a nice {}.", "a photo of a weird {}.", "a blurry photo of a {}.",
    "a cartoon {}.", "art of a {}.", "a sketch of the {}.", "a embroidered {}.",
    "a pixelated photo of a {}.", "itap of the {}.", "a jpeg corrupted photo of the {}.",
    "a good photo of a {}.", "a plushie {}.", "a photo of the nice {}.",
    "a photo of the small {}.", "a photo of the weird {}.", "the cartoon {}.",
    "art of the {}.", "a drawing of the {}.", "a photo of the large {}.",
    "a black and white photo of a {}.", "the plushie {}.", "a dark photo of a {}.",
    "itap of a {}.", "graffiti of the {}.", "a toy {}.", "itap of my {}.",
    "a photo of a cool {}.", "a photo of a small {}.", "a tattoo of the {}.",
)  # fmt: skip

# The 7-template subset the same notebook found by greedy selection.
IMAGENET_SELECTED_TEMPLATES = (
    "itap of a {}.", "a bad photo of the {}.", "a origami {}.", "a photo of the large {}.",
    "a {} in a video game.", "art of the {}.", "a photo of the small {}.",
)  # fmt: skip

TEMPLATE_SETS: dict[str, tuple[str, ...]] = {
    "imagenet": IMAGENET_TEMPLATES,
    "imagenet_selected": IMAGENET_SELECTED_TEMPLATES,
    "photo": ("a photo of a {}.",),
    # SAFE's best on PokerEvent, and its "picture" ablation
    "playing_card": ("The content of the playing card is {}.",),
    "picture": ("This is a picture about Picture of {}.",),
    # EventCLIP's zero-shot prompt for grey event images
    "point_cloud": ("a point cloud image of a {}.",),
    # E-CLIP / EventBind's hand-written prompt
    "drafted": ("A drafted image of a {}.",),
    # the bare class name
    "name": ("{}",),
}


def list_template_sets() -> list[str]:
    """Names of the template sets, sorted."""
    return sorted(TEMPLATE_SETS)


def check_template(template: str) -> str:
    """``template`` when it holds ``{}`` exactly once (and no other braces), else ValueError."""
    if not isinstance(template, str) or template.count("{}") != 1:
        raise ValueError(f"template {template!r} must contain '{{}}' exactly once")
    if template.replace("{}", "").count("{") or template.replace("{}", "").count("}"):
        raise ValueError(f"template {template!r} has braces other than the one '{{}}'")
    return template


def get_templates(templates: str | Sequence[str]) -> list[str]:
    """Templates from a set name ("imagenet", "photo", ...) or a list of template strings.

    A string holding ``{}`` is taken as one template; any other string must name a set.
    """
    if isinstance(templates, str):
        if "{}" in templates:
            return [check_template(templates)]
        if templates not in TEMPLATE_SETS:
            known = ", ".join(list_template_sets())
            raise ValueError(f"unknown template set {templates!r}; known: {known}")
        return list(TEMPLATE_SETS[templates])
    return [check_template(template) for template in templates]


def format_prompts(templates: Sequence[str], class_name: str) -> list[str]:
    """Every template filled with ``class_name``."""
    return [template.replace("{}", class_name) for template in templates]
