"""CLIP backbones behind one interface: ``load_clip`` -> ``ClipBackbone``.

Nothing here knows about events or classes. Weights come from registered tiny configurations,
Hugging Face hub ids and folders, OpenAI ``.pt`` files and open_clip checkpoints.
"""

from evclip.backbones.clip import ClipBackbone
from evclip.backbones.configs import CLIP_MODELS, clip_config, list_clip_models
from evclip.backbones.errors import BackboneError, BackboneNotFoundError
from evclip.backbones.loading import load_clip, parse_dtype
from evclip.backbones.preprocess import OPENAI_MEAN, OPENAI_STD, preprocess_images

__all__ = [
    "CLIP_MODELS",
    "OPENAI_MEAN",
    "OPENAI_STD",
    "BackboneError",
    "BackboneNotFoundError",
    "ClipBackbone",
    "clip_config",
    "list_clip_models",
    "load_clip",
    "parse_dtype",
    "preprocess_images",
]
