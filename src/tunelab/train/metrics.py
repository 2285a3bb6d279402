"""Classification metrics, computed from a confusion matrix built on the device."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch

SCALAR_METRICS = ("accuracy", "loss", "f1", "precision", "recall")
"""The scalar metrics of a split, in the order tables show them (one list for the whole package)."""


@dataclass(frozen=True)
class Metrics:
    """Accuracy, mean cross-entropy, macro and per-class precision/recall/F1 and the confusion matrix.

    ``confusion[i][j]`` counts images of true class ``i`` predicted as ``j``. A class that is never
    predicted (or never present) has precision (or recall) 0, as scikit-learn's ``zero_division=0``.
    """

    accuracy: float
    loss: float
    precision: float
    recall: float
    f1: float
    per_class: dict[str, list[float]]
    confusion: list[list[int]]
    n: int

    def to_dict(self) -> dict[str, object]:
        return asdict(self)

    def summary(self) -> dict[str, float]:
        """The scalar metrics only."""
        return {name: getattr(self, name) for name in SCALAR_METRICS}


def confusion_matrix(targets: torch.Tensor, predictions: torch.Tensor, n_classes: int) -> torch.Tensor:
    """An (n_classes, n_classes) count matrix, computed with one ``bincount`` on the tensors' device."""
    flat = targets.long() * n_classes + predictions.long()
    return torch.bincount(flat, minlength=n_classes * n_classes).reshape(n_classes, n_classes)


def metrics_from_confusion(confusion: np.ndarray, loss: float) -> Metrics:
    confusion = np.asarray(confusion, dtype=np.int64)
    true_pos = np.diag(confusion).astype(float)
    predicted = confusion.sum(axis=0)
    actual = confusion.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(predicted > 0, true_pos / predicted, 0.0)
        recall = np.where(actual > 0, true_pos / actual, 0.0)
        f1 = np.where(precision + recall > 0, 2 * precision * recall / (precision + recall), 0.0)
    n = int(confusion.sum())
    return Metrics(
        accuracy=float(true_pos.sum() / n) if n else float("nan"),
        loss=loss,
        precision=float(precision.mean()),
        recall=float(recall.mean()),
        f1=float(f1.mean()),
        per_class={
            "precision": precision.tolist(),
            "recall": recall.tolist(),
            "f1": f1.tolist(),
            "support": actual.astype(float).tolist(),
        },
        confusion=confusion.tolist(),
        n=n,
    )
