"""Training and evaluation of one configuration; knows nothing of studies or Optuna."""

from __future__ import annotations

from tunelab.train.callbacks import EarlyStopping, EpochCallback, EpochWatcher
from tunelab.train.device import resolve_device
from tunelab.train.evaluation import evaluate
from tunelab.train.loop import train
from tunelab.train.metrics import Metrics
from tunelab.train.optim import make_optimizer
from tunelab.train.schedules import lr_at
from tunelab.train.state import TrainResult

__all__ = [
    "EarlyStopping",
    "EpochCallback",
    "EpochWatcher",
    "Metrics",
    "TrainResult",
    "evaluate",
    "lr_at",
    "make_optimizer",
    "resolve_device",
    "train",
]
