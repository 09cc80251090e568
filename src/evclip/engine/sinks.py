"""Where training records go: a JSONL file, TensorBoard, and the console.

Only the main process writes (the others get a :class:`RunLog` with ``enabled=False``).
TensorBoard is imported lazily and is optional: without the ``tensorboard`` package the run
goes on with a one-line notice.
"""

from __future__ import annotations

import json
import math
import sys
import time
from pathlib import Path
from typing import Any


def _clean(value: Any) -> Any:
    """JSON-safe value: NaN/inf become None, numpy/torch scalars plain numbers."""
    if hasattr(value, "item") and callable(value.item):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


class RunLog:
    """JSONL log (``log.jsonl``) plus optional TensorBoard events (``tb/``) in ``folder``.

    Each record is ``{"kind": "train" | "eval" | ..., "step": int, "time": float, ...}``.
    """

    def __init__(self, folder: str | Path, *, enabled: bool = True, tensorboard: bool = True):
        self.folder = Path(folder)
        self.enabled = enabled
        self.path = self.folder / "log.jsonl"
        self._writer = None
        self._file = None
        if not enabled:
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        self._file = open(self.path, "a", buffering=1)  # noqa: SIM115 - closed in close()
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:
                print("tensorboard is not installed: no TensorBoard logs", file=sys.stderr)
            else:
                self._writer = SummaryWriter(str(self.folder / "tb"))

    def write(self, kind: str, step: int, values: dict[str, Any]) -> None:
        """Append a record; scalars also go to TensorBoard as ``kind/name``."""
        if not self.enabled or self._file is None:
            return
        record = {"kind": kind, "step": int(step), "time": round(time.time(), 3)}
        record.update({k: _clean(v) for k, v in values.items()})
        self._file.write(json.dumps(record) + "\n")
        if self._writer is not None:
            for name, value in record.items():
                if name in ("kind", "step", "time") or isinstance(value, bool):
                    continue
                if isinstance(value, (int, float)):
                    self._writer.add_scalar(f"{kind}/{name}", value, int(step))

    def flush(self) -> None:
        if self._file is not None:
            self._file.flush()
        if self._writer is not None:
            self._writer.flush()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        if self._writer is not None:
            self._writer.close()
            self._writer = None


def read_log(path: str | Path, kind: str | None = None) -> list[dict[str, Any]]:
    """Records of a ``log.jsonl`` file, optionally only one kind."""
    path = Path(path)
    if not path.is_file():
        return []
    records = []
    for line in path.read_text().splitlines():
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue  # a line cut short by a kill
        if kind is None or record.get("kind") == kind:
            records.append(record)
    return records


class Throughput:
    """Samples per second over a sliding interval."""

    def __init__(self) -> None:
        self.start = time.perf_counter()
        self.samples = 0

    def add(self, n: int) -> None:
        self.samples += int(n)

    def rate(self, reset: bool = True) -> float:
        now = time.perf_counter()
        rate = self.samples / max(now - self.start, 1e-9)
        if reset:
            self.start, self.samples = now, 0
        return rate


def progress_bar(total: int | None, desc: str, *, enabled: bool, initial: int = 0):
    """A tqdm bar (disabled on other ranks or when asked)."""
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, disable=not enabled, initial=initial, dynamic_ncols=True)
