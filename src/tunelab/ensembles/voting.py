"""Weighted soft voting over the best trials of several studies (paper 002's MLP + CNN + LCNN ensemble).

Steps: :func:`load_members` takes the top trials of each study (the first seed's saved run of each),
:func:`predict_members` computes every member's class probabilities on validation and test once,
:class:`WeightedVote` searches the weights on validation only, and :func:`run_ensemble` does all three
and measures the result. The paper drew its weights from hand-set intervals chosen after looking at the
test accuracies; here every weight vector on the simplex can be drawn, and the test split is only
measured, never used to choose.

Each step has its module: :mod:`~tunelab.ensembles.members` (loading and predicting),
:mod:`~tunelab.ensembles.weights` (the weight search), :mod:`~tunelab.ensembles.results` (what is saved).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from tunelab.config.data import SPLIT_FIELDS
from tunelab.ensembles.members import (
    Probabilities,
    load_members,
    predict_members,
)
from tunelab.ensembles.results import EnsembleResult, MemberResult
from tunelab.ensembles.weights import WeightedVote, measure
from tunelab.errors import ConfigError
from tunelab.search.follow import data_dir_of
from tunelab.search.study import StudyHandle, load_study


def run_ensemble(
    studies: Sequence[StudyHandle | str | Path],
    *,
    top: int = 1,
    n_trials: int = 100,
    seed: int = 0,
    storage: str | None = None,
    data_dir: str | Path | None = None,
    device: str = "cpu",
) -> EnsembleResult:
    """Combine the ``top`` best trials of each study by weighted soft voting, weights fitted on validation.

    ``studies`` are open handles, study files or output folders (opened with ``storage``); without
    ``data_dir``, the data is read from where the studies' trials read it.
    """
    if n_trials < 0:
        raise ConfigError(
            f"n_trials must be 0 or more (got {n_trials}): it is the number of random weight vectors"
        )
    handles = [s if isinstance(s, StudyHandle) else load_study(s, storage) for s in studies]
    if not handles:
        raise ConfigError("no study given; name at least one study file or output folder")
    members = load_members(handles, top)
    probs = predict_members(members, data_dir_of(handles, data_dir), device)
    vote = WeightedVote(n_trials, seed).fit(probs.val, probs.y_val)
    results = []
    for member, val, test in zip(members, probs.val, probs.test, strict=True):
        tested = measure(test, probs.y_test)
        results.append(
            MemberResult(
                name=member.name,
                study=member.study,
                trial=member.trial,
                kind=member.kind,
                folder=str(member.folder),
                val_accuracy=measure(val, probs.y_val).accuracy,
                test_accuracy=tested.accuracy,
                test_f1=tested.f1,
            )
        )
    data = members[0].config.data
    return EnsembleResult(
        members=results,
        weights=[float(w) for w in vote.weights_],
        val=measure(vote.predict_proba(probs.val), probs.y_val),
        test=measure(vote.predict_proba(probs.test), probs.y_test),
        n_trials=n_trials,
        seed=seed,
        top=top,
        data={key: getattr(data, key) for key in SPLIT_FIELDS},
        n_val=len(probs.y_val),
        n_test=len(probs.y_test),
        studies=[h.spec.name for h in handles],
        same_models=same_models(probs),
    )


def same_models(probs: Probabilities) -> list[list[str]]:
    """Members whose probabilities are identical on validation and test, grouped: the same model
    (same configuration and seed, e.g. the same first draws of two samplers), counted twice."""
    groups: list[list[int]] = []
    for i in range(len(probs.names)):
        for group in groups:
            j = group[0]
            if np.array_equal(probs.val[i], probs.val[j]) and np.array_equal(probs.test[i], probs.test[j]):
                group.append(i)
                break
        else:
            groups.append([i])
    return [[probs.names[i] for i in group] for group in groups if len(group) > 1]
