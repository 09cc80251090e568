"""Engine under torchrun: 2 gloo processes train identical weights and evaluate every sample
exactly once (odd split sizes, so one rank has one sample more than the other)."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from engine_helpers import ToyDataset

from evclip.engine.evaluate import predict_dataset
from evclip.engine.pretrained import from_pretrained

TESTS = Path(__file__).resolve().parent

SCRIPT = """
import sys
sys.path.insert(0, {tests!r})
from engine_helpers import ddp_main
ddp_main({out!r}, {overrides!r})
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_torchrun_two_ranks_identical_weights_and_every_test_sample_once(tmp_path):
    overrides = ["data.options={size: 7}", "data.batch_size=2", "optim.epochs=2"]
    # a frozen backbone and fixed frames: every split goes through the sharded feature cache
    overrides += ["method.args={frozen_backbone: true}", "data.random_frames=false"]
    script = tmp_path / "rank.py"
    script.write_text(SCRIPT.format(tests=str(TESTS), out=str(tmp_path), overrides=overrides))
    command = [
        sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--nnodes=1",
        "--master_addr=127.0.0.1", f"--master_port={_free_port()}", str(script),
    ]  # fmt: skip
    proc = subprocess.run(command, capture_output=True, text=True, timeout=220)
    assert proc.returncode == 0, proc.stderr[-3000:]
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    # DDP kept both replicas identical through every step
    assert ranks[0]["weights"].keys() == ranks[1]["weights"].keys()
    for key in ranks[0]["weights"]:
        assert ranks[0]["weights"][key] == ranks[1]["weights"][key], key
    # 7 test samples split 4 + 3 over the ranks, gathered: each index exactly once
    for rank in ranks:
        assert rank["indices"] == list(range(7))
        assert rank["labels"] == [i % 3 for i in range(7)]
        assert rank["results"]["test"]["num_samples"] == 7
        assert rank["results"]["val"]["num_samples"] == 7
    assert ranks[0]["logits"] == ranks[1]["logits"]
    # the gathered predictions are those of one process over the whole split
    model = from_pretrained(ranks[0]["results"]["model_dir"])
    alone = predict_dataset(model, ToyDataset(str(tmp_path), "test", size=7), batch_size=3)
    np.testing.assert_allclose(alone.logits, np.array(ranks[0]["logits"]), rtol=1e-5, atol=1e-6)
    # only rank 0 wrote logs and checkpoints; each rank filled its shard of every split's cache
    assert (tmp_path / "log.jsonl").is_file() and (tmp_path / "model").is_dir()
    caches = sorted((tmp_path / "cache").iterdir())
    assert len(caches) == 3
    for cache in caches:
        info = json.loads((cache / "complete.json").read_text())
        assert (info["world"], info["size"]) == (2, 7)
        assert [len(np.load(cache / f"shard-{r}-of-2" / "labels.npy")) for r in (0, 1)] == [4, 3]
