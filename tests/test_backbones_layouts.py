"""load_clip on OpenAI (.pt state dict, TorchScript archive) and open_clip (.bin, .safetensors)
checkpoints, checked against a reference forward pass written from OpenAI's model code."""

from __future__ import annotations

import os
import pickle
import zipfile

import pytest
import torch
from backbone_fixtures import (
    openai_state_dict,
    reference_image_features,
    reference_text_features,
    save_torchscript_archive,
)
from safetensors.torch import save_file

from evclip.backbones import BackboneError, load_clip

TEXTS = ["a photo of a cat", "the content of the playing card is seven", "x"]


@pytest.fixture(scope="module")
def state() -> dict[str, torch.Tensor]:
    return openai_state_dict()


def _check_against_reference(clip, state, quick_gelu: bool) -> None:
    pixels = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    expected_image = reference_image_features(state, pixels, quick_gelu)
    with torch.no_grad():
        torch.testing.assert_close(clip.encode_image(pixels), expected_image, atol=2e-5, rtol=1e-4)
        ids = clip.tokenize(TEXTS)
        expected_text = reference_text_features(state, ids, quick_gelu)
        torch.testing.assert_close(clip.encode_text(TEXTS), expected_text, atol=2e-5, rtol=1e-4)
    assert clip.logit_scale.item() == state["logit_scale"].item()


def test_openai_state_dict_file(state, tmp_path) -> None:
    path = tmp_path / "ViT-B-16.pt"
    torch.save(state, path)
    clip = load_clip(path)
    assert (clip.vision_width, clip.text_width, clip.embed_dim) == (128, 64, 48)
    assert (clip.image_size, clip.patch_size, clip.context_length) == (32, 8, 77)
    assert clip.model.config.vision_config.num_attention_heads == 2
    assert clip.model.config.vision_config.hidden_act == "quick_gelu"
    _check_against_reference(clip, state, quick_gelu=True)


@pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:DeprecationWarning")
def test_openai_torchscript_archive_read_for_tensors_only(state, tmp_path) -> None:
    half = {key: value.half() for key, value in state.items()}  # OpenAI ships fp16 archives
    half["input_resolution"] = torch.tensor(32)
    path = tmp_path / "ViT-B-16.pt"
    save_torchscript_archive(half, path)
    clip = load_clip(str(path))
    rounded = {key: value.float() for key, value in half.items()}
    _check_against_reference(clip, rounded, quick_gelu=True)


def test_open_clip_training_checkpoint_bin(state, tmp_path) -> None:
    wrapped = {"epoch": 3, "state_dict": {f"module.{k}": v for k, v in state.items()}}
    path = tmp_path / "open_clip_pytorch_model.bin"
    torch.save(wrapped, path)
    clip = load_clip(path)
    assert clip.model.config.vision_config.hidden_act == "gelu"
    _check_against_reference(clip, state, quick_gelu=False)
    quick = load_clip(path, hidden_act="quick_gelu")
    _check_against_reference(quick, state, quick_gelu=True)


def test_open_clip_safetensors_with_linear_text_projection(state, tmp_path) -> None:
    linear = dict(state)
    linear["text_projection.weight"] = linear.pop("text_projection").t().contiguous()
    folder = tmp_path / "snapshot"
    folder.mkdir()
    save_file(linear, str(folder / "open_clip_model.safetensors"))
    clip = load_clip(folder / "open_clip_model.safetensors")
    _check_against_reference(clip, state, quick_gelu=False)
    from_folder = load_clip(folder)  # a hub snapshot holding only the open_clip file
    assert from_folder.digest() == clip.digest()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda s: s.update({"visual.layer1.0.conv1.weight": torch.zeros(1)}), "ResNet"),
        (
            lambda s: s.update(
                {"text.transformer.embeddings.word_embeddings.weight": torch.zeros(1)}
            ),
            "Hugging Face text tower",
        ),
        (lambda s: s.update({"visual.extra_gate": torch.zeros(1)}), "visual.extra_gate"),
        (lambda s: s.pop("visual.conv1.weight"), "visual.conv1.weight"),
    ],
)
def test_unsupported_checkpoints_name_the_problem(state, tmp_path, change, message) -> None:
    broken = dict(state)
    change(broken)
    path = tmp_path / "odd.pt"
    torch.save(broken, path)
    with pytest.raises(BackboneError, match=message):
        load_clip(path)


class _RunsCode:
    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_checkpoints_never_run_pickled_code(tmp_path) -> None:
    marker = tmp_path / "ran"
    payload = _RunsCode()
    payload.marker = marker
    plain = tmp_path / "evil.pt"
    plain.write_bytes(pickle.dumps({"visual.conv1.weight": payload}, protocol=2))
    with pytest.raises(BackboneError, match="evil.pt"):
        load_clip(plain)
    archive = tmp_path / "evil_jit.pt"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("evil_jit/code/__torch__.py", "")
        zf.writestr("evil_jit/data.pkl", pickle.dumps(payload, protocol=2))
    with pytest.raises(BackboneError, match="system"):
        load_clip(archive)
    assert not marker.exists()
