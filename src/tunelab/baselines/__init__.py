"""Classical scikit-learn baselines (SVMs, KNN, random forest, linear models) on the networks' splits.

``run_baselines(data_cfg, ["svm-rbf", "knn"])`` fits and evaluates them; ``BASELINES`` lists what can
be named; :class:`BaselineResults` saves to and loads from a folder (``results.json``, ``baselines.csv``).
"""

from __future__ import annotations

import importlib
from typing import Any

# Resolved on first use, so that `tunelab --help` does not pay for importing scikit-learn.
_HOMES = {
    "BASELINES": "registry",
    "BaselineSpec": "registry",
    "resolve_models": "registry",
    "BaselineResult": "results",
    "BaselineResults": "results",
    "FlatSplits": "runner",
    "evaluate": "runner",
    "fit_baseline": "runner",
    "run_baselines": "runner",
}


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module 'tunelab.baselines' has no attribute {name!r}")
    return getattr(importlib.import_module(f"tunelab.baselines.{_HOMES[name]}"), name)


__all__ = [
    "BASELINES",
    "BaselineResult",
    "BaselineResults",
    "BaselineSpec",
    "FlatSplits",
    "evaluate",
    "fit_baseline",
    "resolve_models",
    "run_baselines",
]
