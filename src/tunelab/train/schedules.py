"""Learning-rate schedules as pure functions of the optimizer step.

``lr_at(schedule, base_lr, step, steps_per_epoch, total_steps)`` gives the learning rate for a step,
so a resumed run needs only its step counter. The one schedule that depends on the run's results,
reduce-on-plateau, keeps its state in ``Plateau`` and scales whatever ``lr_at`` returns.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from tunelab.config import (
    ConstantSchedule,
    CosineSchedule,
    ExponentialSchedule,
    OneCycleSchedule,
    PlateauSchedule,
    ScheduleConfig,
    StepSchedule,
    TimeSchedule,
)


def lr_at(
    schedule: ScheduleConfig, base_lr: float, step: int, steps_per_epoch: int, total_steps: int
) -> float:
    """The learning rate for optimizer step ``step`` (0-based) of a run of ``total_steps`` steps."""
    epoch = step // steps_per_epoch
    match schedule:
        case ConstantSchedule() | PlateauSchedule():
            return base_lr
        case StepSchedule(step_size=size, gamma=gamma):
            return base_lr * gamma ** (epoch // size)
        case ExponentialSchedule(gamma=gamma):
            return base_lr * gamma**epoch
        case TimeSchedule(decay=decay):
            return base_lr / (1.0 + decay * step)
        case CosineSchedule(min_lr=min_lr, warmup_epochs=warmup_epochs):
            warmup = round(warmup_epochs * steps_per_epoch)
            if step < warmup:
                return base_lr * (step + 1) / warmup
            progress = (step - warmup) / max(1, total_steps - warmup - 1)
            return min_lr + (base_lr - min_lr) * 0.5 * (1.0 + math.cos(math.pi * min(progress, 1.0)))
        case OneCycleSchedule(pct_start=pct, div_factor=div, final_div_factor=final_div):
            return _one_cycle(base_lr, step, total_steps, pct, div, final_div)
    raise AssertionError(f"unhandled schedule {schedule!r}")


# Schedules whose rate changes only from one epoch to the next (reduce-on-plateau's scale included)
_EPOCHWISE = (ConstantSchedule, PlateauSchedule, StepSchedule, ExponentialSchedule)


def lr_steps(
    schedule: ScheduleConfig, base_lr: float, first: int, n: int, steps_per_epoch: int, total_steps: int
) -> list[float]:
    """``lr_at`` for the ``n`` steps from ``first``: one call an epoch where the rate changes only
    between epochs (a population's table of an epoch's rates is thousands of steps × members)."""
    if not isinstance(schedule, _EPOCHWISE):
        return [lr_at(schedule, base_lr, s, steps_per_epoch, total_steps) for s in range(first, first + n)]
    rates: list[float] = []
    step, end = first, first + n
    while step < end:
        epoch_end = min(end, (step // steps_per_epoch + 1) * steps_per_epoch)
        rates += [lr_at(schedule, base_lr, step, steps_per_epoch, total_steps)] * (epoch_end - step)
        step = epoch_end
    return rates


def _one_cycle(peak: float, step: int, total: int, pct: float, div: float, final_div: float) -> float:
    # Same phases as torch.optim.lr_scheduler.OneCycleLR with anneal_strategy="cos".
    start, end = peak / div, peak / (div * final_div)
    rise = max(1.0, pct * total - 1)
    if step <= rise:
        return _cos_between(start, peak, step / rise)
    return _cos_between(peak, end, min(1.0, (step - rise) / max(1.0, total - 1 - rise)))


def _cos_between(a: float, b: float, fraction: float) -> float:
    return b + (a - b) * 0.5 * (1.0 + math.cos(math.pi * fraction))


@dataclass
class Plateau:
    """Reduce-on-plateau state: ``update`` once per epoch with the monitored value."""

    config: PlateauSchedule
    scale: float = 1.0
    best: float = math.inf
    wait: int = 0

    def update(self, value: float, base_lr: float) -> None:
        # Work on a quantity to minimise, whichever metric is monitored.
        value = -value if self.config.monitor == "val_accuracy" else value
        if value < self.best - self.config.min_delta:
            self.best, self.wait = value, 0
            return
        self.wait += 1
        if self.wait >= self.config.patience:  # Keras' convention: reduce after `patience` flat epochs
            floor = self.config.min_lr / base_lr
            self.scale = max(self.scale * self.config.factor, floor)
            self.wait = 0
