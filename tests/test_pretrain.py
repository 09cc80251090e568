"""Offline CLIP pre-training: captions, tokenizer, loss, tiny runs, resume, the shipped model."""

from __future__ import annotations

import json
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import pytest
import torch

from evclip.datasets.synthetic import SyntheticConfig
from evclip.pretrain import train as train_module
from evclip.pretrain.captions import (
    PairRecord,
    build_tokenizer,
    caption_matches,
    template_attributes,
    tokenize,
    vocabulary,
)
from evclip.pretrain.data import (
    heldout_set,
    sample_batch,
    world_from_benchmark,
    world_from_manifest,
)
from evclip.pretrain.model import TinyClipSpec, build_model, preprocess
from evclip.pretrain.train import PretrainConfig, contrastive_loss, pretrain

SHIPPED = Path(__file__).parents[1] / "src/evclip/backbones/pretrained/evclip-tiny-bench"
TINY = PretrainConfig(steps=6, batch_size=20, lr=3e-3, warmup_steps=1, spec=TinyClipSpec.tiny())
RUN = {"checkpoint_every": 2, "eval_every": 100, "monitor_images": 10, "eval_images": 10}


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny models: a second intra-op thread only spins (9x the CPU time on a busy machine)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def bench(tmp_path_factory) -> Path:
    """A benchmark folder holding only the manifest (all pre-training reads from it)."""
    root = tmp_path_factory.mktemp("bench")
    config = json.loads(json.dumps(asdict(SyntheticConfig.small())))
    (root / "manifest.json").write_text(json.dumps({"seed": 3, "config": config}))
    return root


def test_caption_matches_partial_captions():
    red7, green7 = PairRecord("red", 7, "moon"), PairRecord("green", 7, "moon")
    texts = [red7, red7]
    stated = [
        template_attributes("a {colour} {digit}"),
        template_attributes("a handwritten {digit}"),
    ]
    match = caption_matches(stated, texts, [red7, green7, PairRecord("red", 1, "moon")])
    assert match.tolist() == [[True, False, False], [True, True, False]]


def test_tokenizer_reads_back_offline_and_pools_at_eos(tmp_path):
    from transformers import AutoTokenizer

    words = vocabulary(("red", "green"), (1, 7))
    tokenizer = build_tokenizer(words, 12)
    tokenizer.save_pretrained(str(tmp_path))
    again = AutoTokenizer.from_pretrained(str(tmp_path))
    texts = ["A photo of a RED seven, on bricks!", "a red one on bricks " * 5]
    ids = tokenize(tokenizer, texts, 12)
    assert torch.equal(ids, tokenize(again, texts, 12))
    assert ids[0, 0] == again.bos_token_id and (ids == again.eos_token_id).sum(1).tolist() == [1, 1]
    assert ids[1, -1] == again.eos_token_id  # truncated, still ends in EOS
    assert again.unk_token_id not in ids[0].tolist()  # case and punctuation handled
    model = build_model(TinyClipSpec.tiny(), len(words), seed=0).eval()
    pair = tokenize(tokenizer, ["a red seven on grass", "a red one on grass"], 24)
    features = model.get_text_features(input_ids=pair).pooler_output
    assert not torch.allclose(features[0], features[1])  # the digit word reaches the pooled token


def test_batches_hold_groups_that_differ_only_by_the_digit(bench):
    pairs = world_from_benchmark(bench)
    batch = sample_batch(pairs, np.random.default_rng(0), 12, group_size=3, group_fraction=0.5)
    assert batch.images.shape == (12, 48, 48, 3) and batch.images.dtype == np.uint8
    first = batch.records[:3]
    assert len({r.digit for r in first}) == 3
    assert len({(r.colour, r.background) for r in first}) == 1
    words = [set(c.split()) for c in batch.captions[:3]]
    assert all(len(words[0] ^ w) in (0, 2) for w in words)  # one word swapped at most
    used = {d: set(v.tolist()) for d, v in pairs.train_instances.items()}
    held = {d: set(v.tolist()) for d, v in pairs.heldout_instances.items()}
    assert all(not used[d] & held[d] for d in pairs.digits)  # held-out handwriting never trains
    images, records = heldout_set(pairs, 5, seed=1)
    assert np.array_equal(images, heldout_set(pairs, 5, seed=1)[0]) and len(records) == 5


def test_contrastive_loss_matches_clip_with_distinct_captions():
    torch.manual_seed(0)
    images, texts = torch.randn(4, 8), torch.randn(4, 8)
    scale = torch.tensor(2.0)
    ours = contrastive_loss(images, texts, scale, np.eye(4, dtype=bool))
    logits = (
        scale.exp()
        * torch.nn.functional.normalize(images, dim=-1)
        @ (torch.nn.functional.normalize(texts, dim=-1).T)
    )
    labels = torch.arange(4)
    expected = 0.5 * (
        torch.nn.functional.cross_entropy(logits, labels)
        + torch.nn.functional.cross_entropy(logits.T, labels)
    )
    assert torch.allclose(ours, expected)
    scenes = np.array([0, 0, 1, 1])  # two hard-negative groups of two
    grouped = contrastive_loss(images, texts, scale, np.eye(4, dtype=bool), scenes, 0.5)
    within = torch.stack(
        [
            torch.nn.functional.cross_entropy(block, torch.arange(2), reduction="none")
            + torch.nn.functional.cross_entropy(block.T, torch.arange(2), reduction="none")
            for block in (logits[:2, :2], logits[2:, 2:])
        ]
    )
    assert torch.allclose(grouped, expected + 0.5 * 0.5 * within.mean())


def _fixed_batch_loss(model, tokenizer, bench) -> float:
    pairs = world_from_benchmark(bench)
    batch = sample_batch(pairs, np.random.default_rng(99), 40)
    with torch.no_grad():
        images = model.get_image_features(pixel_values=preprocess(batch.images, 16)).pooler_output
        ids = tokenize(tokenizer, batch.captions, 24)
        texts = model.get_text_features(input_ids=ids).pooler_output
        match = caption_matches(batch.stated, batch.records, batch.records)
        return float(contrastive_loss(images, texts, model.logit_scale, match))


def test_tiny_run_lowers_the_loss_and_writes_a_folder_load_clip_reads(tmp_path, bench):
    from transformers import AutoTokenizer, CLIPModel

    from evclip.backbones import load_clip

    config = replace(TINY, steps=12)
    words = vocabulary(world_from_benchmark(bench).colours, world_from_benchmark(bench).digits)
    tokenizer = build_tokenizer(words, 24)
    before = _fixed_batch_loss(build_model(config.spec, len(words), config.seed), tokenizer, bench)
    summary = pretrain(tmp_path / "m", config, data=bench, progress=False, **RUN)
    model = CLIPModel.from_pretrained(str(tmp_path / "m")).eval()
    assert _fixed_batch_loss(model, tokenizer, bench) < before - 0.05
    assert set(summary["heldout"]) >= {"digit", "colour", "background", "class_names"}
    assert AutoTokenizer.from_pretrained(str(tmp_path / "m")).eos_token_id == 3
    assert not (tmp_path / "m" / "checkpoint").exists()  # done: only the model is left

    clip = load_clip(tmp_path / "m")
    images, _ = heldout_set(world_from_benchmark(bench), 4, seed=0)
    texts = ["a red one on grass", "a green seven on bricks"]
    with torch.no_grad():
        ours_image = model.get_image_features(pixel_values=preprocess(images, 16)).pooler_output
        ours_text = model.get_text_features(input_ids=tokenize(tokenizer, texts, 24)).pooler_output
        theirs_image = clip.encode_image(clip.preprocess(images))
        theirs_text = clip.encode_text(texts)
    assert torch.allclose(ours_image, theirs_image, atol=1e-5)
    assert torch.allclose(ours_text, theirs_text, atol=1e-5)
    assert clip.image_size == 16 and clip.context_length == 24


def test_resume_after_interruption_gives_the_same_weights(tmp_path, bench, monkeypatch):
    from safetensors.torch import load_file

    pretrain(tmp_path / "whole", TINY, data=bench, progress=False, **RUN)
    real_step = train_module.train_step

    def interrupted(model, optimizer, tokenizer, pairs, config, step):
        if step == 3:
            raise KeyboardInterrupt
        return real_step(model, optimizer, tokenizer, pairs, config, step)

    monkeypatch.setattr(train_module, "train_step", interrupted)
    with pytest.raises(KeyboardInterrupt):
        pretrain(tmp_path / "cut", TINY, data=bench, progress=False, **RUN)
    monkeypatch.setattr(train_module, "train_step", real_step)
    with pytest.raises(ValueError, match="--resume"):
        pretrain(tmp_path / "cut", TINY, data=bench, progress=False, **RUN)
    with pytest.raises(ValueError, match="other settings"):
        pretrain(tmp_path / "cut", replace(TINY, lr=1e-3), data=bench, resume=True, **RUN)
    summary = pretrain(tmp_path / "cut", TINY, data=bench, resume=True, progress=False, **RUN)
    assert summary["steps_run_now"] == TINY.steps - 2  # resumed from the step-2 checkpoint
    whole = load_file(str(tmp_path / "whole" / "model.safetensors"))
    cut = load_file(str(tmp_path / "cut" / "model.safetensors"))
    assert whole.keys() == cut.keys()
    assert all(torch.equal(whole[k], cut[k]) for k in whole)


def test_cli_runs_and_reports_bad_input(tmp_path, bench, capsys):
    from evclip.cli.main import main

    out = tmp_path / "cli"
    args = ["--tiny", "--steps", "2", "--batch-size", "10", "--eval-images", "10", "--quiet"]
    assert main(["pretrain-clip", str(out), "--data", str(bench), *args]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["heldout"]["digit"]["chance"] == pytest.approx(1 / 3, abs=1e-3)
    assert (out / "model.safetensors").is_file() and (out / "preprocessor_config.json").is_file()
    assert main(["pretrain-clip", str(tmp_path / "x"), "--data", str(tmp_path), *args]) == 2
    assert "manifest.json" in capsys.readouterr().err
    assert main(["pretrain-clip", str(out), "--data", str(bench), *args]) == 2
    assert "--resume" in capsys.readouterr().err


def test_shipped_tiny_bench_names_digits_and_colours_zero_shot():
    """The shipped model, through load_clip, on 100 freshly rendered held-out stills."""
    from evclip.backbones import load_clip
    from evclip.pretrain import evaluate
    from evclip.pretrain.data import BACKGROUND_NAMES

    assert (SHIPPED / "model.safetensors").is_file(), "the shipped tiny CLIP is missing"
    info = json.loads((SHIPPED / "pretrain.json").read_text())
    pairs = world_from_manifest(info["settings"]["data"])  # its own train / held-out split
    clip = load_clip("evclip-tiny-bench")
    images, records = heldout_set(pairs, 100, seed=12345)  # not the seeds used in training
    classes = evaluate.combinations(pairs.colours, pairs.digits, BACKGROUND_NAMES)
    with torch.no_grad():
        image_embeds = clip.encode_image(clip.preprocess(images))
        text_embeds = evaluate.class_embeddings(clip.encode_text, classes)
    scale = float(clip.logit_scale.detach().exp())
    result = evaluate.attribute_accuracy(image_embeds, records, classes, text_embeds, scale)
    # measured on these 100 images: colour 1.0, digit 0.89, background 0.64 (chance 1/6, 1/5, 1/4)
    assert result["colour"]["accuracy"] >= 0.9
    assert result["digit"]["accuracy"] >= 0.7
    assert result["background"]["accuracy"] >= 0.4
