"""Probe ``momentum`` (002, section 6.4): gradient magnitude as SGD's momentum goes from 0.5 to 0.99.

Paper 002 finds momentum 0.99 gives much larger (unstable) gradient magnitudes on the CNN, lower values
steady training. The base must use an optimizer with momentum (sgd or rmsprop).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from tunelab.errors import ConfigError
from tunelab.probes.base import ProbeResult, load_data, resolve_base, run_variants

NAME = "momentum"
TITLE = "Gradient magnitude by momentum"
DEFAULT_MOMENTA = (0.5, 0.6, 0.7, 0.8, 0.9, 0.99)


def compute(
    base: Any,
    data_dir: str | Path | None = None,
    *,
    overrides: tuple[str, ...] = (),
    epochs: int | None = None,
    momenta: Sequence[float] = DEFAULT_MOMENTA,
) -> ProbeResult:
    """One run per momentum; one row per momentum and epoch (``momentum``, the history's columns)."""
    resolved = resolve_base(base, overrides, epochs)
    optimizer = resolved.config.train.optimizer.name
    if optimizer not in ("sgd", "rmsprop"):
        raise ConfigError(
            f"probe momentum: the base trains with {optimizer}, which has no momentum; use sgd or rmsprop "
            "(e.g. --set train.optimizer.name=sgd)"
        )
    variants = {f"{m:g}": {"train.optimizer.momentum": float(m)} for m in momenta}
    table = run_variants(resolved.config, variants, load_data(resolved.config, data_dir), "momentum")
    table["momentum"] = table["momentum"].astype(float)
    return ProbeResult(NAME, TITLE, table, summarize(table), resolved.source, {"momenta": list(momenta)})


def summarize(table: pd.DataFrame) -> pd.DataFrame:
    """By momentum: the mean and largest gradient magnitude over the epochs, the last val accuracy."""
    return (
        table.groupby("momentum", sort=False)
        .agg(
            grad=("grad_mean", "mean"),
            grad_max=("grad_mean", "max"),
            val_accuracy=("val_accuracy", "last"),
            status=("status", "first"),
        )
        .reset_index()
    )
