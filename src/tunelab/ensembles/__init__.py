"""Ensembles of the best trials of several studies, combined by weighted soft voting (paper 002).

``run_ensemble([handle_a, handle_b])`` loads each study's best trials, computes their class
probabilities once, searches the voting weights on the validation split (:class:`WeightedVote`) and
returns an :class:`EnsembleResult`, which saves to and loads from a folder (``results.json``,
``members.csv``).
"""

from __future__ import annotations

import importlib
from typing import Any

# Resolved on first use, so that `tunelab --help` does not pay for importing torch.
_HOMES = {
    "EnsembleResult": "results",
    "Member": "members",
    "MemberResult": "results",
    "Probabilities": "members",
    "WeightedVote": "weights",
    "check_same_split": "members",
    "load_members": "members",
    "predict_members": "members",
    "run_ensemble": "voting",
}


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module 'tunelab.ensembles' has no attribute {name!r}")
    return getattr(importlib.import_module(f"tunelab.ensembles.{_HOMES[name]}"), name)


__all__ = [
    "EnsembleResult",
    "Member",
    "MemberResult",
    "Probabilities",
    "WeightedVote",
    "check_same_split",
    "load_members",
    "predict_members",
    "run_ensemble",
]
