"""Engine: the on-disk feature cache of a frozen backbone (reuse, invalidation, resume)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from engine_helpers import ToyDataset, ToyMethod, toy_config

from evclip.engine.cache import CachedDataset, FeatureCache, cache_folder
from evclip.engine.checkpoint import load_checkpoint
from evclip.engine.config import ConfigError
from evclip.engine.experiment import train_experiment

FROZEN = ["method.args={frozen_backbone: true}", "data.random_frames=false", "optim.epochs=2"]


def _run(tmp_path, name: str, *overrides: str) -> tuple[ToyMethod, dict]:
    seen = {}
    config = toy_config(tmp_path / name, f"data.root={tmp_path}", *FROZEN, *overrides)
    config.run.cache_dir = str(tmp_path / "cache")  # shared by the runs of a test
    results = train_experiment(config, callbacks=[lambda t: seen.setdefault("m", t.method)])
    return seen["m"], results


def test_frozen_backbone_features_are_cached_reused_and_invalidated(tmp_path):
    first, results = _run(tmp_path, "a")
    # train (12), val (12) and test (12) filled in batches of 4; 6 training steps from the cache
    assert first.extract_calls == 9 and first.feature_batches == 6
    folders = sorted(p.name for p in (tmp_path / "cache").iterdir())
    assert len(folders) == 3
    again, results_again = _run(tmp_path, "b")  # a later run reads every split from disk
    assert again.extract_calls == 0 and again.feature_batches == 6
    assert results_again["test"] == results["test"]
    for key, value in load_checkpoint(tmp_path / "a" / "checkpoints").model.items():
        assert torch.equal(value, load_checkpoint(tmp_path / "b" / "checkpoints").model[key])
    frames, _ = _run(tmp_path, "c", "data.num_frames=3")  # other inputs: new features
    assert frames.extract_calls == 9
    weights, _ = _run(tmp_path, "d", "run.seed=9")  # other backbone weights: new features
    assert weights.extract_calls == 9
    assert len(list((tmp_path / "cache").iterdir())) == 9


def test_cached_training_matches_training_on_the_files(tmp_path):
    _run(tmp_path, "cached")
    _run(tmp_path, "files", "run.feature_cache=off")
    cached = load_checkpoint(tmp_path / "cached" / "checkpoints").model
    files = load_checkpoint(tmp_path / "files" / "checkpoints").model
    for key in cached:
        torch.testing.assert_close(cached[key], files[key], rtol=1e-5, atol=1e-6)


def test_random_frames_cache_only_the_evaluation_splits(tmp_path):
    method, _ = _run(tmp_path, "r", "data.random_frames=true")
    assert method.extract_calls == 6 and method.feature_batches == 0


def test_cache_on_refuses_what_cannot_be_cached(tmp_path):
    with pytest.raises(ConfigError, match="data.random_frames=false"):
        _run(tmp_path, "x", "run.feature_cache=on", "data.random_frames=true")
    with pytest.raises(ConfigError, match="no feature cache key"):
        _run(tmp_path, "y", "run.feature_cache=on", "method.args={frozen_backbone: false}")


class _Failing(ToyMethod):
    """Extraction fails after ``fail_after`` batches (a killed fill)."""

    fail_after = 10**9

    def extract_features(self, batch):
        if self.extract_calls >= self.fail_after:
            raise RuntimeError("killed")
        return super().extract_features(batch)


def test_interrupted_fill_resumes_and_reads_back_memory_mapped(tmp_path):
    method = _Failing(frozen_backbone=True)
    method.set_classes(["a", "b", "c"])
    dataset = ToyDataset(str(tmp_path), "test", size=10)
    cache = FeatureCache(cache_folder(tmp_path, dataset, method.feature_cache_key()))
    method.fail_after = 2
    with pytest.raises(RuntimeError, match="killed"):
        cache.fill(method, dataset, batch_size=3)
    assert not cache.complete
    method.fail_after, method.extract_calls = 10**9, 0
    cache.fill(method, dataset, batch_size=3)
    assert cache.complete and method.extract_calls == 2  # rows 6..9 only
    cached = CachedDataset(cache, ["a", "b", "c"])
    assert isinstance(cache._array(0, "pooled"), np.memmap)
    for index in (0, 5, 9):
        sample = cached[index]
        raw = dataset[index]
        batch = {k: v[None] for k, v in raw.items() if k in ("events", "rgb")}
        expected = ToyMethod.extract_features(method, {**batch, "label": [0]})["pooled"][0]
        torch.testing.assert_close(sample["features"]["pooled"], expected)
        assert sample["label"] == raw["label"] and sample["index"] == index


def test_fixed_frames_share_one_folder_whatever_the_seed(tmp_path):
    from evclip.engine.cache import cache_folder

    class Clips(list):
        def __init__(self, seed, train):
            super().__init__(["a", "b"])
            self.samples, self.seed, self.train, self.num_frames = list(self), seed, train, 5

    dataset = Clips

    folder = cache_folder(tmp_path, dataset(0, False), "key")
    assert cache_folder(tmp_path, dataset(7, False), "key") == folder  # centres of segments
    assert cache_folder(tmp_path, dataset(7, True), "key") != cache_folder(
        tmp_path, dataset(0, True), "key"
    )  # random offsets drawn from the seed
    assert cache_folder(tmp_path, dataset(0, False), "other key") != folder


def test_a_second_filler_waits_for_the_first_and_computes_nothing(tmp_path):
    import threading

    inside, go = threading.Event(), threading.Event()

    class Slow(ToyMethod):
        def extract_features(self, batch):
            inside.set()
            assert go.wait(timeout=30)
            return super().extract_features(batch)

    holder, waiter = Slow(frozen_backbone=True), ToyMethod(frozen_backbone=True)
    waiter.load_state_dict(holder.state_dict())  # the same backbone: the same cache folder
    for method in (holder, waiter):
        method.set_classes(["a", "b", "c"])
    dataset = ToyDataset(str(tmp_path), "test", size=6)
    folder = cache_folder(tmp_path, dataset, holder.feature_cache_key())
    assert cache_folder(tmp_path, dataset, waiter.feature_cache_key()) == folder

    def fill(method):
        return threading.Thread(
            target=FeatureCache(folder).fill, args=(method, dataset), kwargs={"batch_size": 3}
        )

    first, second = fill(holder), fill(waiter)
    first.start()  # takes the shard's lock, then waits inside its first batch
    assert inside.wait(timeout=30)
    second.start()
    second.join(timeout=1.0)
    assert second.is_alive() and waiter.extract_calls == 0  # waiting for the lock
    go.set()
    for thread in (first, second):
        thread.join(timeout=30)
        assert not thread.is_alive()
    assert FeatureCache(folder).complete and holder.extract_calls == 2
    assert waiter.extract_calls == 0  # the rows were written: nothing computed twice


def test_a_file_system_without_locks_fills_unlocked(tmp_path, monkeypatch):
    import errno
    import fcntl

    from evclip.engine.cache import exclusive_lock

    def refuse(handle, operation):
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(fcntl, "flock", refuse)
    entered = []
    with exclusive_lock(tmp_path / "x.lock"):
        entered.append(True)
    assert entered == [True]
