"""DataLoader worker processes: no deadlock over epochs, make_dataloader's seeding and epochs."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from dataset_fixtures import write_tiny_benchmark

from evclip.datasets import EpochKeySampler, get_dataset, make_dataloader

SCRIPT = Path(__file__).with_name("dataset_loader_script.py")
TIMEOUT_S = 120  # the loops take a few seconds; a deadlock never ends


def run_script(root: Path, *modes: str) -> dict:
    """Run dataset_loader_script.py in its own process group; kill the group on timeout."""
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_THREADING_LAYER"}
    env["NUMBA_NUM_THREADS"] = "2"  # numba's OpenMP layer would start two threads
    proc = subprocess.Popen(
        [sys.executable, str(SCRIPT), str(root), *modes],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        start_new_session=True,  # its workers too, so that a hang leaves no orphans
    )
    try:
        out, err = proc.communicate(timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        pytest.fail(f"DataLoader loop with workers did not finish in {TIMEOUT_S} s (deadlock)")
    assert proc.returncode == 0, err[-3000:]
    return json.loads(out.strip().splitlines()[-1])


def test_worker_loops_survive_torch_and_numba_work_between_epochs(tmp_path):
    root = write_tiny_benchmark(tmp_path / "bench")
    result = run_script(root, "plain", "make")
    for name in ("plain_png", "plain_npz", "make"):
        assert result[name]["counts"] == [8, 8], name
    # persistent workers still follow set_epoch: each epoch its own frame offsets
    make = result["make"]
    assert make["digests"] == make["expected"]
    assert make["digests"][0] != make["digests"][1]
    assert make["digests"] == result["plain_npz"]["digests"]


@pytest.fixture
def bench(tmp_path) -> Path:
    return write_tiny_benchmark(tmp_path / "bench", size=16)


def test_make_dataloader_shuffle_is_seeded_and_changes_per_epoch(bench):
    ds = get_dataset("synthetic", root=bench, split="train", num_frames=2)

    def orders(seed):
        loader = make_dataloader(ds, batch_size=4, shuffle=True, seed=seed)
        return [[p for batch in loader for p in batch["path"]] for _ in range(2)]

    first, again, other = orders(0), orders(0), orders(1)
    assert first == again and first != other
    assert first[0] != first[1] and sorted(first[0]) == sorted(ref.path for ref in ds.samples)
    plain = make_dataloader(ds, batch_size=3, drop_last=True)
    assert [p for batch in plain for p in batch["path"]] == [r.path for r in ds.samples[:6]]
    assert torch.equal(next(iter(plain))["label"], torch.tensor([0, 1, 0]))


def test_make_dataloader_sends_epoch_keys_for_event_datasets(bench):
    ds = get_dataset("synthetic", root=bench, split="train", source="npz", num_frames=2)
    sampler = EpochKeySampler(range(3), ds)
    ds.set_epoch(4)
    assert list(sampler) == [(4, 0), (4, 1), (4, 2)] and len(sampler) == 3
    assert list(EpochKeySampler([(1, 2)], ds)) == [(1, 2)]  # keys already paired pass through
    sample = ds[(7, 1)]
    assert torch.equal(sample["events"], ds.load(1, 7)["events"])
    assert not torch.equal(sample["events"], ds.load(1, 4)["events"])
    assert ds.epoch == 4  # a key's epoch does not change the dataset's


def test_make_dataloader_arguments(bench):
    ds = get_dataset("synthetic", root=bench, split="train", num_frames=2)
    with pytest.raises(ValueError, match="either shuffle=True or a sampler"):
        make_dataloader(ds, batch_size=2, shuffle=True, sampler=range(3))
    with pytest.raises(ValueError, match="num_workers"):
        make_dataloader(ds, batch_size=2, num_workers=-1)
    single = make_dataloader(ds, batch_size=None, sampler=[2])
    assert [s["path"] for s in single] == [ds.samples[2].path]
    with_workers = make_dataloader(ds, batch_size=2, num_workers=1)
    assert with_workers.persistent_workers
    assert with_workers.multiprocessing_context.get_start_method() in ("forkserver", "spawn")
    restarted = make_dataloader(ds, batch_size=2, num_workers=1, persistent_workers=False)
    assert not restarted.persistent_workers
