"""Multi-epoch training-loop stand-in with DataLoader worker processes, run by
test_datasets_workers.py in a subprocess under a timeout (a deadlock hangs, so the test must be
able to kill it).

Between epochs the main process runs a torch matmul and loads one ``.npz`` sample, as a training
loop does, which once left forked workers waiting forever in an OpenMP barrier. Prints one JSON
line: per loader, the number of samples each epoch and each sample's event-image digest per
epoch; for make_dataloader also the digests the main process computes for each (epoch, index).

Usage: ``python dataset_loader_script.py ROOT [plain|make]...``
"""

from __future__ import annotations

import hashlib
import json
import sys

import torch
from torch.utils.data import DataLoader

from evclip.datasets import collate_samples, get_dataset, make_dataloader
from evclip.representations import _kernels

EPOCHS = 2


def digest(frames: torch.Tensor) -> str:
    """A short fingerprint of a sample's event images."""
    return hashlib.sha1(frames.numpy().tobytes()).hexdigest()[:16]


def run_epochs(loader, dataset, other) -> dict[str, list]:
    """Iterate ``loader`` for EPOCHS epochs, with OpenMP work in this process between them."""
    counts, digests = [], []
    for epoch in range(EPOCHS):
        dataset.set_epoch(epoch)
        seen = {}
        for batch in loader:
            for path, events in zip(batch["path"], batch["events"], strict=True):
                seen[path] = digest(events)
        counts.append(len(seen))
        digests.append([seen[ref.path] for ref in dataset.samples])
        torch.ones(500, 500) @ torch.ones(500, 500)  # starts torch's OpenMP pool here
        other[0]  # a sample loaded in the main process: numba kernels and torch copies
    return {"counts": counts, "digests": digests}


def expected_digests(dataset) -> list[list[str]]:
    """The event-image digests of every sample and epoch, loaded here."""
    return [
        [digest(dataset.load(i, epoch)["events"]) for i in range(len(dataset))]
        for epoch in range(EPOCHS)
    ]


def main(root: str, modes: list[str]) -> None:
    torch.set_num_threads(2)  # an OpenMP pool in the parent even on a one-core machine
    # the numba kernels in both processes, as long streams get them (these short ones would not)
    _kernels.USE_NUMBA = _kernels.NUMBA_INSTALLED
    png = get_dataset("synthetic", root=root, split="train")
    npz = get_dataset("synthetic", root=root, split="train", source="npz", train=True)
    npz[0]  # the second repro of the issue: one sample in the main process before the loader
    result: dict[str, dict] = {}
    if "plain" in modes:  # the user's loop: torch's DataLoader, fork, workers restarted per epoch
        for name, dataset in (("plain_png", png), ("plain_npz", npz)):
            loader = DataLoader(dataset, batch_size=3, num_workers=2, collate_fn=collate_samples)
            result[name] = run_epochs(loader, dataset, npz)
    if "make" in modes:
        loader = make_dataloader(npz, batch_size=3, num_workers=2, shuffle=True, seed=1)
        result["make"] = run_epochs(loader, npz, npz)
        result["make"]["expected"] = expected_digests(npz)
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
