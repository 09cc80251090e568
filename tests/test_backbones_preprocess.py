"""CLIP preprocessing in torch, and position-embedding interpolation for other input sizes."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from evclip.backbones import OPENAI_MEAN, OPENAI_STD, clip_config, load_clip, preprocess_images
from evclip.backbones.configs import build_random_clip


def _hand_normalise(values: np.ndarray) -> np.ndarray:
    """values: float [..., 3, H, W] in [0, 1]."""
    mean = np.array(OPENAI_MEAN).reshape(3, 1, 1)
    std = np.array(OPENAI_STD).reshape(3, 1, 1)
    return (values - mean) / std


def test_centre_crop_and_normalise_by_hand() -> None:
    image = np.arange(4 * 6 * 3, dtype=np.uint8).reshape(1, 4, 6, 3)  # shorter side already 4
    result = preprocess_images(image, size=4)
    expected = _hand_normalise(image[0, :, 1:5].transpose(2, 0, 1) / 255.0)  # columns 1..4
    np.testing.assert_allclose(result[0].numpy(), expected, rtol=1e-5, atol=1e-5)


def test_resize_keeps_a_constant_image_constant_and_crops_the_long_side() -> None:
    image = np.zeros((2, 30, 90, 3), dtype=np.uint8)
    image[..., 0], image[..., 1], image[..., 2] = 200, 100, 10
    image[:, :, :20] = 255  # a bright stripe on the far left is cropped away
    result = preprocess_images(image, size=16)
    assert result.shape == (2, 3, 16, 16)
    expected = _hand_normalise(np.array([200, 100, 10]).reshape(3, 1, 1) / 255.0)
    np.testing.assert_allclose(result.numpy(), np.broadcast_to(expected, result.shape), atol=1e-4)


def test_layouts_and_array_types_agree_and_input_is_unchanged() -> None:
    rng = np.random.default_rng(0)
    channels_last = rng.integers(0, 256, (2, 3, 20, 28, 3), dtype=np.uint8)  # (B, T, H, W, 3)
    copy = channels_last.copy()
    a = preprocess_images(channels_last, size=12)
    b = preprocess_images(torch.from_numpy(channels_last).permute(0, 1, 4, 2, 3), size=12)
    assert a.shape == (2, 3, 3, 12, 12)
    torch.testing.assert_close(a, b)
    np.testing.assert_array_equal(channels_last, copy)
    floats = preprocess_images(channels_last.astype(np.float32) / 255.0, size=12)
    torch.testing.assert_close(floats, a, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("shape", [(2, 20, 28), (2, 4, 20, 28)])
def test_images_without_three_channels_are_refused(shape) -> None:
    with pytest.raises(ValueError, match="3 channels|3 axes"):
        preprocess_images(np.zeros(shape, dtype=np.uint8), size=8)


def test_backbone_preprocess_uses_model_size_device_and_dtype() -> None:
    clip = load_clip("test_clip_tiny", dtype="bf16")
    pixels = clip.preprocess(np.full((1, 50, 40, 3), 128, dtype=np.uint8))
    assert pixels.shape == (1, 3, clip.image_size, clip.image_size)
    assert pixels.dtype == torch.bfloat16


@pytest.fixture(scope="module")
def clip_224():
    config = clip_config(
        vision_width=64, vision_layers=1, vision_heads=2, patch_size=32, image_size=224,
        text_width=64, text_layers=1, text_heads=2, embed_dim=32,
    )  # fmt: skip
    return build_random_clip(config, seed=3)


def test_336_input_on_a_224_model_interpolates_positions(clip_224, tmp_path) -> None:
    folder = clip_224.save_pretrained(tmp_path / "m224")
    clip = load_clip(folder, image_size=336)
    assert (clip.image_size, clip.pretrain_image_size) == (336, 224)
    pixels = clip.preprocess(np.zeros((2, 260, 346, 3), dtype=np.uint8))  # a DAVIS346 frame
    assert pixels.shape == (2, 3, 336, 336)
    features = clip.encode_image(pixels)
    assert features.shape == (2, 32) and torch.isfinite(features).all()
    assert clip.image_tokens(pixels).shape == (2, 1 + (336 // 32) ** 2, 64)
    saved = load_clip(clip.save_pretrained(tmp_path / "m336"))
    assert saved.image_size == 336, "the input size travels with save_pretrained"


def test_same_size_input_is_unchanged_by_interpolation(clip_224) -> None:
    pixels = torch.randn(2, 3, 224, 224, generator=torch.Generator().manual_seed(0))
    plain = clip_224.vision(pixel_values=pixels).last_hidden_state
    interpolated = clip_224.vision(pixel_values=pixels, interpolate_pos_encoding=True)
    torch.testing.assert_close(clip_224.image_tokens(pixels), clip_224.vision.post_layernorm(plain))
    torch.testing.assert_close(interpolated.last_hidden_state, plain)
