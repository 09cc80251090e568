"""The training loop: AMP, accumulation, clipping, warmup + cosine, checkpoints, exact resume.

One :class:`Trainer` runs on every rank. It wraps the method's ``training_step`` in a tiny module
so that DDP sees a ``forward``; the method itself is saved and evaluated unwrapped. Checkpoints
are taken only at optimiser-step boundaries, so a resumed run starts from a consistent state:
weights, optimiser, scheduler, GradScaler, every rank's RNG state, the epoch and how many
batches of it were consumed. The data order is a function of (seed, epoch) and the sampler
skips what was consumed, so a run interrupted anywhere and resumed ends with the same weights
as a run that was never interrupted.

Stops: Ctrl-C or SIGTERM asks for a stop after the current optimiser step (a checkpoint is
written, then :class:`TrainingInterrupted`); a second Ctrl-C aborts at once. ``run.max_steps``
stops after that many optimiser steps (the schedule still spans ``optim.epochs``). A NaN or
infinite loss raises :class:`NonFiniteLossError` naming the step, before any update and without
writing a checkpoint, so the last checkpoint on disk is the last good one.

Optional method hooks: ``parameter_groups()`` (see :mod:`evclip.engine.schedule`) and
``after_optimizer_step()`` (called after every optimiser step, e.g. to clamp a temperature).
"""

from __future__ import annotations

import math
import signal
import threading
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import Dataset

from evclip.engine import distributed as D
from evclip.engine.build import autocast_factory
from evclip.engine.checkpoint import (
    MODEL_FILE,
    CheckpointError,
    capture_rng_state,
    load_checkpoint,
    load_model_state,
    prune_checkpoints,
    read_pointer,
    restore_rng_state,
    save_checkpoint,
    set_pointer,
)
from evclip.engine.config import ExperimentConfig
from evclip.engine.data import EpochKeys, batch_size_of, make_loader, move_batch
from evclip.engine.schedule import (
    build_optimizer,
    build_scheduler,
    clip_gradients,
    current_lrs,
)
from evclip.engine.sinks import RunLog, Throughput, progress_bar

Callback = Callable[["Trainer"], None]
Evaluator = Callable[[nn.Module], dict[str, Any]]


class NonFiniteLossError(RuntimeError):
    """The loss became NaN or infinite; the message names the step and the last checkpoint."""


class TrainingInterrupted(KeyboardInterrupt):
    """Training stopped on request after writing a checkpoint (resume with ``--resume``)."""


class TrainingStep(nn.Module):
    """``forward(batch)`` = ``method.training_step(batch)``, so DDP can wrap it."""

    def __init__(self, method: nn.Module) -> None:
        super().__init__()
        self.method = method

    def forward(self, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        return self.method.training_step(batch)


@dataclass
class TrainState:
    """Counters saved in every checkpoint."""

    epoch: int = 0
    batches_done: int = 0  # batches of ``epoch`` consumed (always a whole optimiser step)
    global_step: int = 0  # optimiser steps taken
    best: dict[str, Any] = field(default_factory=dict)


class StopSignals:
    """Turns the first SIGINT/SIGTERM into a request flag; a second SIGINT aborts."""

    def __init__(self) -> None:
        self.requested = False
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> StopSignals:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum: int, frame: Any) -> None:
        if self.requested and signum == signal.SIGINT:
            self.__exit__()
            raise KeyboardInterrupt
        self.requested = True
        if D.is_main_process():
            print("\nstopping after this step (press Ctrl-C again to abort)", flush=True)

    def __exit__(self, *exc: Any) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()


class Trainer:
    """Trains ``method`` on ``train_data`` as ``config`` says (see the module docstring).

    Args:
        method: the built method, already on ``ctx.device`` with its classes set.
        train_data: a dataset whose samples carry ``"index"`` (keys may be ``(epoch, index)``).
        config: the experiment.
        ctx: this process's distributed context.
        log: where records go (disabled on other ranks).
        evaluate: called with the method at evaluation points; returns metrics of the
            validation split (None: no validation, the last checkpoint is kept as the model).
        callbacks: called after every optimiser step with the trainer (must act the same on
            every rank).
        method_name: recorded in checkpoints and checked on resume.
        class_names: recorded in checkpoints (so a checkpoint alone can be evaluated).
    """

    def __init__(
        self,
        method: nn.Module,
        train_data: Dataset,
        config: ExperimentConfig,
        ctx: D.DistContext,
        *,
        log: RunLog,
        evaluate: Evaluator | None = None,
        callbacks: Sequence[Callback] = (),
        method_name: str = "",
        class_names: Sequence[str] | None = None,
    ) -> None:
        self.method = method
        self.config = config
        self.ctx = ctx
        self.log = log
        self.evaluate = evaluate
        self.callbacks = list(callbacks)
        self.method_name = method_name or config.method.name
        self.class_names = list(class_names) if class_names is not None else None
        self.state = TrainState()
        self.checkpoint_dir = Path(config.run.out_dir) / "checkpoints"
        self.autocast = autocast_factory(config.optim.amp, ctx.device)
        self.dataset_size = len(train_data)  # type: ignore[arg-type]
        self.sampler = D.TrainSampler(
            self.dataset_size, rank=ctx.rank, world_size=ctx.world_size, seed=config.run.seed
        )
        self.keys = EpochKeys(self.sampler)
        self.loader = make_loader(
            train_data,
            batch_size=config.data.batch_size,
            sampler=self.keys,
            num_workers=config.data.num_workers,
            seed=config.run.seed,
        )
        self.batches_per_epoch = math.ceil(self.sampler.num_samples / config.data.batch_size)
        self.steps_per_epoch = math.ceil(self.batches_per_epoch / config.optim.accumulate)
        self.total_steps = self.steps_per_epoch * config.optim.epochs
        self.optimizer = build_optimizer(method, config.optim)
        self.scheduler = build_scheduler(
            self.optimizer, config.optim, self.total_steps, self.steps_per_epoch
        )
        use_scaler = config.optim.amp == "fp16"
        self.scaler = torch.amp.GradScaler(ctx.device.type) if use_scaler else None
        self.model: nn.Module = TrainingStep(method)
        self.last_lrs: dict[str, float] = current_lrs(self.optimizer)
        self.last_metrics: dict[str, Any] = {}
        self._window: dict[str, list[float]] = {}
        self._speed = Throughput()
        self._stop: StopSignals | None = None

    # -- public --------------------------------------------------------------------------------
    def fit(self, resume: str | Path | None = None) -> str:
        """Train to the end; returns ``"finished"`` or ``"max_steps"``.

        Raises:
            TrainingInterrupted: after a stop request (a checkpoint was written).
            NonFiniteLossError: on a NaN/inf loss (no checkpoint written).
        """
        if resume is not None:
            self.load(resume)
        if self.ctx.distributed:
            self._wrap_ddp()
        self.method.train()
        with StopSignals() as stop:
            self._stop = stop
            try:
                while self.state.epoch < self.config.optim.epochs:
                    status = self._run_epoch()
                    if status != "epoch":
                        return status
                    self._end_epoch()
            finally:
                self._stop = None
        return "finished"

    def save(self, *, best: bool = False) -> Path | None:
        """Write a checkpoint of the current state (collective: every rank calls it)."""
        rng = D.all_gather_objects(capture_rng_state())
        path = None
        if self.ctx.is_main:
            name = f"step-{self.state.global_step:08d}"
            state = {
                "optimizer": self.optimizer.state_dict(),
                "scheduler": self.scheduler.state_dict(),
                "scaler": self.scaler.state_dict() if self.scaler is not None else {},
                "rng": rng,
                "trainer": asdict(self.state),
                "data": self._data_order(),
            }
            meta = {
                "method": self.method_name,
                "epoch": self.state.epoch,
                "batches_done": self.state.batches_done,
                "global_step": self.state.global_step,
                "metrics": {k: v for k, v in self.last_metrics.items() if _is_number(v)},
                "class_names": self.class_names,
            }
            path = save_checkpoint(self.checkpoint_dir, name, self.method.state_dict(), state, meta)
            if best:
                set_pointer(self.checkpoint_dir, "best", {"dir": name, **self.state.best})
            prune_checkpoints(self.checkpoint_dir, self.config.run.keep_last)
        D.barrier()
        return path

    def load(self, path: str | Path) -> None:
        """Restore everything :meth:`save` wrote (weights, optimiser, RNG, counters)."""
        ckpt = load_checkpoint(path)
        written_by = ckpt.meta.get("method")
        if written_by is not None and written_by != self.method_name:
            raise CheckpointError(
                f"{ckpt.path}: written by method {written_by!r}; this run builds "
                f"{self.method_name!r}"
            )
        load_model_state(self.method, ckpt.model, ckpt.path / MODEL_FILE)
        try:
            self.optimizer.load_state_dict(ckpt.state["optimizer"])
            self.scheduler.load_state_dict(ckpt.state["scheduler"])
            if self.scaler is not None and ckpt.state.get("scaler"):
                self.scaler.load_state_dict(ckpt.state["scaler"])
            self.state = TrainState(**ckpt.state["trainer"])
        except (KeyError, ValueError, TypeError) as err:
            raise CheckpointError(
                f"{ckpt.path}: training state does not fit this run's optimiser: {err}"
            ) from None
        rngs = ckpt.state["rng"]
        restore_rng_state(rngs[self.ctx.rank % len(rngs)])
        self._check_data_order(ckpt.state.get("data", {}), ckpt.path)

    # -- the loop ------------------------------------------------------------------------------
    def _run_epoch(self) -> str:
        """Train the rest of the current epoch; ``"epoch"`` when it ran to its end."""
        epoch, start = self.state.epoch, self.state.batches_done
        batch_size = self.config.data.batch_size
        self.keys.set_epoch(epoch)
        self.sampler.set_start(start * batch_size)
        if self.loader.generator is not None:
            self.loader.generator.manual_seed(self.config.run.seed * 1000 + epoch)
        bar = progress_bar(
            self.batches_per_epoch,
            f"epoch {epoch + 1}/{self.config.optim.epochs}",
            enabled=self.ctx.is_main and self.config.run.progress,
            initial=start,
        )
        try:
            iterator = iter(self.loader)
            for batch_index in range(start, self.batches_per_epoch):
                batch = next(iterator)
                if self._train_batch(batch, batch_index):
                    self.state.batches_done = batch_index + 1
                    status = self._after_step(bar)
                    if status is not None:
                        return status
                bar.update(1)
        finally:
            bar.close()
        return "epoch"

    def _group_size(self, batch_index: int) -> int:
        """Number of batches in the accumulation group of ``batch_index``."""
        accumulate = self.config.optim.accumulate
        first = (batch_index // accumulate) * accumulate
        return min(accumulate, self.batches_per_epoch - first)

    def _train_batch(self, batch: dict[str, Any], batch_index: int) -> bool:
        """Forward + backward of one batch; returns True when it ended an optimiser step."""
        group = self._group_size(batch_index)
        last = (batch_index % self.config.optim.accumulate) == group - 1
        batch = move_batch(batch, self.ctx.device)
        sync = last or not isinstance(self.model, nn.parallel.DistributedDataParallel)
        with nullcontext() if sync else self.model.no_sync():
            with self.autocast():
                out = self.model(batch)
            if "loss" not in out:
                raise KeyError(f"{type(self.method).__name__}.training_step returned no 'loss'")
            loss = out["loss"]
            bad = not bool(torch.isfinite(loss.detach()).all())
            if D.any_rank(bad, self.ctx.device):
                self._non_finite(out, batch_index)
            scaled = loss.float() / group
            (self.scaler.scale(scaled) if self.scaler is not None else scaled).backward()
        for name, value in out.items():
            if isinstance(value, torch.Tensor) and value.numel() == 1:
                self._window.setdefault(name, []).append(float(value.detach()))
        self._speed.add(batch_size_of(batch) * self.ctx.world_size)
        if last:
            self._optimizer_step()
        return last

    def _optimizer_step(self) -> None:
        if self.scaler is not None:
            self.scaler.unscale_(self.optimizer)
        params = [p for g in self.optimizer.param_groups for p in g["params"]]
        norm = clip_gradients(params, self.config.optim.grad_clip)
        if norm is not None:
            self._window.setdefault("grad_norm", []).append(norm)
        self.last_lrs = current_lrs(self.optimizer)
        if self.scaler is not None:
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            self.optimizer.step()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        hook = getattr(self.method, "after_optimizer_step", None)
        if hook is not None:
            hook()
        self.state.global_step += 1

    def _after_step(self, bar: Any) -> str | None:
        """Logging, callbacks, periodic checkpoints and stops after an optimiser step."""
        step, run = self.state.global_step, self.config.run
        if step % max(run.log_every, 1) == 0 or step == 1:
            self._log_train(bar)
        try:
            for callback in self.callbacks:
                callback(self)
        except KeyboardInterrupt as err:  # a callback asked to stop: the state is consistent
            self.save()
            raise TrainingInterrupted(f"stopped at step {step} by a callback: {err}") from None
        stop = self._stop is not None and self._stop.requested
        if D.any_rank(stop, self.ctx.device):
            self.save()
            raise TrainingInterrupted(f"stopped at step {step}; resume with --resume")
        if run.max_steps is not None and step >= run.max_steps:
            self.save()
            return "max_steps"
        if run.save_every and step % run.save_every == 0:
            self.save()
        return None

    def _end_epoch(self) -> None:
        """Advance the epoch, evaluate on the validation split when due, checkpoint."""
        self.state.epoch += 1
        self.state.batches_done = 0
        epoch, run = self.state.epoch, self.config.run
        last = epoch == self.config.optim.epochs
        improved = False
        if self.evaluate is not None and ((run.eval_every and epoch % run.eval_every == 0) or last):
            self.last_metrics = self.evaluate(self.method)
            self.method.train()
            improved = self._track_best(self.last_metrics)
            self.log.write("val", self.state.global_step, {"epoch": epoch, **self.last_metrics})
        self.save(best=improved)

    def _track_best(self, metrics: dict[str, Any]) -> bool:
        name = self.config.run.metric
        value = metrics.get(name)
        if value is None or not _is_number(value):
            raise KeyError(f"run.metric {name!r} is not among the validation metrics")
        if self.state.best and value <= self.state.best["value"]:
            return False
        self.state.best = {"metric": name, "value": float(value), "epoch": self.state.epoch}
        return True

    def _log_train(self, bar: Any) -> None:
        values = {k: sum(v) / len(v) for k, v in self._window.items() if v}
        self._window.clear()
        values["lr"] = self.last_lrs.get("head", next(iter(self.last_lrs.values())))
        if "backbone" in self.last_lrs:
            values["lr_backbone"] = self.last_lrs["backbone"]
        values["samples_per_s"] = self._speed.rate()
        values["epoch"] = self.state.epoch + self.state.batches_done / self.batches_per_epoch
        self.log.write("train", self.state.global_step, values)
        if "loss" in values:
            bar.set_postfix(
                loss=f"{values['loss']:.4f}",
                lr=f"{values['lr']:.2e}",
                sps=f"{values['samples_per_s']:.1f}",
            )

    def _non_finite(self, out: dict[str, Any], batch_index: int) -> None:
        terms = {
            k: float(v.detach())
            for k, v in out.items()
            if isinstance(v, torch.Tensor) and v.numel() == 1
        }
        pointer = read_pointer(self.checkpoint_dir) if self.ctx.is_main else None
        last = f"{self.checkpoint_dir / pointer['dir']}" if pointer else "none written yet"
        message = (
            f"non-finite loss at optimiser step {self.state.global_step + 1} (epoch "
            f"{self.state.epoch + 1}, batch {batch_index + 1}): {terms}; stopped without "
            f"updating; last good checkpoint: {last}"
        )
        self.log.write("error", self.state.global_step, {"message": message})
        self.log.flush()
        raise NonFiniteLossError(message)

    def _data_order(self) -> dict[str, int]:
        return {
            "seed": self.config.run.seed,
            "dataset_size": self.dataset_size,
            "world_size": self.ctx.world_size,
            "batch_size": self.config.data.batch_size,
            "accumulate": self.config.optim.accumulate,
        }

    def _check_data_order(self, saved: dict[str, Any], path: Path) -> None:
        now = self._data_order()
        changed = [f"{k} {saved[k]} -> {now[k]}" for k in now if k in saved and saved[k] != now[k]]
        if changed and self.ctx.is_main:
            print(
                f"warning: resuming {path} with a different data order ({', '.join(changed)}); "
                "the run continues but will not match an uninterrupted one",
                flush=True,
            )

    def _wrap_ddp(self) -> None:
        ids = [self.ctx.device.index] if self.ctx.device.type == "cuda" else None
        self.model = nn.parallel.DistributedDataParallel(
            TrainingStep(self.method),
            device_ids=ids,
            find_unused_parameters=self.config.run.find_unused_parameters,
        )


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)
