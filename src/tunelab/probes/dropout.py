"""Probe ``dropout`` (002, section 6.5): training loss with dropout 0.99 against the tuned rate.

Paper 002 finds dropout barely matters within its search range (correlation -0.13 with validation
accuracy) and only an extreme rate, 0.99, clearly impedes training.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from tunelab.config import CustomModelConfig
from tunelab.errors import ConfigError
from tunelab.probes.base import ProbeResult, describe, load_data, resolve_base, run_variants

NAME = "dropout"
TITLE = "Training loss by dropout rate"
DEFAULT_RATES = (0.99,)


def compute(
    base: Any,
    data_dir: str | Path | None = None,
    *,
    overrides: tuple[str, ...] = (),
    epochs: int | None = None,
    rates: Sequence[float] = DEFAULT_RATES,
) -> ProbeResult:
    """The tuned dropout and each of ``rates`` (applied to every layer); one row per rate and epoch.

    ``dropout`` labels the variant: ``tuned (0.25)`` for the base's own value, else the rate.
    """
    resolved = resolve_base(base, overrides, epochs)
    model, key = resolved.config.model, "model.dropout"
    if isinstance(model, CustomModelConfig):  # a factory's dropout is its parameter, if it has one
        if "dropout" not in model.params:
            raise ConfigError(
                f"probe dropout: model {model.kind!r} has no model.params.dropout to vary; set it in "
                "the study's model.params"
            )
        tuned, key = model.params["dropout"], "model.params.dropout"
    else:
        tuned = model.dropout
    variants: dict[str, dict[str, Any]] = {f"tuned ({describe(tuned)})": {}}
    for rate in rates:
        if float(rate) != tuned:
            variants[f"{float(rate):g}"] = {key: float(rate)}
    table = run_variants(resolved.config, variants, load_data(resolved.config, data_dir), "dropout")
    options = {"rates": list(rates), "tuned": tuned}
    return ProbeResult(NAME, TITLE, table, summarize(table), resolved.source, options)


def summarize(table: pd.DataFrame) -> pd.DataFrame:
    """By rate: the first and last training loss and the last validation accuracy."""
    return (
        table.groupby("dropout", sort=False)
        .agg(
            first_loss=("train_loss", "first"),
            last_loss=("train_loss", "last"),
            val_accuracy=("val_accuracy", "last"),
        )
        .reset_index()
    )
