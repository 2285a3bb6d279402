"""A study's trials in its storage, through Optuna's public API: what ask/tell does not do itself.

A worker fails (and queues again) the running trial of a process that died, queues a trial again as
the storage's :class:`~tunelab.search.storage.RetryPolicy` says, keeps a heartbeat for the trials it
trains, and finds the chain of retries a trial belongs to. ``optuna.Study`` knows trials by
number; the storage's methods take a trial id, which the storage's public
``get_trial_id_from_study_id_trial_number`` gives for a number (and ``get_study_id_from_name`` the
study id). The storage is the ``RDBStorage`` that :func:`tunelab.search.storage.open_storage` made
and the study handle keeps, not the study's private one.
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Callable, Mapping
from typing import Any

import optuna
from optuna.distributions import BaseDistribution
from optuna.trial import FrozenTrial, TrialState

from tunelab.search.record import TrialRecord, trial_attrs
from tunelab.search.storage import Heartbeat, RetryPolicy


class TrialStore:
    """Trials of ``study`` by number, read and written through ``storage`` (the study's own storage)."""

    def __init__(self, study: optuna.Study, storage: optuna.storages.RDBStorage) -> None:
        self.study, self.storage = study, storage
        self.study_id = storage.get_study_id_from_name(study.study_name)

    def trial_id(self, number: int) -> int:
        return self.storage.get_trial_id_from_study_id_trial_number(self.study_id, number)

    def get(self, number: int) -> FrozenTrial:
        """The trial as the storage holds it now."""
        return self.storage.get_trial(self.trial_id(number))

    @property
    def policy(self) -> RetryPolicy:
        """The storage's stale-trial callback, as ``open_storage`` set it up."""
        policy = self.storage.get_heartbeat_stale_trial_callback()
        assert isinstance(policy, RetryPolicy)
        return policy

    def fail(self, number: int, outcome: str, reason: str) -> None:
        """Fail a running trial whose process died or stopped (``outcome`` one of ``DEATHS``) and queue
        it to run again.

        The retry policy enqueues the retry, as it does for a trial whose heartbeat stopped; a trial
        that another process finished meanwhile is left as it is.
        """
        trial_id = self.trial_id(number)
        with contextlib.suppress(optuna.exceptions.UpdateFinishedTrialError):
            for key, value in trial_attrs(outcome=outcome, reason=reason).items():
                self.storage.set_trial_user_attr(trial_id, key, value)
            if self.storage.set_trial_state_values(trial_id, state=TrialState.FAIL):
                callback = self.storage.get_heartbeat_stale_trial_callback()
                if callback is not None:
                    callback(self.study, self.storage.get_trial(trial_id))

    def fail_dead(self, died: Callable[[Any], str | None]) -> None:
        """Fail (and queue again) the running trials of this machine whose worker process is gone:
        ``died(pid)`` is the reason for such a pid, None for a live one."""
        host = socket.gethostname()
        for trial in self.study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
            worker = TrialRecord.from_trial(trial).worker or {}
            if worker.get("host") == host and (reason := died(worker.get("pid"))) is not None:
                self.fail(trial.number, "worker_died", reason)

    def requeue(self, number: int, *, fresh: bool = False) -> None:
        """Queue the failed trial ``number`` to run again (its failures forgotten when ``fresh``)."""
        self.policy.requeue(self.study, self.get(number), fresh=fresh)

    def fixed_params(self, number: int) -> dict[str, Any]:
        """The parameters a trial was enqueued with (Optuna keeps them in its system attributes)."""
        return dict(self.get(number).system_attrs.get("fixed_params") or {})

    def set_params(self, number: int, params: Mapping[str, tuple[Any, BaseDistribution]]) -> list[str]:
        """Record parameters that no sampler drew, each ``(value, distribution)``; the names set.

        A name that the storage refuses (another worker recorded it under other choices meanwhile)
        is left out.
        """
        trial_id, done = self.trial_id(number), []
        for name, (value, distribution) in params.items():
            with contextlib.suppress(ValueError):
                self.storage.set_trial_param(
                    trial_id, name, distribution.to_internal_repr(value), distribution
                )
                done.append(name)
        return done

    def first_of_chain(self, number: int) -> int:
        """The number of the first trial of a chain of retries (the key of its checkpoints)."""
        first = self.get(number).system_attrs.get("failed_trial")  # set by Optuna's retry callback
        return int(first) if first is not None else number

    def heartbeat(self, number: int) -> Heartbeat:
        """A heartbeat for a trial this process trains (use it as a context manager)."""
        return Heartbeat(self.storage, self.trial_id(number))
