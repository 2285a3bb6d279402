"""Probe ``init_scale`` (002, section 6.1): gradient magnitude per layer under three initialisations.

Paper 002 trains each network with weights drawn from a very small range ("slow": uniform on
(-0.001, 0.001)), Xavier uniform ("effective") and a very large range ("fast": uniform on (10, 20)
for the MLP, on (10,000, 20,000) for the CNN and LCNN), biases zero, and compares the mean gradient
magnitudes (its Table 2). Any ranges can be given:
``ranges={"small": {"scheme": "uniform", "low": -0.01, "high": 0.01}, ...}``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from tunelab.config import InitConfig
from tunelab.probes.base import ProbeResult, layer_columns, load_data, resolve_base, run_variants

NAME = "init_scale"
TITLE = "Gradient magnitude per layer by initialisation range"
DEFAULT_RANGES: dict[str, dict[str, Any]] = {
    "slow": {"scheme": "uniform", "low": -0.001, "high": 0.001},
    "effective": {"scheme": "xavier_uniform"},
    "fast": {"scheme": "uniform", "low": 10.0, "high": 20.0},
}
# The paper's "fast" range for its convolutional networks is a thousand times wider.
CONV_RANGES: dict[str, dict[str, Any]] = {
    **DEFAULT_RANGES,
    "fast": {"scheme": "uniform", "low": 10_000.0, "high": 20_000.0},
}


def default_ranges(kind: str) -> dict[str, dict[str, Any]]:
    """The paper's three ranges for a model kind (``mlp``, ``cnn`` or ``lcnn``)."""
    return DEFAULT_RANGES if kind == "mlp" else CONV_RANGES


def compute(
    base: Any,
    data_dir: str | Path | None = None,
    *,
    overrides: tuple[str, ...] = (),
    epochs: int | None = None,
    ranges: Mapping[str, Mapping[str, Any]] | None = None,
) -> ProbeResult:
    """One run per initialisation; the table has one row per initialisation and layer.

    Columns: ``init``, ``scheme``, ``low``, ``high``, ``layer``, ``grad`` (mean |gradient| of the
    layer's weights, averaged over epochs), ``grad_first`` (in the first epoch), ``status``.
    """
    resolved = resolve_base(base, overrides, epochs)
    ranges = ranges or default_ranges(resolved.config.model.kind)
    inits = {label: InitConfig.model_validate(dict(spec)) for label, spec in ranges.items()}
    variants = {label: {"model.init": init.model_dump()} for label, init in inits.items()}
    history = run_variants(resolved.config, variants, load_data(resolved.config, data_dir), "init")
    rows = []
    for label, frame in history.groupby("init", sort=False):
        init = inits[str(label)]
        for column in layer_columns(frame):
            uniform = init.scheme == "uniform"
            rows.append(
                {
                    "init": label,
                    "scheme": init.scheme,
                    "low": init.low if uniform else None,
                    "high": init.high if uniform else None,
                    "layer": column.removeprefix("grad_"),
                    "grad": frame[column].mean(),
                    "grad_first": frame[column].iloc[0],
                    "status": frame["status"].iloc[0],
                }
            )
    table = pd.DataFrame(rows)
    return ProbeResult(NAME, TITLE, table, summarize(table), resolved.source, {"ranges": dict(inits)})


def summarize(table: pd.DataFrame) -> pd.DataFrame:
    """Mean over layers of the per-layer gradient magnitude, by initialisation."""
    return (
        table.groupby("init", sort=False).agg(grad=("grad", "mean"), status=("status", "first")).reset_index()
    )
