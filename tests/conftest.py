"""Shared pytest fixtures."""

import os
from pathlib import Path

# No test may reach for the network: huggingface_hub reads this when it is first imported, and
# subprocesses started by tests inherit it.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"

import pytest


@pytest.fixture
def realdata_dir() -> Path:
    """The folder of real recordings beside the repository; skips the test when it is absent."""
    folder = Path(__file__).resolve().parents[1].parent / "shared" / "realdata"
    if not folder.is_dir():
        pytest.skip(f"real data folder {folder} is absent")
    return folder


def _kernel_paths() -> list[bool]:
    """The representation kernel paths to test: numba (where installed) and numpy."""
    from evclip.representations import _kernels

    return [True, False] if _kernels.NUMBA_INSTALLED else [False]


@pytest.fixture(params=_kernel_paths(), ids=lambda use: "numba" if use else "numpy")
def kernel_path(request, monkeypatch) -> bool:
    """Run a test once with the numba kernels and once with the numpy fallback.

    ``USE_NUMBA = True`` runs numba whatever the stream's size, so the tests' small streams reach
    the numba kernels too (left at ``None``, they would run on numpy).
    """
    from evclip.representations import _kernels

    monkeypatch.setattr(_kernels, "USE_NUMBA", request.param)
    return request.param


@pytest.fixture
def hardvs_root(tmp_path) -> Path:
    """A three-sample HARDVS tree of PNG frame folders (see ``dataset_fixtures.HARDVS_SAMPLES``)."""
    from dataset_fixtures import write_hardvs_tree

    return write_hardvs_tree(tmp_path / "HARDVS")
