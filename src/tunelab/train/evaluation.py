"""Measure a model on a split: loss, accuracy and the confusion matrix, in batches sized for the device."""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from tunelab.train.metrics import Metrics, confusion_matrix, metrics_from_confusion

EVAL_BYTES = 128 * 2**20  # a CPU evaluates fastest with about this much layer output per batch


def eval_batch_size(
    model: nn.Module, x: torch.Tensor, configured: int | None = None, members: int = 1
) -> int:
    """Images per evaluation batch of ``model`` (``members`` networks at once) on ``x``: ``configured``,
    else 4096 off a CPU, and on a CPU as many as keep all its layers' outputs near 128 MB. Batches
    larger than that spend their time in page faults: a CNN evaluates 2.6× faster on a CPU at 64
    images a batch than at 4096 (BENCHMARKS.md), an MLP fastest at 4096."""
    if configured is not None:
        return configured
    if x.device.type != "cpu":
        return 4096
    total = 0

    def count(module: nn.Module, inputs: Any, output: Any) -> None:
        nonlocal total
        if isinstance(output, torch.Tensor):
            total += output.numel() * output.element_size()

    hooks = [m.register_forward_hook(count) for m in model.modules() if not any(m.children())]
    training = model.training
    try:
        model.eval()
        with torch.no_grad():
            model(x[:1])
    finally:
        for hook in hooks:
            hook.remove()
        model.train(training)
    fits = EVAL_BYTES // max(1, total * members)
    return min(4096, max(32, 2 ** int(math.log2(max(1, fits)))))


@torch.no_grad()
def evaluate(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, n_classes: int, batch_size: int | None = None
) -> Metrics:
    """Loss, accuracy, precision/recall/F1 and confusion matrix of ``model`` on ``(x, y)``, in batches
    of ``batch_size`` images (default: :func:`eval_batch_size`)."""
    batch_size = eval_batch_size(model, x, batch_size)
    model.eval()
    loss_sum = torch.zeros((), device=x.device, dtype=torch.float64)
    confusion = torch.zeros(n_classes, n_classes, dtype=torch.long, device=x.device)
    for start in range(0, len(y), batch_size):
        logits = model(x[start : start + batch_size]).float()
        target = y[start : start + batch_size]
        loss_sum += F.cross_entropy(logits, target, reduction="sum").double()
        confusion += confusion_matrix(target, logits.argmax(dim=1), n_classes)
    loss = loss_sum.item() / max(1, len(y))
    return metrics_from_confusion(confusion.cpu().numpy(), loss)
