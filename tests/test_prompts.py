"""Template sets, description files, the zero-shot classifier, learnable prompts (CoOp, KgCoOp)."""

from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F

from evclip.backbones import load_clip
from evclip.prompts import (
    IMAGENET_TEMPLATES,
    DescriptionError,
    PromptLearner,
    get_templates,
    kgcoop_loss,
    list_template_sets,
    load_descriptions,
    zero_shot_classifier,
)

CLASSES = ["seven", "two", "playing card"]


@pytest.fixture(scope="module")
def clip():
    return load_clip("test_clip_tiny").freeze("all")


def test_template_sets() -> None:
    assert len(IMAGENET_TEMPLATES) == 80 and len(set(IMAGENET_TEMPLATES)) == 80
    assert all(t.count("{}") == 1 for t in IMAGENET_TEMPLATES)
    assert {"imagenet", "photo", "playing_card", "point_cloud", "drafted"} <= set(
        list_template_sets()
    )
    assert get_templates("playing_card") == ["The content of the playing card is {}."]
    assert get_templates("point_cloud") == ["a point cloud image of a {}."]
    assert get_templates("drafted") == ["A drafted image of a {}."]
    assert get_templates("a {} at night") == ["a {} at night"]
    with pytest.raises(ValueError, match="unknown template set 'imagenet80'"):
        get_templates("imagenet80")
    with pytest.raises(ValueError, match="exactly once"):
        get_templates(["a {} and a {}"])
    with pytest.raises(ValueError, match="exactly once"):
        get_templates(["no slot"])


def _by_hand(clip, names, templates) -> torch.Tensor:
    rows = []
    for name in names:
        features = F.normalize(clip.encode_text([t.format(name) for t in templates]), dim=-1)
        rows.append(F.normalize(features.mean(dim=0), dim=-1))
    return torch.stack(rows)


@torch.no_grad()
def test_zero_shot_classifier_matches_a_per_class_loop(clip) -> None:
    templates = get_templates("imagenet_selected")
    weights = zero_shot_classifier(clip, CLASSES, templates, batch_size=5)
    assert weights.shape == (3, clip.embed_dim)
    torch.testing.assert_close(weights.norm(dim=-1), torch.ones(3))
    torch.testing.assert_close(weights, _by_hand(clip, CLASSES, templates), atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(weights, zero_shot_classifier(clip, CLASSES, templates))
    assert (weights[0] - weights[1]).abs().max() > 1e-3


@torch.no_grad()
def test_descriptions_join_the_average(clip) -> None:
    descriptions = {"seven": ["a red seven on grass", "the digit seven"], "two": ["a blue two"]}
    only = zero_shot_classifier(clip, ["seven", "two"], [], descriptions)
    by_hand = torch.stack(
        [
            F.normalize(F.normalize(clip.encode_text(s), dim=-1).mean(0), dim=-1)
            for s in descriptions.values()
        ]
    )
    torch.testing.assert_close(only, by_hand, atol=1e-5, rtol=1e-5)
    both = zero_shot_classifier(clip, ["seven", "two"], "photo", descriptions)
    sentences = ["a photo of a seven.", *descriptions["seven"]]
    expected = F.normalize(F.normalize(clip.encode_text(sentences), dim=-1).mean(0), dim=-1)
    torch.testing.assert_close(both[0], expected, atol=1e-5, rtol=1e-5)
    with pytest.raises(ValueError, match="'nine' has no template and no description"):
        zero_shot_classifier(clip, ["seven", "nine"], [], descriptions)


@pytest.mark.parametrize(
    ("names", "message"),
    [([], "empty"), (["a", "b", "a"], "repeated: \\['a'\\]"), (["a", " "], "positions \\[1\\]")],
)
def test_bad_class_lists(clip, names, message) -> None:
    with pytest.raises(ValueError, match=message):
        zero_shot_classifier(clip, names, "photo")


def test_load_descriptions_formats(tmp_path) -> None:
    as_json = tmp_path / "d.json"
    as_json.write_text(json.dumps({"seven": ["a seven.", " the digit 7 "], "two": "a two."}))
    assert load_descriptions(as_json) == {"seven": ["a seven.", "the digit 7"], "two": ["a two."]}
    as_text = tmp_path / "d.txt"
    as_text.write_text("# comment\nseven: a seven.\n\nseven: the digit 7\ntwo\ta two: really\n")
    assert load_descriptions(as_text) == {
        "seven": ["a seven.", "the digit 7"],
        "two": ["a two: really"],
    }
    folder = tmp_path / "per_class"
    folder.mkdir()
    (folder / "seven.txt").write_text("a seven.\n\nthe digit 7\n")
    assert load_descriptions(folder) == {"seven": ["a seven.", "the digit 7"]}


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("bad.txt", "seven: fine\njust words\n", "bad.txt:2"),
        ("bad.json", '{"seven": [1, 2]}', "'seven' must map to a list of strings"),
        ("bad.json", "[1, 2]", "expected an object"),
        ("bad.json", '{"seven": ["ok", " "]}', "empty description"),
        ("empty.txt", "# nothing\n", "no class descriptions"),
        ("broken.json", "{", "not valid JSON"),
    ],
)
def test_bad_description_files(tmp_path, name, content, message) -> None:
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(DescriptionError, match=message):
        load_descriptions(path)


def test_missing_description_file(tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match="nowhere.json"):
        load_descriptions(tmp_path / "nowhere.json")


def test_prompt_learner_starts_at_the_handwritten_prompt(clip) -> None:
    learner = PromptLearner(clip, CLASSES, context_init="a photo of a")
    assert learner.n_ctx == 4 and [n for n, _ in learner.named_parameters()] == ["ctx"]
    assert list(learner.state_dict()) == ["ctx"], "the backbone is not part of the learner"
    learned = learner()
    handwritten = learner.handwritten_features()
    expected = clip.encode_text([f"a photo of a {name}." for name in CLASSES], normalize=True)
    torch.testing.assert_close(learned, expected, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(handwritten, expected)
    assert kgcoop_loss(learned, handwritten).item() == pytest.approx(0.0, abs=1e-8)


def test_prompt_learner_trains_only_its_context(clip) -> None:
    learner = PromptLearner(clip, CLASSES, context_init=None, n_ctx=3, seed=1)
    assert learner.ctx.shape == (3, clip.text_width)
    assert learner.token_ids.shape == (3, clip.context_length)
    features = learner()
    image = F.normalize(torch.randn(5, clip.embed_dim), dim=-1)
    loss = F.cross_entropy(image @ features.t() * 10, torch.tensor([0, 1, 2, 0, 1]))
    loss = loss + kgcoop_loss(features, learner.handwritten_features())
    loss.backward()
    assert learner.ctx.grad is not None and learner.ctx.grad.abs().sum() > 0
    assert all(p.grad is None for p in clip.parameters())
    other = PromptLearner(clip, CLASSES, context_init=None, n_ctx=3, seed=2)
    assert not torch.equal(other.ctx, learner.ctx)


def test_prompt_learner_new_classes_and_conditioning(clip) -> None:
    learner = PromptLearner(clip, CLASSES)
    before = learner.ctx.detach().clone()
    learner.set_classes(["nine", "ace of spades"])
    assert learner.token_ids.shape[0] == 2 and torch.equal(learner.ctx, before)
    plain = learner()
    shift = torch.zeros(4, 1, clip.text_width)
    conditioned = learner(shift)
    assert conditioned.shape == (4, 2, clip.embed_dim)
    torch.testing.assert_close(conditioned, plain.expand(4, -1, -1), atol=1e-5, rtol=1e-5)
    # a constant offset would vanish in the LayerNorms: shift by a random direction
    shift[1] += 0.5 * torch.randn(1, clip.text_width, generator=torch.Generator().manual_seed(0))
    moved = learner(shift)
    assert (moved[1] - plain).abs().max() > 1e-3
    torch.testing.assert_close(moved[0], plain, atol=1e-5, rtol=1e-5)
    assert kgcoop_loss(moved, learner.handwritten_features()) > 0


def test_kgcoop_loss_is_the_mean_squared_distance() -> None:
    learned = torch.tensor([[3.0, 4.0], [1.0, 0.0]], requires_grad=True)
    handwritten = torch.tensor([[0.6, 0.8], [0.0, 1.0]], requires_grad=True)
    loss = kgcoop_loss(learned, handwritten)
    assert loss.item() == pytest.approx((0.0 + 2.0) / 2)
    loss.backward()
    assert handwritten.grad is None and learned.grad is not None
