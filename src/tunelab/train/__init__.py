"""Training and evaluation of one configuration; knows nothing of studies or Optuna."""

from __future__ import annotations

from tunelab.train.callbacks import EarlyStopping, EpochCallback
from tunelab.train.loop import TrainResult, evaluate, make_optimizer, resolve_device, train
from tunelab.train.metrics import Metrics
from tunelab.train.schedules import lr_at

__all__ = [
    "EarlyStopping",
    "EpochCallback",
    "Metrics",
    "TrainResult",
    "evaluate",
    "lr_at",
    "make_optimizer",
    "resolve_device",
    "train",
]
