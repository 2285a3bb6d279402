"""Probe ``correlation`` (002, sections 6.4-6.5): each hyperparameter against validation accuracy.

Paper 002 reads the correlation of momentum (-0.56 on the CNN) and dropout (-0.13 on the MLP) with
validation accuracy off its 30 coarse random trials. This probe trains nothing: it reads a study's
random stage (``coarse`` of coarse_to_fine, the one stage of random search; another stage by name)
and gives Spearman's rank correlation of every numeric parameter with the trials' validation
accuracy, with its p-value, and Pearson's correlation (the paper's pandas ``corr``).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tunelab.errors import ConfigError
from tunelab.probes.base import ProbeResult

NAME = "correlation"
TITLE = "Correlation of each hyperparameter with validation accuracy"


def compute(
    base: Any,
    data_dir: str | Path | None = None,
    *,
    overrides: tuple[str, ...] = (),
    epochs: int | None = None,
    stage: str | None = None,
) -> ProbeResult:
    """One row per numeric parameter: ``parameter``, ``spearman``, ``p_value``, ``pearson``, ``n``."""
    from optuna.trial import TrialState
    from scipy import stats

    from tunelab.search import load_study
    from tunelab.search.record import TrialRecord

    if not isinstance(base, str | Path) or not (
        Path(base).is_dir() or Path(base).suffix in (".yaml", ".yml")
    ):
        raise ConfigError("probe correlation reads a study: give a study file or a study's output folder")
    handle = load_study(base)
    stages = handle.stages()
    if stage is not None:
        chosen = [i for i, s in enumerate(stages) if s.name == stage]
        if not chosen:
            known = ", ".join(s.name for s in stages) or "none yet"
            raise ConfigError(f"probe correlation: the study has no stage {stage!r} (stages: {known})")
    else:
        chosen = [i for i, s in enumerate(stages) if s.sampler == "random" and not s.planned]
        chosen = chosen[:1] or list(range(len(stages)))
    trials = [
        t
        for t in handle.study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        if TrialRecord.from_trial(t).stage in chosen
    ]
    accuracy = [TrialRecord.from_trial(t).metric("val_accuracy") for t in trials]
    names = sorted({k for t in trials for k, v in t.params.items() if _numeric(v)})
    rows = []
    for name in names:
        pairs = [
            (float(t.params[name]), float(a))
            for t, a in zip(trials, accuracy, strict=True)
            if name in t.params and _numeric(t.params[name]) and a is not None
        ]
        x, y = np.array([p[0] for p in pairs]), np.array([p[1] for p in pairs])
        varied = len(pairs) >= 3 and np.ptp(x) > 0 and np.ptp(y) > 0
        rho, p_value = stats.spearmanr(x, y) if varied else (math.nan, math.nan)
        pearson = float(np.corrcoef(x, y)[0, 1]) if varied else math.nan
        rows.append(
            {
                "parameter": name,
                "spearman": float(rho),
                "p_value": float(p_value),
                "pearson": pearson,
                "n": len(pairs),
            }
        )
    table = pd.DataFrame(rows, columns=["parameter", "spearman", "p_value", "pearson", "n"])
    source = f"study {handle.spec.name!r}, stage {', '.join(stages[i].name for i in chosen) or '-'}"
    options = {"stage": [stages[i].name for i in chosen], "trials": len(trials)}
    return ProbeResult(NAME, TITLE, table, summarize(table), source, options)


def _numeric(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def summarize(table: pd.DataFrame) -> pd.DataFrame:
    """The parameters, strongest rank correlation first."""
    order = table["spearman"].abs().sort_values(ascending=False, na_position="last").index
    return table.loc[order].reset_index(drop=True)
