"""Probe ``lr_scale`` (002, section 6.2): training loss with the tuned learning rate scaled.

Paper 002 multiplies each network's tuned learning rate by 0.01, 1, 10 and 100, keeps everything else,
and plots the training loss over 20 epochs: ×0.01 barely moves, ×100 is unstable.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from tunelab.probes.base import ProbeResult, load_data, resolve_base, run_variants

NAME = "lr_scale"
TITLE = "Training loss with the tuned learning rate scaled"
DEFAULT_FACTORS = (0.01, 1.0, 10.0, 100.0)


def compute(
    base: Any,
    data_dir: str | Path | None = None,
    *,
    overrides: tuple[str, ...] = (),
    epochs: int | None = None,
    factors: Sequence[float] = DEFAULT_FACTORS,
) -> ProbeResult:
    """One run per factor; one row per factor and epoch: ``factor``, ``initial_lr`` (tuned × factor), the
    history's columns (``lr`` is the epoch's learning rate under the schedule).

    A run whose loss becomes NaN or infinite stops there, with ``status`` diverged.
    """
    resolved = resolve_base(base, overrides, epochs)
    tuned = resolved.config.train.optimizer.lr
    variants = {f"{f:g}": {"train.optimizer.lr": tuned * f} for f in factors}
    table = run_variants(resolved.config, variants, load_data(resolved.config, data_dir), "factor")
    table["factor"] = table["factor"].astype(float)
    table.insert(1, "initial_lr", table["factor"] * tuned)
    options = {"factors": list(factors), "tuned_lr": tuned}
    return ProbeResult(NAME, TITLE, table, summarize(table), resolved.source, options)


def summarize(table: pd.DataFrame) -> pd.DataFrame:
    """By factor: the first and last training loss, the last validation accuracy, the status."""
    return (
        table.groupby("factor", sort=False)
        .agg(
            initial_lr=("initial_lr", "first"),
            first_loss=("train_loss", "first"),
            last_loss=("train_loss", "last"),
            val_accuracy=("val_accuracy", "last"),
            epochs=("epoch", "max"),
            status=("status", "first"),
        )
        .reset_index()
    )
