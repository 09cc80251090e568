"""evclip: pattern recognition from event cameras and RGB frames with vision-language models."""

__version__ = "0.1.0"
