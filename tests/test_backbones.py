"""ClipBackbone on the registered tiny configuration: shapes, text pooling, saving, errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from evclip.backbones import BackboneError, BackboneNotFoundError, ClipBackbone, load_clip


@pytest.fixture(scope="module")
def clip() -> ClipBackbone:
    return load_clip("test_clip_tiny")


def test_tiny_clip_shapes(clip: ClipBackbone) -> None:
    images = np.random.default_rng(0).integers(0, 256, (3, 40, 50, 3), dtype=np.uint8)
    pixels = clip.preprocess(images)
    assert pixels.shape == (3, 3, clip.image_size, clip.image_size)
    assert pixels.dtype == torch.float32
    assert clip.encode_image(pixels).shape == (3, clip.embed_dim)
    tokens = clip.image_tokens(pixels)
    grid = clip.image_size // clip.patch_size
    assert tokens.shape == (3, 1 + grid * grid, clip.vision_width)
    assert clip.project_image_tokens(tokens).shape == (3, 1 + grid * grid, clip.embed_dim)
    # the projected CLS token is the image embedding
    torch.testing.assert_close(clip.project_image_tokens(tokens)[:, 0], clip.encode_image(pixels))
    assert clip.encode_text(["a photo of a cat", "a dog"]).shape == (2, clip.embed_dim)
    assert clip.logit_scale.ndim == 0
    assert (clip.embed_dim, clip.vision_width, clip.text_width) == (64, 64, 64)


def test_seeded_init_is_reproducible(clip: ClipBackbone) -> None:
    again = load_clip("test_clip_tiny")
    assert again.digest() == clip.digest()
    before = torch.rand(1)
    torch.manual_seed(123)
    expected = torch.rand(1)
    torch.manual_seed(123)
    load_clip("test_clip_tiny")
    assert torch.equal(torch.rand(1), expected), "loading must not consume the global RNG"
    assert before.shape == (1,)


def test_text_features_match_transformers_and_differ(clip: ClipBackbone) -> None:
    texts = ["a photo of a cat", "a drafted image of a dog", "seven"]
    ids = clip.tokenize(texts)
    assert ids.shape == (3, clip.context_length)
    assert (ids == clip.tokenizer.eos_id).sum(dim=1).tolist() == [1, 1, 1]
    ours = clip.encode_text(texts)
    output = clip.model.get_text_features(input_ids=ids)
    reference = getattr(output, "pooler_output", output)
    torch.testing.assert_close(ours, reference)
    assert (ours[0] - ours[1]).abs().max() > 1e-3
    assert (ours[0] - ours[2]).abs().max() > 1e-3
    normalised = clip.encode_text(texts, normalize=True)
    torch.testing.assert_close(normalised.norm(dim=-1), torch.ones(3))


def test_save_pretrained_round_trip(clip: ClipBackbone, tmp_path) -> None:
    folder = clip.save_pretrained(tmp_path / "tiny")
    loaded = load_clip(folder)
    assert loaded.digest() == clip.digest()
    pixels = torch.randn(2, 3, clip.image_size, clip.image_size)
    torch.testing.assert_close(loaded.encode_image(pixels), clip.encode_image(pixels))
    torch.testing.assert_close(loaded.encode_text(["a cat"]), clip.encode_text(["a cat"]))


def test_missing_model_errors_name_it(tmp_path) -> None:
    with pytest.raises(BackboneNotFoundError, match="no_such_model"):
        load_clip("no_such_model")
    missing = tmp_path / "absent" / "ViT-B-16.pt"
    with pytest.raises(FileNotFoundError, match="ViT-B-16.pt"):
        load_clip(missing)
    with pytest.raises(BackboneError, match="ViT-B-99"):
        load_clip("ViT-B-99")  # neither registered, nor a file, nor a hub id (no network tried)
