"""The ``eventclip`` method on the tiny random CLIP: the method contract and zero-shot invariants.

Random weights cannot recognise anything, so these tests check what must hold for any weights:
the logits are CLIP's scaled cosine similarities, frames and windows are averaged exactly,
probabilities sum to 1 and rank as the logits do, and the same input gives the same answer.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from evclip.backbones import load_clip
from evclip.io import EventStream, make_events
from evclip.models import METHODS
from evclip.models.eventclip import DEFAULT_TEMPLATES, EventClip, zeroshot_stream
from evclip.prompts import zero_shot_classifier
from evclip.zeroshot import TimeWindow, classify_windows

LABELS = ["walking", "running", "jumping"]


@pytest.fixture(scope="module")
def clip():
    return load_clip("test_clip_tiny")


@pytest.fixture(scope="module")
def method(clip):
    return METHODS.get("eventclip")(clip=clip, class_names=LABELS)


def _images(batch: int, frames: int, seed: int = 0, size=(24, 30)) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (batch, frames, 3, *size), generator=generator, dtype=torch.uint8)


def _stream(n: int = 2000, seed: int = 0) -> EventStream:
    rng = np.random.default_rng(seed)
    x = np.clip(rng.normal(20, 6, n), 0, 39).astype(int)
    y = np.clip(rng.normal(15, 4, n), 0, 29).astype(int)
    return EventStream(make_events(x, y, np.sort(rng.integers(0, 50_000, n)), x % 2), (40, 30))


_CLASSIFIERS: dict[tuple, torch.Tensor] = {}


def _single_logits(method: EventClip, image: torch.Tensor) -> torch.Tensor:
    """Logits [C] of one uint8 image [3, H, W], computed from the backbone directly."""
    key = (id(method.clip), tuple(method.class_names), tuple(method.templates))
    if key not in _CLASSIFIERS:
        with torch.no_grad():
            _CLASSIFIERS[key] = zero_shot_classifier(method.clip, *key[1:])
    with torch.no_grad():
        features = method.clip.encode_image(method.clip.preprocess(image[None]), normalize=True)
    return (method.clip.logit_scale.exp() * features @ _CLASSIFIERS[key].t())[0].detach()


def test_logits_are_scaled_cosine_similarities(method):
    images = _images(2, 1)
    logits = method.predict({"events": images})
    assert logits.shape == (2, len(LABELS))
    for b in range(2):
        torch.testing.assert_close(logits[b], _single_logits(method, images[b, 0]))


def test_predict_averages_logits_over_frames(method):
    images = _images(2, 3, seed=1)
    logits = method.predict({"events": images})
    for b in range(2):
        manual = torch.stack([_single_logits(method, images[b, t]) for t in range(3)]).mean(0)
        torch.testing.assert_close(logits[b], manual)


def test_blank_frames_are_left_out_of_the_average(method):
    images = _images(2, 3, seed=2)
    images[0, 1] = 255  # a window without events (white)
    images[1] = 255  # a sample without any event keeps the plain mean
    logits = method.predict({"events": images})
    kept = torch.stack([_single_logits(method, images[0, t]) for t in (0, 2)]).mean(0)
    torch.testing.assert_close(logits[0], kept)
    torch.testing.assert_close(logits[1], _single_logits(method, images[1, 0]))


def test_embed_is_normalised_mean_of_frame_features(method):
    images = _images(3, 2, seed=3)
    event = method.embed({"events": images})["event"]
    assert event.shape == (3, method.clip.embed_dim)
    torch.testing.assert_close(event.norm(dim=-1), torch.ones(3))
    frames = method.image_features(images.flatten(0, 1)).view(3, 2, -1).mean(1)
    torch.testing.assert_close(event, frames / frames.norm(dim=-1, keepdim=True))


def test_method_is_frozen_and_training_free(method):
    assert not any(p.requires_grad for p in method.parameters())
    method.train()
    assert not method.clip.training
    with pytest.raises(RuntimeError, match="training-free"):
        method.training_step({"events": _images(1, 1), "label": torch.zeros(1)})


def test_set_classes_rebuilds_and_checks(clip):
    method = EventClip(clip)
    with pytest.raises(RuntimeError, match="set_classes"):
        method.predict({"events": _images(1, 1)})
    method.set_classes(["cat", "dog"])
    assert method.predict({"events": _images(1, 2)}).shape == (1, 2)
    with pytest.warns(UserWarning, match=r"\['Cat', 'cat'\] repeat"):
        method.set_classes(["cat", "dog", "Cat"])
    logits = method.predict({"events": _images(2, 1)})
    torch.testing.assert_close(logits[:, 0], logits[:, 2])
    assert method.class_names == ["cat", "dog", "Cat"]
    with pytest.raises(ValueError, match="label 2 of 2 is empty"):
        method.set_classes(["cat", " "])
    with pytest.raises(KeyError, match="events"):
        method.predict({"rgb": _images(1, 1)})


def test_builder_loads_a_named_model_and_templates():
    method = METHODS.get("eventclip")(
        model="test_clip_tiny", templates=["a {}.", "an image of a {}."], windows=3
    )
    assert method.templates == ["a {}.", "an image of a {}."] and method.windows == 3
    named = METHODS.get("eventclip")(model="test_clip_tiny", templates="point_cloud")
    assert named.templates == ["a point cloud image of a {}."]
    assert list(DEFAULT_TEMPLATES) == named.templates  # the default is EventCLIP's set
    assert method.event_image_mode == "eventclip_grey"
    with pytest.raises(ValueError, match="exactly once"):
        METHODS.get("eventclip")(model="test_clip_tiny", templates=["a photo"])
    with pytest.raises(ValueError, match="unknown template set 'nosuch'"):
        METHODS.get("eventclip")(model="no/such-model", templates="nosuch")
    with pytest.raises(ValueError, match="slicing must be one of"):
        METHODS.get("eventclip")(model="test_clip_tiny", slicing="random")
    with pytest.raises(ValueError, match="unknown event image mode"):
        METHODS.get("eventclip")(model="test_clip_tiny", event_image_mode="rainbow")


def test_stream_probabilities_ranking_and_determinism(method):
    stream = _stream()
    result = zeroshot_stream(method, stream, LABELS, windows=3)
    assert result.windows == 3 and result.class_names == LABELS
    assert result.probabilities.sum() == pytest.approx(1.0, abs=1e-12)
    ranking = result.ranking()
    assert [row["label"] for row in ranking] == [LABELS[i] for i in np.argsort(-result.logits)]
    probabilities = [row["probability"] for row in ranking]
    assert probabilities == sorted(probabilities, reverse=True)
    assert len(result.ranking(top=2)) == 2
    again = zeroshot_stream(method, stream, LABELS, windows=3)
    np.testing.assert_array_equal(again.logits, result.logits)


def test_stream_windows_average_equals_manual_average(method):
    stream = _stream(seed=4)
    result = zeroshot_stream(method, stream, LABELS, windows=4)
    images = method.render_stream(stream, 4)  # (4, 3, H, W)
    assert images.shape == (4, 3, 30, 40)
    manual = torch.stack([_single_logits(method, image) for image in images]).mean(0)
    np.testing.assert_allclose(result.logits, manual.double().numpy(), rtol=1e-5, atol=1e-5)
    # windows differ, so K matters
    single = zeroshot_stream(method, stream, LABELS, windows=1)
    assert not np.allclose(single.logits, result.logits)


def test_stream_from_a_backbone_builds_the_method(clip):
    result = zeroshot_stream(clip, _stream(), ["cat", "dog"], templates=["a {}."], windows=2)
    assert result.probabilities.shape == (2,)
    with pytest.raises(ValueError, match="empty"):
        zeroshot_stream(clip, _stream(), ["cat", ""])


def test_classify_windows_rows(method):
    stream = _stream()
    empty = EventStream(stream.events[:0], stream.sensor_size)
    windows = [TimeWindow(i, 1000 * i, 1000 * i + 1000, stream) for i in range(3)]
    windows.insert(1, TimeWindow(3, 0, 1, empty))
    rows = list(classify_windows(method, windows, n_images=2, batch_windows=2))
    assert [row.window for row in rows] == [0, 3, 1, 2]
    assert rows[1].label is None and rows[1].probability is None and rows[1].events == 0
    expected = zeroshot_stream(method, stream, LABELS, windows=2)
    best = expected.ranking(1)[0]
    for row in (rows[0], rows[2], rows[3]):
        assert row.label == best["label"]
        assert row.probability == pytest.approx(best["probability"], abs=1e-6)
        assert row.image.shape == (30, 40, 3) and row.image.dtype == np.uint8


def test_cached_features_give_the_same_answers(method):
    images = _images(2, 3, seed=5)
    images[1, 0] = 255
    batch = {"events": images}
    features = method.extract_features(batch)
    assert features["event"].shape == (2, 3, method.clip.embed_dim)
    torch.testing.assert_close(features["event_weight"][1], torch.tensor([0.0, 0.5, 0.5]))
    cached = {"features": {k: v.clone() for k, v in features.items()}}
    torch.testing.assert_close(method.predict(cached), method.predict(batch))
    torch.testing.assert_close(method.embed(cached)["event"], method.embed(batch)["event"])
    assert method.feature_cache_key() == f"eventclip-v1:{method.clip.digest()}"
