"""Shared pytest fixtures."""

from pathlib import Path

import pytest


@pytest.fixture
def realdata_dir() -> Path:
    """The folder of real recordings beside the repository; skips the test when it is absent."""
    folder = Path(__file__).resolve().parents[1].parent / "shared" / "realdata"
    if not folder.is_dir():
        pytest.skip(f"real data folder {folder} is absent")
    return folder
