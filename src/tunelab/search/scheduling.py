"""What a worker runs next: the current stage, the budget, and the trials it asks for and tells.

Under the study lock a worker recovers trials whose worker died, moves to the next stage when the
current one is finished (a planned stage enqueues all its points then, so a grid point runs exactly
once), checks the budget and asks for trials: one, or several that can train as one population.
After training (without the lock), it takes the lock again to tell each trial's outcome: a trial
that failed is queued again (or not) in the same turn, so no other worker sees its point missing.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, Literal

import optuna
from optuna.distributions import BaseDistribution
from optuna.trial import FrozenTrial, TrialState

from tunelab.config import RunConfig
from tunelab.errors import ConfigError, ModelError
from tunelab.search.execution import Prepared, TrialOutcome
from tunelab.search.record import (
    FAILURES,
    StudyRecord,
    TrialRecord,
    set_study_attrs,
    set_trial_attrs,
    trial_attrs,
)
from tunelab.search.space import pinned_distribution
from tunelab.search.spec import StudySpec
from tunelab.search.strategies import STRATEGIES, Stage, draws_together, final, is_final, make_sampler
from tunelab.search.trial_store import TrialStore
from tunelab.train.population import Padding, population_key

PENDING = (TrialState.WAITING, TrialState.RUNNING)
Action = Literal["ask", "wait", "done"]


def counted(trial: FrozenTrial) -> bool:
    """Whether a trial counts towards the budget (a trial to be run again does not, nor one that
    other code than tunelab made on the same study)."""
    if trial.state not in (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL):
        return False
    record = TrialRecord.from_trial(trial)
    if record.external:
        return False
    return trial.state != TrialState.FAIL or record.gave_up(trial)


def done_trials(trials: Iterable[FrozenTrial]) -> list[FrozenTrial]:
    """The trials that count towards the budget: :func:`counted`, less the final failures whose
    point ``--retry-failed`` ran again (they are in a later trial's chain of retries)."""
    trials = list(trials)
    rerun = {n for t in trials for n in t.system_attrs.get("retry_history", ())}
    return [t for t in trials if counted(t) and t.number not in rerun]


def expected_trials(spec: StudySpec, n_trials: int | None = None) -> int | None:
    """The trials a study counts once it is done: its stages' points and trials up to the trial
    budget, and the final stage's; None when only a timeout ends it. What a progress bar counts to."""
    budget = n_trials or spec.budget.n_trials
    planned: int | None = 0
    for index in range(1000):  # a stage builder given no trials: its size does not depend on them
        stage = STRATEGIES[spec.strategy.name](spec, index, [])
        if stage is None:
            break
        size = len(stage.points) if stage.points is not None else stage.n_trials
        if size is None:
            planned = None
            break
        planned = (planned or 0) + size
    search = min(budget, planned) if budget and planned is not None else budget or planned
    return None if search is None else search + (spec.final.top if spec.final else 0)


DRY_DRAWS = 8  # draws that tell whether a sampled stage's trials can share a population


def padding(setting: bool | str, device: str) -> Padding:
    """How far trials of different MLP architectures are padded to share a population."""
    if setting == "auto":
        # A GPU step at a small batch costs its kernel launches, not its arithmetic: pad any MLPs
        # there. A CPU pays for every padded unit, so only pad what costs nothing (same layer sizes).
        return "any" if device.startswith("cuda") else "free"
    return "any" if setting else "none"


def _stage_of(trial: FrozenTrial) -> int | None:
    return TrialRecord.from_trial(trial).stage


class Schedule:
    """The stages and budget of one study, as one worker (of any number) works through them."""

    def __init__(
        self,
        spec: StudySpec,
        store: TrialStore,
        *,
        n_trials: int | None,
        device: str,
        stackable: Callable[[RunConfig], bool] | None = None,
    ) -> None:
        self.spec, self.store, self.study = spec, store, store.study
        self.n_trials, self.device = n_trials, device
        self.stackable = stackable  # whether a configuration's runs can train as one population
        self.pad = padding(spec.population_padding, device)
        self._samplers: dict[int, optuna.samplers.BaseSampler] = {}
        self._shares_keys: dict[int, bool] = {}  # stage index -> whether its draws can share a population

    # next(), tell() and what they call run under the study lock.
    def next(self) -> tuple[Action, list[Prepared], Stage | None]:
        """Ask for the trials to train next: ``ask`` with a batch, ``wait`` for others, or ``done``."""
        recover(self.store)
        trials = self.study.get_trials(deepcopy=False)
        current = self._stage(trials)
        if current is None:
            return "done", [], None
        index, stage = current
        if stage.planned:
            trials = self.study.get_trials(deepcopy=False)  # it may just have been enqueued
        batch: list[Prepared] = []
        action: Action = "ask"
        own = current
        while not batch or self._batchable(own, batch, trials):
            action = self._room(trials, index, stage)
            if action != "ask":
                break
            self.study.sampler = self._sampler(index, stage, len(trials))
            trial = self.study.ask()
            own = self._own_stage(trial, current)
            worker = {"host": socket.gethostname(), "pid": os.getpid()}
            set_trial_attrs(
                trial, stage=own[0], stage_name=own[1].name, worker=worker, outcome="running", reason=None
            )
            batch.append(self._prepare(trial, own[1]))
            trials = self.study.get_trials(deepcopy=False)
        if not batch:
            return action, [], None
        return "ask", batch, own[1]

    def check_budget(self) -> None:
        """Refuse a trial budget that would extend a search whose final stage has started: the final
        stage trained the best of the search as it was, and the search does not go on after it."""
        raws = StudyRecord.from_study(self.study).stages
        if self.n_trials is None or not any(raw.get("final") for raw in raws):
            return
        searched = sum(not is_final(t) for t in done_trials(self.study.get_trials(deepcopy=False)))
        search = [raw for raw in raws if not raw.get("final")]
        open_ended = any(raw.get("n_points") is None and raw.get("n_trials") is None for raw in search)
        if self.n_trials > searched and open_ended:  # only a budget-bound stage would have gone on
            raise ConfigError(
                f"--n-trials {self.n_trials}: the search of study {self.spec.name!r} ended at {searched} "
                "trials and its final stage has started, so it cannot go on; start a new study with "
                "--out (or another --storage) for a longer search"
            )

    def tell(self, item: Prepared) -> None:
        """Store a trained trial's outcome and finish it in Optuna's terms.

        A trial that failed by itself is queued again while the retry policy allows (``retries``).
        """
        outcome: TrialOutcome | None = item.outcome
        assert outcome is not None
        trial = item.trial
        attrs: dict[str, Any] = {}
        again = False
        if outcome.outcome in FAILURES:
            failures = TrialRecord.from_trial(self.store.get(trial.number)).failures + 1
            again = self.store.policy.again(outcome.outcome, failures)
            attrs = {"failures": failures, "requeued": again}
        set_trial_attrs(
            trial,
            outcome=outcome.outcome,
            reason=outcome.reason,
            runs=outcome.runs,
            metrics=outcome.metrics,
            **attrs,
        )
        value = outcome.value(self.spec.objective.metric)
        if outcome.outcome == "pruned":
            self.study.tell(trial, state=TrialState.PRUNED)
        elif outcome.outcome == "completed" and value is not None:
            self.study.tell(trial, value)
        else:
            self.study.tell(trial, state=TrialState.FAIL)
        if again:
            self.store.requeue(trial.number)

    def _room(self, trials: list[FrozenTrial], index: int, stage: Stage) -> Action:
        """Whether the budget and the stage leave room for one more trial now."""
        if not stage.final and self._spent(trials):
            # An open-ended stage that other workers are finishing hands over to the final stage.
            return "wait" if self.spec.final and stage.n_trials is None and not stage.planned else "done"
        if any(t.state == TrialState.WAITING for t in trials):
            return "ask"  # queued work: planned points and retries, of this stage or an earlier one
        if stage.planned:
            return "wait"  # the rest run elsewhere; one may fail and come back
        mine = [t for t in trials if _stage_of(t) == index]
        started = len(done_trials(mine)) + sum(t.state == TrialState.RUNNING for t in mine)
        if stage.n_trials is not None and started >= stage.n_trials:
            return "wait"  # the next stage needs this one's results
        return "ask"

    def _spent(self, trials: list[FrozenTrial]) -> bool:
        """Whether the search's trial budget is used up (final-stage trials do not count)."""
        if self.n_trials is None:
            return False
        running = [t for t in trials if t.state == TrialState.RUNNING]
        busy = sum(not is_final(t) for t in done_trials(trials) + running)
        return busy >= self.n_trials

    def _batchable(self, own: tuple[int, Stage], batch: list[Prepared], trials: list[FrozenTrial]) -> bool:
        """Whether to ask for one more trial to train with ``batch`` (of stage ``own``) as one population.

        Only where the stage draws trials together (:func:`draws_together`). Of planned points, the
        one that ``ask`` hands out next must be of the same stage and share the batch's population key.
        """
        index, stage = own
        if not draws_together(stage):
            return False
        if not stage.planned and not self._draws_share_keys(index, stage):
            return False  # the next draw would almost surely train alone: leave it to another worker
        key, config = batch[0].key, batch[0].config
        runs = sum(len(p.seeds) for p in batch)
        repeats = stage.repeats or self.spec.repeats
        if key is None or batch[-1].key != key or runs + repeats > self.spec.population:
            return False
        if config is not None and self.stackable is not None:
            try:
                if not self.stackable(config):
                    return False  # a factory's network that cannot be vmapped trains trial by trial
            except ModelError:
                return False  # the factory refuses these settings: the trial fails alone, saying so
        if stage.planned:
            waiting = [t for t in trials if t.state == TrialState.WAITING]
            if not waiting:
                return False
            following = min(waiting, key=lambda t: t.number)  # the one ask hands out next
            # the point of an enqueued trial, where Optuna's enqueue_trial keeps it
            point = following.system_attrs.get("fixed_params")
            same = _stage_of(following) == index
            return same and point is not None and self._point_key(stage, point) == key
        return True

    def _draws_share_keys(self, index: int, stage: Stage) -> bool:
        """Whether two draws of a sampled stage can share a population key (at this padding).

        Asking for one more trial to train with a batch reserves it before its key is known; where
        the space varies the architecture and the padding does not absorb it (a CPU: only MLPs of the
        same layer sizes share a population), it trains alone after the batch, while another worker
        could have trained it at once. Told from :data:`DRY_DRAWS` draws of a throwaway in-memory
        study, never stored: they share a key if any two of them do.
        """
        if index not in self._shares_keys:
            dry = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
            drawn = [self._point_key(stage, stage.space.suggest(dry.ask())) for _ in range(DRY_DRAWS)]
            keys = [key for key in drawn if key is not None]  # None: invalid, its trial fails alone
            self._shares_keys[index] = len(set(keys)) < len(keys)
        return self._shares_keys[index]

    def _stage(self, trials: list[FrozenTrial]) -> tuple[int, Stage] | None:
        """The current stage; starts the next one when the current one has finished.

        While an earlier stage has trials waiting or running (a point queued again by a rerun),
        the study does not move on: the next stage may depend on their results.
        """
        raws = list(StudyRecord.from_study(self.study).stages)
        if raws:
            index, stage = len(raws) - 1, Stage.from_raw(raws[-1])
            mine = [t for t in trials if _stage_of(t) == index]
            pending = any(t.state in PENDING for t in mine)
            if stage.n_trials is None and not stage.planned:
                if pending or not self._spent(trials):
                    return index, stage  # open-ended: runs until the study's budget
            elif pending or (not stage.planned and len(done_trials(mine)) < (stage.n_trials or 0)):
                return index, stage
            earlier = [i for t in trials if t.state in PENDING and (i := _stage_of(t)) is not None]
            if earlier and min(earlier) < index:
                return min(earlier), Stage.from_raw(raws[min(earlier)])
        index = len(raws)
        following = STRATEGIES[self.spec.strategy.name](self.spec, index, trials)
        if following is None and not any(raw.get("final") for raw in raws):
            following = final(self.spec, trials)  # after the search: its best again on fresh seeds
        if following is None:
            return None
        raws.append(following.to_raw())
        set_study_attrs(self.study, stages=raws)
        attrs = trial_attrs(stage=index, stage_name=following.name)
        if following.final:
            attrs |= trial_attrs(final=True)
        for point in self._by_population(following):
            self.study.enqueue_trial(point, user_attrs=attrs)
        return index, following

    def _own_stage(self, trial: optuna.Trial, current: tuple[int, Stage]) -> tuple[int, Stage]:
        """The stage of a trial ``ask`` handed out: the one it was queued in, else the current one."""
        index = TrialRecord.from_trial(trial).stage  # type: ignore[arg-type]
        if index is None or index == current[0]:
            return current
        return index, Stage.from_raw(StudyRecord.from_study(self.study).stages[index])

    def _by_population(self, stage: Stage) -> list[dict[str, Any]]:
        """The stage's points, those that can train as one population next to each other.

        A worker takes consecutive waiting trials of one population key (``_batchable``): a grid
        whose innermost axis changes the architecture would otherwise train point by point.
        """
        first: dict[Any, int] = {}

        def rank(point: dict[str, Any]) -> int:  # keys in the order they first appear
            return first.setdefault(self._point_key(stage, point), len(first))

        return sorted(stage.points or [], key=rank)  # stable: the file's order within a population

    def _point_key(self, stage: Stage, point: Mapping[str, Any]) -> tuple[Any, ...] | None:
        """The population key of a point (planned or drawn) of ``stage`` (None: not a valid
        configuration)."""
        try:
            overrides = dict(stage.carried) | stage.space.overrides(point)
            return population_key(self.spec.run_config(overrides, "point"), self.pad)
        except ConfigError:
            return None

    def _sampler(self, index: int, stage: Stage, n_existing: int) -> optuna.samplers.BaseSampler:
        if index not in self._samplers:
            # Offset by the trials already there, so that a resumed study does not redraw the same points.
            seed = self.spec.seed + 7919 * index + n_existing
            self._samplers[index] = make_sampler(stage.sampler, self.spec, seed)
        return self._samplers[index]

    def _prepare(self, trial: optuna.Trial, stage: Stage) -> Prepared:
        """Draw the trial's parameters and build its run configuration (under the lock)."""
        params = stage.space.suggest(trial)
        overrides = dict(stage.carried) | stage.space.overrides(params)
        set_trial_attrs(trial, overrides=overrides, device=self.device)
        pinned = self._pin(trial, stage, params)
        if pinned:  # one write less for the trials of a stage that pins nothing
            set_trial_attrs(trial, pinned=pinned)
        try:
            config = self.spec.run_config(overrides, f"trial {trial.number}")
        except ConfigError as exc:
            return Prepared(trial, params, None, [], TrialOutcome("invalid", str(exc)))
        first = config.train.seed + stage.seed_offset
        seeds = [first + i for i in range(stage.repeats or self.spec.repeats)]
        set_trial_attrs(trial, seeds=seeds)
        return Prepared(trial, params, config, seeds, key=population_key(config, self.pad))

    def _pin(self, trial: optuna.Trial, stage: Stage, params: Mapping[str, Any]) -> list[str]:
        """Record the parameters the stage holds at one value (and a planned point's extra ones) as
        the trial's parameters too, so that Optuna shows its whole configuration; their names."""
        pins = dict(stage.pinned)
        if stage.planned:
            pins |= self.store.fixed_params(trial.number)
        pins = {k: v for k, v in pins.items() if k not in params and stage.space.uses(k, params)}
        if not pins:
            return []
        known: dict[str, BaseDistribution] = {}
        for other in self.study.get_trials(deepcopy=False):
            for name in pins.keys() - known.keys():
                if name in other.distributions:
                    known[name] = other.distributions[name]
        recorded = {}
        for name, value in pins.items():
            distribution = pinned_distribution(value, known.get(name))
            if distribution is not None:
                recorded[name] = (value, distribution)
        return self.store.set_params(trial.number, recorded)


def recover(store: TrialStore) -> None:
    """Fail (and queue again) trials whose worker is gone: dead local processes, stale heartbeats."""
    host = socket.gethostname()

    def died(pid: Any) -> str | None:
        return f"worker process {pid} on {host} died" if pid != os.getpid() and not _alive(pid) else None

    store.fail_dead(died)
    optuna.storages.fail_stale_trials(store.study)


def _alive(pid: Any) -> bool:
    if not isinstance(pid, int):
        return True  # unknown: leave it to the heartbeat
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return not _zombie(pid)


def _zombie(pid: int) -> bool:
    """Whether ``pid`` has exited and waits for its parent to reap it (it still answers a signal 0)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:  # not Linux, or gone meanwhile
        return False
    return stat.rpartition(")")[2].split()[:1] in (["Z"], ["X"])
