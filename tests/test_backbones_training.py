"""Every registered tiny CLIP trains (forward/backward, no NaN, every trainable parameter gets a
gradient); freezing policies, dtypes, digest, folder tokenizers and the shipped tiny CLIP."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from evclip.backbones import (
    BackboneError,
    BackboneNotFoundError,
    clip_config,
    list_clip_models,
    load_clip,
)
from evclip.backbones.configs import build_random_clip
from evclip.backbones.tokenizer import HFTokenizer

TINY = list_clip_models("test_")


def _contrastive_loss(clip, pixels, texts) -> torch.Tensor:
    image = clip.encode_image(pixels, normalize=True)
    text = clip.encode_text(texts, normalize=True)
    logits = clip.logit_scale.exp() * image @ text.t()
    target = torch.arange(len(texts))
    return (F.cross_entropy(logits, target) + F.cross_entropy(logits.t(), target)) / 2


def test_tiny_configs_are_registered() -> None:
    assert "test_clip_tiny" in TINY and len(TINY) >= 2
    assert "evclip-tiny-bench" in list_clip_models()


@pytest.mark.parametrize("name", TINY)
def test_every_tiny_clip_trains(name: str) -> None:
    clip = load_clip(name).train()
    pixels = torch.randn(3, 3, clip.image_size, clip.image_size)
    loss = _contrastive_loss(clip, pixels, ["a red seven", "a blue two", "a green nine"])
    assert torch.isfinite(loss)
    loss.backward()
    for parameter_name, parameter in clip.named_parameters():
        assert parameter.requires_grad, parameter_name
        assert parameter.grad is not None, f"{name}: {parameter_name} got no gradient"
        assert torch.isfinite(parameter.grad).all(), f"{name}: {parameter_name} gradient not finite"
        assert parameter.grad.abs().sum() > 0, f"{name}: {parameter_name} gradient is zero"


def _trainable(clip) -> set[str]:
    return {name for name, p in clip.model.named_parameters() if p.requires_grad}


def test_freeze_policies() -> None:
    clip = load_clip("test_clip_tiny")
    every = {name for name, _ in clip.model.named_parameters()}
    assert _trainable(clip) == every, "load_clip leaves everything trainable"
    assert _trainable(clip.freeze("all")) == set()
    assert _trainable(clip.freeze("none")) == every
    bias = _trainable(clip.freeze("bias"))
    assert bias and all(name.endswith("bias") for name in bias)
    assert bias == {name for name in every if name.endswith("bias")}
    norms = _trainable(clip.freeze("layernorm"))
    assert norms and all("norm" in name for name in norms)
    assert (
        "vision_model.pre_layrnorm.weight" in norms and "text_model.final_layer_norm.bias" in norms
    )
    last = _trainable(clip.freeze("last:1"))
    assert "vision_model.encoder.layers.1.mlp.fc1.weight" in last
    assert "text_model.encoder.layers.1.self_attn.q_proj.weight" in last
    assert not any(".layers.0." in name for name in last)
    assert {"visual_projection.weight", "text_projection.weight"} <= last
    assert "logit_scale" not in last and "vision_model.embeddings.class_embedding" not in last


def test_freeze_one_tower_leaves_the_other() -> None:
    clip = load_clip("test_clip_tiny").freeze("all").freeze("last:2", tower="vision")
    trainable = _trainable(clip)
    assert trainable and all(
        n.startswith(("vision_model.", "visual_projection")) for n in trainable
    )
    clip.freeze("none").freeze("all", tower="text")
    trainable = _trainable(clip)
    assert not any(n.startswith(("text_model.", "text_projection")) for n in trainable)
    assert "vision_model.embeddings.patch_embedding.weight" in trainable


@pytest.mark.parametrize("policy", ["some", "last:x", "last:3", "last:-1"])
def test_bad_freeze_policies(policy: str) -> None:
    with pytest.raises(BackboneError, match="freeze policy|K"):
        load_clip("test_clip_tiny").freeze(policy)
    with pytest.raises(BackboneError, match="tower"):
        load_clip("test_clip_tiny").freeze("all", tower="audio")


@pytest.mark.parametrize("dtype", [torch.bfloat16, "fp16", "fp32"])
def test_dtypes(dtype) -> None:
    clip = load_clip("test_clip_tiny", dtype=dtype)
    expected = (
        dtype
        if isinstance(dtype, torch.dtype)
        else {"fp16": torch.float16}.get(dtype, torch.float32)
    )
    assert {p.dtype for p in clip.parameters()} == {expected}
    with torch.no_grad():
        image = clip.encode_image(clip.preprocess(torch.zeros(2, 40, 40, 3, dtype=torch.uint8)))
        text = clip.encode_text(["a cat", "a dog"])
    assert image.dtype == text.dtype == expected
    assert torch.isfinite(image).all() and torch.isfinite(text).all()
    reference = load_clip("test_clip_tiny").encode_text(["a cat", "a dog"])
    torch.testing.assert_close(text.float(), reference, atol=0.1, rtol=0.05)
    with pytest.raises(BackboneError, match="int8"):
        load_clip("test_clip_tiny", dtype="int8")


def test_digest_follows_weights_and_preprocessing() -> None:
    clip = load_clip("test_clip_tiny")
    first = clip.digest()
    assert len(first) == 16 and clip.digest() == first
    with torch.no_grad():
        clip.model.visual_projection.weight.add_(1e-3)  # an optimiser step is in place too
    second = clip.digest()
    assert second != first
    clip.image_size = 48
    assert clip.digest() != second
    assert load_clip("test_clip_tiny").digest() == first


def test_folder_with_its_own_small_vocabulary_tokenizer(tmp_path) -> None:
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    words = ["<pad>", "<bos>", "<eos>", "<unk>", "a", "photo", "of", "red", "blue", "seven", "two"]
    core = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=core,
        pad_token="<pad>",
        bos_token="<bos>",
        eos_token="<eos>",
        unk_token="<unk>",
    )
    config = clip_config(
        vision_width=64, vision_layers=1, vision_heads=2, patch_size=8, image_size=16,
        text_width=64, text_layers=1, text_heads=2, embed_dim=32, vocab_size=len(words),
        context_length=12, bos_id=1, eos_id=2, pad_id=0,
    )  # fmt: skip
    clip = build_random_clip(config, seed=5, tokenizer=HFTokenizer(tokenizer))
    loaded = load_clip(clip.save_pretrained(tmp_path / "small"))
    assert loaded.tokenizer.kind == "hf"
    ids = loaded.tokenize(["a photo of seven", "a photo of two"])
    assert ids[0].tolist()[:6] == [1, 4, 5, 6, 9, 2] and ids[0, 6:].eq(0).all()
    features = loaded.encode_text(["a photo of seven", "a photo of two", "red"])
    assert (features[0] - features[1]).abs().max() > 1e-3
    assert (features[0] - features[2]).abs().max() > 1e-3
    torch.testing.assert_close(
        features, clip.encode_text(["a photo of seven", "a photo of two", "red"])
    )


def test_folder_without_tokenizer_and_small_vocabulary_is_refused(tmp_path) -> None:
    config = clip_config(
        vision_width=64, vision_layers=1, vision_heads=2, patch_size=8, image_size=16,
        text_width=64, text_layers=1, text_heads=2, embed_dim=32, vocab_size=50,
        context_length=12, bos_id=1, eos_id=2, pad_id=0,
    )  # fmt: skip
    from transformers import CLIPModel

    folder = tmp_path / "no_tokenizer"
    CLIPModel(config).save_pretrained(str(folder))
    with pytest.raises(BackboneError, match="no tokenizer files"):
        load_clip(folder)


def test_shipped_tiny_clip_missing_says_how_to_build(monkeypatch, tmp_path) -> None:
    from evclip.backbones import configs

    monkeypatch.setattr(configs, "PRETRAINED_DIR", tmp_path)
    with pytest.raises(BackboneNotFoundError, match="evclip pretrain-clip"):
        load_clip("evclip-tiny-bench")


def test_hub_id_offline_gives_one_clear_error(monkeypatch) -> None:
    import huggingface_hub.constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(BackboneNotFoundError) as caught:
        load_clip("someone/clip-that-is-not-cached")
    message = str(caught.value)
    assert "someone/clip-that-is-not-cached" in message and "network" in message
    assert "local folder" in message
    assert caught.value.__cause__ is None, "no traceback from inside huggingface_hub"
    with pytest.raises(FileNotFoundError):
        load_clip("someone/clip-that-is-not-cached")


def test_hub_id_read_from_the_local_cache(monkeypatch, tmp_path) -> None:
    import huggingface_hub.constants

    clip = load_clip("test_clip_tiny", image_size=40)
    repo = tmp_path / "hub" / "models--evclip-test--tiny-clip"
    clip.save_pretrained(repo / "snapshots" / "0123abcd")
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("0123abcd")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    loaded = load_clip("evclip-test/tiny-clip")
    assert loaded.name == "evclip-test/tiny-clip"
    assert loaded.image_size == 40, "preprocessor_config.json read from the snapshot"
    assert loaded.tokenizer.kind == "openai-bpe"
    assert loaded.digest() == clip.digest()


def test_a_tokenizer_without_vocabulary_is_refused(tmp_path) -> None:
    from transformers import AutoTokenizer

    folder = load_clip("test_clip_tiny").save_pretrained(tmp_path / "no_tokenizer_files")
    empty = AutoTokenizer.from_pretrained(str(folder))  # transformers builds it without complaint
    with pytest.raises(BackboneError, match="vocabulary files are missing"):
        HFTokenizer(empty)
