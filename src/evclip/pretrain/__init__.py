"""Offline pre-training of evclip's small CLIP on rendered digit image-caption pairs.

``evclip pretrain-clip OUT`` runs :func:`evclip.pretrain.train.pretrain`; the result is a Hugging
Face CLIP folder that ``evclip.backbones.load_clip`` reads (shipped as ``evclip-tiny-bench``).
"""
