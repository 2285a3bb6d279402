"""The seam between the training loop and whatever watches it (a study's pruner, a progress bar).

A callback is any callable ``(epoch, record) -> bool``; returning True stops the run with status
``stopped``. The loop never imports Optuna: a study wraps ``trial.report`` / ``trial.should_prune``
in such a callable. A watcher ``(epoch, record, ended) -> None`` only looks: it sees every epoch,
the last one too (where early stopping or divergence ended the run before the callbacks ran), with
how the run ended on its last epoch; a progress view is one.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from tunelab.config import EarlyStoppingConfig

EpochCallback = Callable[[int, Mapping[str, float]], bool]
"""Called after each epoch with its number and history record; return True to stop training."""
EpochWatcher = Callable[[int, Mapping[str, float], str | None], None]
"""Called after each epoch's verdict with its number, its record and, on the run's last epoch, its
status (``completed``, ``early_stopped``, ``stopped``, ``diverged``); None while it goes on."""


@dataclass
class EarlyStopping:
    """Keras' EarlyStopping: stop after ``patience`` epochs without an improvement over ``min_delta``."""

    config: EarlyStoppingConfig
    best: float = math.inf
    best_epoch: int = 0
    wait: int = 0

    def improved(self, epoch: int, record: Mapping[str, float]) -> bool:
        """Note this epoch's monitored value; True when it is the best so far."""
        value = record[self.config.monitor]
        value = -value if self.config.monitor.endswith("accuracy") else value
        if value < self.best - self.config.min_delta:
            self.best, self.best_epoch, self.wait = value, epoch, 0
            return True
        self.wait += 1
        return False

    @property
    def should_stop(self) -> bool:
        return self.wait >= max(1, self.config.patience)
