"""Tests for the SAFE model (evclip.models.safe): contract, speed rules, switches, learning."""

from __future__ import annotations

import pytest
import torch

from evclip.models import METHODS, list_methods
from evclip.models.safe import FEATURE_KEYS
from evclip.models.safe_heads import SafePaperHead, SafeReferenceHead

SAFE_TEST_VARIANTS = list_methods("test_safe")
B, T = 2, 2


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Tiny models run fastest on one thread on a shared machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def make_batch(seed: int = 0, *, frames: int = T, rgb_size=(40, 48), event_size=(32, 32)) -> dict:
    gen = torch.Generator().manual_seed(seed)
    return {
        "rgb": torch.randint(0, 256, (B, frames, 3, *rgb_size), dtype=torch.uint8, generator=gen),
        "events": torch.randint(
            0, 256, (B, frames, 3, *event_size), dtype=torch.uint8, generator=gen
        ),
        "label": torch.tensor([0, 2]),
    }


def count_calls(monkeypatch, obj, name: str) -> list[int]:
    """Wrap ``obj.name``; the returned list gets the batch size of every call."""
    original = getattr(obj, name)
    calls: list[int] = []

    def wrapper(x, *args, **kwargs):
        calls.append(len(x))
        return original(x, *args, **kwargs)

    monkeypatch.setattr(obj, name, wrapper)
    return calls


def test_test_variants_are_registered():
    assert {"test_safe_tiny", "test_safe_reference_tiny"} <= set(SAFE_TEST_VARIANTS)
    assert "safe" in list_methods()


@pytest.mark.parametrize("name", SAFE_TEST_VARIANTS)
def test_every_trainable_parameter_gets_a_gradient(name):
    model = METHODS.get(name)().train()
    out = model.training_step(make_batch())
    assert set(out) == {"loss", "ce"}
    assert torch.isfinite(out["loss"]) and out["loss"].requires_grad
    out["loss"].backward()
    trainable = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    assert any(n.startswith("clip.") for n, _ in trainable)  # fine-tuned as published by default
    for n, p in trainable:
        assert p.grad is not None, f"{n} got no gradient"
        assert torch.isfinite(p.grad).all(), n
    assert not model.clip.logit_scale.requires_grad  # unused by SAFE, so frozen


@pytest.mark.parametrize("name", SAFE_TEST_VARIANTS)
def test_predict_and_embed_shapes(name):
    model = METHODS.get(name)().eval()
    with torch.no_grad():
        logits = model.predict(make_batch())
        embeddings = model.embed(make_batch())
    assert logits.shape == (B, 3) and torch.isfinite(logits).all()
    assert set(embeddings) == {"rgb", "event", "fused"}
    for key, value in embeddings.items():
        assert value.shape[0] == B and torch.isfinite(value).all(), key
        torch.testing.assert_close(value.norm(dim=-1), torch.ones(B))
    assert embeddings["rgb"].shape[1] == model.clip.embed_dim


@pytest.mark.parametrize("name", SAFE_TEST_VARIANTS)
def test_clip_runs_once_per_batch_over_every_image(name, monkeypatch):
    model = METHODS.get(name)()
    calls = count_calls(monkeypatch, model.clip, "image_tokens")
    model.training_step(make_batch())["loss"].backward()
    assert calls == [B * T * 2]  # both modalities, all frames, one call


def test_single_modality_ignores_the_other(monkeypatch):
    for modality, other in (("rgb", "events"), ("events", "rgb")):
        model = METHODS.get("test_safe_tiny")(modality=modality, freeze="all").eval()
        calls = count_calls(monkeypatch, model.clip, "image_tokens")
        batch = make_batch()
        with torch.no_grad():
            logits = model.predict(batch)
            changed = model.predict({**batch, other: make_batch(7)[other]})
            missing = model.predict({k: v for k, v in batch.items() if k != other})
        assert calls == [B * T] * 3
        torch.testing.assert_close(logits, changed)
        torch.testing.assert_close(logits, missing)
        assert set(model.embed(batch)) == {"rgb" if modality == "rgb" else "event", "fused"}
        with pytest.raises(KeyError, match=f"batch has no '{modality}'"):
            model.predict({k: v for k, v in batch.items() if k != modality})


def test_frozen_text_tower_is_encoded_once_per_run(monkeypatch):
    model = METHODS.get("test_safe_tiny")(freeze="all")
    calls = count_calls(monkeypatch, model.clip, "encode_text")
    for seed in range(3):
        model.training_step(make_batch(seed))["loss"].backward()
    model.eval()
    with torch.no_grad():
        model.predict(make_batch())
    assert calls == [3]  # 3 classes x 1 template, once
    model.set_classes(["cat", "dog", "fish", "cow"])
    with torch.no_grad():
        assert model.predict(make_batch()).shape == (B, 4)
    assert calls == [3, 4]


def test_trainable_text_tower_is_encoded_once_per_step_with_gradients(monkeypatch):
    model = METHODS.get("test_safe_tiny")(freeze="none")
    calls = count_calls(monkeypatch, model.clip, "encode_text")
    for seed in range(2):
        model.zero_grad()
        model.training_step(make_batch(seed))["loss"].backward()
    assert calls == [3, 3]
    projection = model.clip.model.text_projection.weight
    assert projection.grad is not None and projection.grad.abs().sum() > 0


def test_cache_follows_loaded_weights():
    model = METHODS.get("test_safe_tiny")(freeze="all").eval()
    other = METHODS.get("test_safe_tiny")(freeze="all", seed=1).eval()
    with torch.no_grad():
        other.clip.model.text_projection.weight.mul_(-1.0)
        model.predict(make_batch())  # fills the text cache with the old weights
        model.load_state_dict(other.state_dict())
        torch.testing.assert_close(model.predict(make_batch()), other.predict(make_batch()))


def test_features_from_the_batch_skip_clip(monkeypatch):
    model = METHODS.get("test_safe_tiny")(freeze="all").eval()
    batch = make_batch()
    with torch.no_grad():
        features = model.extract_features(batch)
        expected = model.predict(batch)
        calls = count_calls(monkeypatch, model.clip, "image_tokens")
        cached = model.predict({"features": features, "label": batch["label"]})
    assert calls == []
    torch.testing.assert_close(cached, expected)
    assert set(features) == set(FEATURE_KEYS.values())
    for value in features.values():  # (B, T, 1 + patches, D): 32 px, patch 8 -> 16 patches
        assert value.shape == (B, T, 17, model.clip.embed_dim)


def test_feature_cache_key_only_for_a_frozen_vision_tower():
    frozen = METHODS.get("test_safe_tiny")(freeze="all")
    key = frozen.feature_cache_key()
    assert key is not None and key.startswith("safe-")
    assert METHODS.get("test_safe_tiny")(freeze="all", tokens="cls").feature_cache_key() != key
    assert METHODS.get("test_safe_tiny")(freeze="all", modality="rgb").feature_cache_key() != key
    assert METHODS.get("test_safe_tiny")(freeze="none").feature_cache_key() is None
    assert METHODS.get("test_safe_tiny")(freeze="last:1").feature_cache_key() is None
    cls_only = METHODS.get("test_safe_tiny")(freeze="all", tokens="cls")
    assert cls_only.extract_features(make_batch())["rgb_tokens"].shape == (B, T, 1, 64)


def test_parameter_groups_split_backbone_and_head():
    model = METHODS.get("test_safe_tiny")()
    groups = model.parameter_groups()
    trainable = {id(p) for p in model.parameters() if p.requires_grad}
    backbone, head = ({id(p) for p in groups[k]} for k in ("backbone", "head"))
    assert backbone and head and not backbone & head
    assert backbone | head == trainable
    assert backbone == {id(p) for p in model.clip.parameters() if p.requires_grad}
    frozen = METHODS.get("test_safe_tiny")(freeze="all").parameter_groups()
    assert frozen["backbone"] == [] and frozen["head"]


@pytest.mark.parametrize("name", SAFE_TEST_VARIANTS)
def test_set_classes_with_another_number_of_classes(name):
    model = METHODS.get(name)()
    names = ["cat", "dog", "bird", "fish", "horse"]
    if isinstance(model.head, SafeReferenceHead):
        with pytest.warns(UserWarning, match="re-initialised"):
            model.set_classes(names)
    else:
        model.set_classes(names)
    batch = {**make_batch(), "label": torch.tensor([4, 3])}
    out = model.training_step(batch)
    out["loss"].backward()
    assert model.predict(make_batch()).shape == (B, 5)
    assert model.class_names == names
    with pytest.raises(ValueError, match="class names are repeated"):
        model.set_classes(["dog", "cat", "dog"])


def test_paper_head_scores_classes_with_shared_weights():
    """A class list reordered gives the same scores reordered: no weight is tied to a position."""
    model = METHODS.get("test_safe_tiny")().eval()
    batch = make_batch()
    with torch.no_grad():
        logits = model.predict(batch)
        model.set_classes(["bird", "cat", "dog"])
        reordered = model.predict(batch)
    torch.testing.assert_close(reordered, logits[:, [2, 0, 1]], rtol=1e-4, atol=1e-5)


ABLATIONS = {
    "use_multimodal": lambda h: getattr(h, "multimodal", getattr(h, "joint", None)),
    "use_self_attention": lambda h: (
        getattr(h, "self_attention", None)
        if isinstance(h, SafePaperHead)
        else (h.bare_self_attention if h.use_self_attention else None)
    ),
    "use_cross_attention": lambda h: (
        getattr(h, "cross_attention", None)
        if isinstance(h, SafePaperHead)
        else h.bare_cross_attention
    ),
}


@pytest.mark.parametrize("switch", sorted(ABLATIONS))
@pytest.mark.parametrize("variant", ["paper", "reference"])
def test_ablation_switches_remove_their_stage(switch, variant):
    full = METHODS.get("test_safe_tiny")(variant=variant, freeze="all").eval()
    ablated = METHODS.get("test_safe_tiny")(variant=variant, freeze="all", **{switch: False})
    assert ABLATIONS[switch](full.head) is not None
    assert ABLATIONS[switch](ablated.head) is None
    count = sum(p.numel() for p in ablated.head.parameters())
    if switch != "use_self_attention" or variant == "paper":  # the reference reuses its weights
        assert count < sum(p.numel() for p in full.head.parameters())
    out = ablated.train().training_step(make_batch())
    out["loss"].backward()
    assert torch.isfinite(out["loss"])
    for n, p in ablated.named_parameters():
        assert not p.requires_grad or p.grad is not None, n


def test_without_text_the_class_tokens_are_learned(monkeypatch):
    model = METHODS.get("test_safe_tiny")(use_text=False)
    assert model.class_tokens.mode == "learned"
    assert not any(p.requires_grad for p in model.clip.text.parameters())
    calls = count_calls(monkeypatch, model.clip, "encode_text")
    out = model.training_step(make_batch())
    out["loss"].backward()
    assert calls == []
    assert model.class_tokens.learned.grad is not None
    assert model.class_tokens.learned.shape == (3, 64)


def test_plain_vit_has_random_vision_weights_and_clip_text():
    clip_model = METHODS.get("test_safe_tiny")()
    vit = METHODS.get("test_safe_tiny")(vision="vit")
    clip_vision = clip_model.clip.vision.embeddings.patch_embedding.weight
    vit_vision = vit.clip.vision.embeddings.patch_embedding.weight
    assert clip_vision.shape == vit_vision.shape and not torch.equal(clip_vision, vit_vision)
    assert not torch.equal(
        clip_model.clip.model.visual_projection.weight, vit.clip.model.visual_projection.weight
    )
    for a, b in zip(clip_model.clip.text.parameters(), vit.clip.text.parameters(), strict=True):
        assert torch.equal(a, b)
    out = vit.training_step(make_batch())
    assert torch.isfinite(out["loss"])


def test_descriptions_change_the_class_tokens():
    plain = METHODS.get("test_safe_tiny")(freeze="all")
    described = METHODS.get("test_safe_tiny")(
        freeze="all", descriptions={"cat": ["a small furry pet.", "it meows."]}
    )
    assert described.class_tokens.owners.tolist() == [0, 0, 0, 1, 2]
    with torch.no_grad():
        a, _ = plain.class_tokens(plain.clip)
        b, _ = described.class_tokens(described.clip)
    assert not torch.allclose(a[0], b[0])
    torch.testing.assert_close(a[1:], b[1:])
    torch.testing.assert_close(b.norm(dim=-1), torch.ones(3))


def test_building_is_seeded():
    a, b = (METHODS.get("test_safe_tiny")(seed=3) for _ in range(2))
    for (n, p), (_, q) in zip(a.head.named_parameters(), b.head.named_parameters(), strict=True):
        assert torch.equal(p, q), n
    c = METHODS.get("test_safe_tiny")(seed=4)
    assert not torch.equal(a.head.scorer.weight, c.head.scorer.weight)


def test_bad_arguments_and_inputs_are_clear_errors():
    with pytest.raises(ValueError, match="variant='video' is not one of 'paper', 'reference'"):
        METHODS.get("test_safe_tiny")(variant="video")
    with pytest.raises(ValueError, match="modality='depth'"):
        METHODS.get("test_safe_tiny")(modality="depth")
    with pytest.raises(ValueError, match="class_names is required"):
        METHODS.get("test_safe_tiny")(class_names=None)
    with pytest.raises(ValueError, match="learnable_context needs use_text=True"):
        METHODS.get("test_safe_tiny")(use_text=False, learnable_context=4)
    model = METHODS.get("test_safe_tiny")()
    with pytest.raises(ValueError, match="3 frames per sample; .* num_frames=2"):
        model.predict(make_batch(frames=3))
    with pytest.raises(ValueError, match=r"batch\['rgb'\] must be \[B, T, 3, H, W\]"):
        model.predict({**make_batch(), "rgb": torch.zeros(2, 3, 8, dtype=torch.uint8)})


@pytest.mark.parametrize("variant", ["paper", "reference"])
def test_a_tiny_model_overfits_a_handful_of_samples(variant):
    """Six clips, three classes, frozen CLIP: training accuracy reaches 100% in 40 steps."""
    torch.manual_seed(0)
    model = METHODS.get("test_safe_tiny")(variant=variant, freeze="all")
    gen = torch.Generator().manual_seed(1)
    batch = {
        "rgb": torch.randint(0, 256, (6, T, 3, 32, 32), dtype=torch.uint8, generator=gen),
        "events": torch.randint(0, 256, (6, T, 3, 32, 32), dtype=torch.uint8, generator=gen),
        "label": torch.tensor([0, 1, 2, 0, 1, 2]),
    }
    with torch.no_grad():
        batch["features"] = model.extract_features(batch)
    optimiser = torch.optim.AdamW(model.parameter_groups()["head"], lr=1e-3)
    first = None
    for _ in range(40):
        optimiser.zero_grad()
        loss = model.training_step(batch)["loss"]
        loss.backward()
        optimiser.step()
        first = loss.item() if first is None else first
    model.eval()
    with torch.no_grad():
        accuracy = (model.predict(batch).argmax(1) == batch["label"]).float().mean().item()
    assert accuracy == 1.0
    assert first > 1.0 and loss.item() < 0.1


def test_learnable_context_adds_the_kgcoop_term(monkeypatch):
    model = METHODS.get("test_safe_tiny")(
        freeze="all", learnable_context=4, context_init="a photo of a", kgcoop_weight=2.0
    )
    learner = model.class_tokens.prompt_learner
    assert learner.n_ctx == 4
    assert any(p is learner.ctx for p in model.parameter_groups()["head"])
    calls = count_calls(monkeypatch, model.clip, "encode_text")
    out = model.training_step(make_batch())
    assert set(out) == {"loss", "ce", "kgcoop"}
    # initialised from "a photo of a", the learned prompt is the hand-written one
    assert out["kgcoop"].item() < 1e-8
    torch.testing.assert_close(out["loss"], out["ce"] + 2.0 * out["kgcoop"])
    out["loss"].backward()
    assert learner.ctx.grad is not None and learner.ctx.grad.abs().sum() > 0
    with torch.no_grad():
        learner.ctx.add_(0.5 * torch.randn_like(learner.ctx))
    out = model.training_step(make_batch(1))
    assert out["kgcoop"].item() > 1e-3
    assert calls == [3]  # the hand-written reference of a frozen text tower, once
    context = learner.ctx.detach().clone()
    model.set_classes(["cat", "dog", "bird", "fish"])
    assert torch.equal(model.class_tokens.prompt_learner.ctx, context)
    assert model.predict(make_batch()).shape == (B, 4)


def test_random_context_and_templates_from_a_named_set():
    model = METHODS.get("test_safe_tiny")(learnable_context=3, templates="imagenet_selected")
    assert model.class_tokens.prompt_learner.n_ctx == 3
    assert model.class_tokens.ids.shape[0] == 3 * 7  # 3 classes x 7 templates
    assert model.training_step(make_batch())["kgcoop"].item() > 0
    with pytest.raises(ValueError, match="has 4 tokens but learnable_context=3"):
        METHODS.get("test_safe_tiny")(learnable_context=3, context_init="a photo of a")
    with pytest.raises(ValueError, match="unknown template set 'nope'"):
        METHODS.get("test_safe_tiny")(templates="nope")


def test_export_saves_a_backbone_loaded_from_a_path(tmp_path):
    from evclip.backbones import load_clip

    folder = load_clip("test_clip_tiny").save_pretrained(tmp_path / "my_clip")
    by_name = METHODS.get("test_safe_tiny")()
    assert by_name.export_pretrained(tmp_path / "a") == {}  # registered: rebuilt by name
    model = METHODS.get("test_safe_tiny")(clip=str(folder), seed=5).eval()
    assert model.export_pretrained(tmp_path / "b") == {"clip": "clip"}
    rebuilt = METHODS.get("test_safe_tiny")(clip=str(tmp_path / "b" / "clip")).eval()
    rebuilt.load_state_dict(model.state_dict())
    with torch.no_grad():
        torch.testing.assert_close(rebuilt.predict(make_batch()), model.predict(make_batch()))


def test_test_variants_take_the_engine_defaults():
    """The engine passes num_frames and class_names to builders that name them."""
    from evclip.engine.build import build_method

    model = build_method(
        "test_safe_reference_tiny", {}, defaults={"num_frames": 3, "class_names": ["a", "b"]}
    )
    assert model.head.classifier.out_features == 2
    assert model.predict(make_batch(frames=3)).shape == (B, 2)
    assert model.config["variant"] == "reference" and model.config["num_frames"] == 3


def test_paper_head_similarity_starts_at_unit_gain():
    """Both factors of the class-visual match at std 0.02 put it at a saddle (slow training)."""
    torch.manual_seed(0)
    head = SafePaperHead(
        in_dim=32, dim=128, heads=4, depth=1, num_frames=2, modalities=("rgb", "events")
    )
    for linear in (head.match_visual, head.match_class):
        assert linear.weight.std().item() == pytest.approx(128**-0.5, rel=0.05)
    fused, classes = torch.randn(4, 128), torch.randn(4, 6, 128)
    match = torch.einsum("bd,bcd->bc", head.match_visual(fused), head.match_class(classes))
    assert match.std().item() > 0.3 * 128**0.5  # O(sqrt(dim)) before the 1/sqrt(dim) scaling


def test_fine_tuned_text_with_a_frozen_vision_tower_keeps_the_feature_cache():
    safe = METHODS.get("test_safe_tiny")(freeze="all", text_freeze="none")
    text = [p for p in safe.clip.text.parameters()]
    assert all(p.requires_grad for p in text)
    assert not any(p.requires_grad for p in safe.clip.vision.parameters())
    key = safe.feature_cache_key()
    assert key is not None
    batch = make_batch()
    safe.training_step(batch)["loss"].backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in text)
    with torch.no_grad():
        text[0].add_(1.0)  # a text-tower update leaves the image tokens as they were
        assert safe.feature_cache_key() == key
        next(safe.clip.vision.parameters()).add_(1.0)
        assert safe.feature_cache_key() != key
