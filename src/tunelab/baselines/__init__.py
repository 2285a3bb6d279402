"""Classical scikit-learn baselines (SVMs, KNN, random forest, linear models) on the networks' splits.

``run_baselines(data_cfg, ["svm-rbf", "knn"])`` fits and evaluates them; ``BASELINES`` lists what can
be named; :class:`BaselineResults` saves to and loads from a folder (``results.json``, ``baselines.csv``).
"""

from __future__ import annotations

from tunelab.baselines.registry import BASELINES, BaselineSpec, resolve_models
from tunelab.baselines.results import BaselineResult, BaselineResults
from tunelab.baselines.runner import FlatSplits, evaluate, fit_baseline, run_baselines

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
