"""Hyperparameter studies on Optuna: study files, search spaces, strategies, storage and the runner."""

from __future__ import annotations

from tunelab.search.spec import StudySpec, load_study_spec, validate_study_spec
from tunelab.search.strategies import STRATEGIES
from tunelab.search.study import Observer, StudyHandle, StudyResult, load_study, open_study, run_study

__all__ = [
    "STRATEGIES",
    "Observer",
    "StudyHandle",
    "StudyResult",
    "StudySpec",
    "load_study",
    "load_study_spec",
    "open_study",
    "run_study",
    "validate_study_spec",
]
