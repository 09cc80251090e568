"""Atomic, resumable checkpoints of a pre-training run.

A checkpoint is a folder holding ``model.safetensors`` (the weights) and ``state.pt`` (optimizer
state, step, run settings; readable with ``torch.load(weights_only=True)``). It is written to a
temporary folder and swapped in with renames, so an interruption leaves the previous checkpoint
or the new one, never half of each.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import torch

CHECKPOINT = "checkpoint"


def save_checkpoint(out: Path, model: torch.nn.Module, state: dict[str, Any]) -> Path:
    """Write ``out/checkpoint`` atomically; ``state`` must hold tensors, numbers, strings, lists
    and dicts only (it is read back with ``weights_only=True``)."""
    from safetensors.torch import save_file

    final, tmp, old = out / CHECKPOINT, out / f".tmp-{CHECKPOINT}", out / f".old-{CHECKPOINT}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    weights = {k: v.detach().contiguous().clone() for k, v in model.state_dict().items()}
    save_file(weights, str(tmp / "model.safetensors"), metadata={"step": str(state["step"])})
    torch.save(state, tmp / "state.pt")
    shutil.rmtree(old, ignore_errors=True)
    if final.exists():
        final.rename(old)
    tmp.rename(final)
    shutil.rmtree(old, ignore_errors=True)
    return final


def find_checkpoint(out: Path) -> Path | None:
    """The newest complete checkpoint folder under ``out`` (also one left mid-swap), or None."""
    for name in (CHECKPOINT, f".old-{CHECKPOINT}"):
        folder = out / name
        if (folder / "model.safetensors").is_file() and (folder / "state.pt").is_file():
            return folder
    return None


def load_checkpoint(folder: Path, model: torch.nn.Module) -> dict[str, Any]:
    """Load the weights into ``model`` and return the state (optimizer, step, settings)."""
    from safetensors import safe_open
    from safetensors.torch import load_file

    try:
        state = torch.load(folder / "state.pt", map_location="cpu", weights_only=True)
        with safe_open(str(folder / "model.safetensors"), framework="pt") as handle:
            weights_step = int((handle.metadata() or {}).get("step", -1))
        weights = load_file(str(folder / "model.safetensors"))
    except Exception as err:  # a corrupt file: say which, not a pickle traceback
        raise ValueError(f"{folder}: unreadable checkpoint ({err})") from None
    if weights_step != state.get("step"):
        raise ValueError(
            f"{folder}: weights are from step {weights_step} but state.pt from {state.get('step')}"
        )
    missing, unexpected = model.load_state_dict(weights, strict=False)
    if missing or unexpected:
        raise ValueError(
            f"{folder}/model.safetensors: does not fit this model "
            f"(missing {sorted(missing)[:3]}, unexpected {sorted(unexpected)[:3]})"
        )
    return state
