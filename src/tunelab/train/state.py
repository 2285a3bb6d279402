"""One member's bookkeeping in the training loop, and what a finished run produced.

A :class:`RunState` is what a lone run used to keep in local variables: its seed and batch order,
reduce-on-plateau and early-stopping state, history, best weights, step and time counters, and its
checkpoint (loaded once at the start, saved after the epochs the checkpointer wants). The networks
and optimizers live in an engine (:mod:`tunelab.train.engines`), which hands a member's state over
as a lone run's ``state_dict()``s: so a checkpoint is the same whichever engine wrote it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import torch
from torch import nn

from tunelab.config import PlateauSchedule, RunConfig
from tunelab.data import Splits
from tunelab.models import build_model, count_parameters
from tunelab.train.callbacks import EarlyStopping, EpochCallback, EpochWatcher
from tunelab.train.checkpoint import Checkpointer
from tunelab.train.engines.base import EpochSums
from tunelab.train.evaluation import eval_batch_size, evaluate
from tunelab.train.metrics import Metrics
from tunelab.train.schedules import Plateau, lr_steps

Status = Literal["completed", "early_stopped", "stopped", "diverged"]


@dataclass
class TrainResult:
    """What one run produced. ``history`` has one record per finished epoch."""

    status: Status
    reason: str | None
    history: list[dict[str, float]]
    val: Metrics | None
    test: Metrics | None
    model: nn.Module
    best_epoch: int
    train_time_s: float
    device: str
    n_parameters: int
    checksums: dict[str, str] = field(default_factory=dict)
    resumed_from: int | None = None  # the last epoch of a checkpoint this run continued from
    threads: int | None = None  # CPU threads it trained with (they change float32 sums); None on a GPU

    def summary(self) -> dict[str, object]:
        """Final scalars, as ``tunelab train --json`` prints them."""
        out: dict[str, object] = {
            "status": self.status,
            "reason": self.reason,
            "epochs": len(self.history),
            "best_epoch": self.best_epoch,
            "train_time_s": round(self.train_time_s, 3),
            "device": self.device,
            "n_parameters": self.n_parameters,
            "resumed_from": self.resumed_from,
            "threads": self.threads,
        }
        for split, metrics in (("val", self.val), ("test", self.test)):
            for key, value in (metrics.summary() if metrics else {}).items():
                out[f"{split}_{key}"] = value
        return out


@dataclass
class RunState:
    """One member of a training: everything but its network and optimizer."""

    config: RunConfig
    model: nn.Module  # its own network: initial weights first, its result at the end
    order: torch.Generator  # its batch order
    callbacks: Sequence[EpochCallback]
    checkpoint: Checkpointer | None
    plateau: Plateau | None
    stopper: EarlyStopping | None
    eval_batch: int  # chosen once: its probe runs the model
    saved: dict[str, Any] | None = None  # the checkpoint it continues from; engines load its optimizer
    history: list[dict[str, float]] = field(default_factory=list)
    best_state: dict[str, torch.Tensor] | None = None
    final_state: dict[str, torch.Tensor] | None = None
    status: Status = "completed"
    reason: str | None = None
    step: int = 0  # optimizer steps, those before a resume included
    train_time: float = 0.0
    resumed_from: int | None = None
    watch: EpochWatcher | None = None  # sees each epoch and how the run ended (a progress view)

    @classmethod
    def start(
        cls,
        config: RunConfig,
        splits: Splits,
        device: torch.device,
        callbacks: Sequence[EpochCallback] = (),
        checkpoint: Checkpointer | None = None,
    ) -> RunState:
        """A member as its seed starts it, or as ``checkpoint`` left it (the weights and optimizer
        an engine loads from :attr:`saved`)."""
        tc = config.train
        torch.manual_seed(tc.seed)  # the same seed gives the same initial weights, batches and dropout masks
        model = build_model(config.model, splits.input_shape, splits.n_classes).to(device)
        state = cls(
            config,
            model,
            torch.Generator(device=device).manual_seed(tc.seed),
            callbacks,
            checkpoint,
            Plateau(tc.schedule) if isinstance(tc.schedule, PlateauSchedule) else None,
            EarlyStopping(tc.early_stopping) if tc.early_stopping else None,
            eval_batch_size(model, splits.x_val, tc.eval_batch_size),
        )
        saved = checkpoint.load() if checkpoint else None
        if saved is not None:
            state.resume(saved, device)
        return state

    def resume(self, saved: dict[str, Any], device: torch.device) -> None:
        """Put back the batch order, schedule, early stopping, history and counters of ``saved``."""
        self.saved = saved
        self.order.set_state(saved["order_rng"])
        if self.plateau and saved["plateau"]:
            self.plateau.scale, self.plateau.best, self.plateau.wait = saved["plateau"]
        if self.stopper and saved["stopper"]:
            self.stopper.best, self.stopper.best_epoch, self.stopper.wait = saved["stopper"]
        self.history.extend(saved["history"])
        best = saved["best_state"]
        self.best_state = {k: v.to(device) for k, v in best.items()} if best else None
        self.step, self.train_time, self.resumed_from = saved["step"], saved["train_time"], saved["epoch"]

    @property
    def epoch(self) -> int:
        """Epochs trained, those before a resume included."""
        return len(self.history)

    @property
    def restores_best(self) -> bool:
        """Whether it ends with its best epoch's weights (so the loop keeps them as they come)."""
        return bool(self.stopper and self.stopper.config.restore_best)

    def rates(self, steps_per_epoch: int) -> list[float]:
        """The learning rate of each step of its next epoch."""
        tc = self.config.train
        scale = self.plateau.scale if self.plateau else 1.0
        total = steps_per_epoch * tc.epochs
        rates = lr_steps(tc.schedule, tc.optimizer.lr, self.step, steps_per_epoch, steps_per_epoch, total)
        return [rate * scale for rate in rates]

    def record(
        self, sums: EpochSums, val: tuple[float, float], lr: float, steps: int, seconds: float
    ) -> dict[str, float]:
        """Count an epoch of ``steps`` steps and add its history record."""
        self.step += steps
        self.train_time += seconds
        record = {
            "epoch": self.epoch + 1,
            "train_loss": sums.loss,
            "train_accuracy": sums.accuracy,
            "val_loss": val[0],
            "val_accuracy": val[1],
            "lr": lr,
            "time_s": seconds,
        }
        record |= {f"grad_{name}": g for name, g in sums.grads.items()}
        if self.epoch == self.resumed_from:
            record["resumed"] = 1.0  # the history shows where a rerun picked up
        self.history.append(record)
        return record

    def judge(self, record: dict[str, float]) -> tuple[tuple[Status, str] | None, bool]:
        """An epoch's verdict: divergence, plateau, early stopping, callbacks, in that order.

        Returns ``(status, reason)`` when the run stops now (else None) and whether the monitored
        metric improved (the caller keeps the best weights then).
        """
        epoch, tc = self.epoch, self.config.train
        names = {"train_loss": "train loss", "val_loss": "validation loss"}
        bad = [f"{name} became {record[k]}" for k, name in names.items() if not math.isfinite(record[k])]
        if bad:
            return ("diverged", f"{bad[0]} at epoch {epoch}"), False
        if self.plateau:
            self.plateau.update(record[self.plateau.config.monitor], tc.optimizer.lr)
        improved = False
        if self.stopper:
            improved = self.stopper.improved(epoch, record)
            if self.stopper.should_stop:
                monitor, wait = self.stopper.config.monitor, self.stopper.wait
                return ("early_stopped", f"no {monitor} improvement for {wait} epochs"), improved
        if any([callback(epoch, record) for callback in self.callbacks]):  # every callback sees every epoch
            return ("stopped", f"stopped by a callback after epoch {epoch}"), improved
        return None, improved

    def checkpoint_state(
        self, model_state: dict[str, torch.Tensor], optimizer_state: dict[str, Any]
    ) -> dict[str, Any]:
        """Everything needed to continue after this epoch exactly as if it had not stopped;
        ``model_state`` and ``optimizer_state`` are a lone run's ``state_dict()``s."""
        plateau, stopper = self.plateau, self.stopper
        return {
            "epoch": self.epoch,
            "step": self.step,
            "train_time": self.train_time,
            "model": model_state,
            "optimizer": optimizer_state,
            "order_rng": self.order.get_state(),
            "torch_rng": torch.get_rng_state(),
            "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
            "plateau": [plateau.scale, plateau.best, plateau.wait] if plateau else None,
            "stopper": [stopper.best, stopper.best_epoch, stopper.wait] if stopper else None,
            "history": self.history,
            "best_state": self.best_state,
        }

    def result(self, splits: Splits, device: torch.device, threads: int | None = None) -> TrainResult:
        """Its result: its best (or last) weights, measured on validation and test."""
        model, stopper = self.model, self.stopper
        state = self.best_state or self.final_state
        if state is not None:
            model.load_state_dict(state)

        def measure(x: torch.Tensor, y: torch.Tensor) -> Metrics | None:
            if self.status == "diverged":
                return None
            return evaluate(model, x, y, splits.n_classes, self.eval_batch)

        return TrainResult(
            status=self.status,
            reason=self.reason,
            history=self.history,
            val=measure(splits.x_val, splits.y_val),
            test=measure(splits.x_test, splits.y_test),
            model=model,
            best_epoch=stopper.best_epoch if stopper and stopper.best_epoch else len(self.history),
            train_time_s=self.train_time,
            device=str(device),
            n_parameters=count_parameters(model),
            checksums=dict(splits.checksums),
            resumed_from=self.resumed_from,
            threads=threads,
        )
