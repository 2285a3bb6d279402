"""Run a study: open (or resume) it in its storage and work through its stages, trial by trial.

Every worker, in this process or on another machine, runs the same loop. Under the study lock it
recovers trials whose worker died, moves to the next stage when the current one is finished (a
planned stage enqueues all its points then, so a grid point runs exactly once), checks the budget and
asks for a trial; then it trains that trial without the lock. Stopping at any moment loses nothing:
finished trials are in the storage, and an interrupted trial is queued to run again.
"""

from __future__ import annotations

import contextlib
import os
import socket
import time
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import optuna
import yaml
from optuna.trial import FrozenTrial, TrialState
from pydantic import ValidationError
from sqlalchemy.engine import make_url

from tunelab.config import DataConfig, RunConfig
from tunelab.data import Splits, load_splits
from tunelab.errors import ConfigError, TunelabError
from tunelab.provenance import provenance
from tunelab.search.checkpoints import StorageCheckpointer
from tunelab.search.checkpoints import clear as clear_checkpoints
from tunelab.search.objective import FINAL_FAILURES, TrialOutcome, execute, execute_population
from tunelab.search.pruners import make_pruner
from tunelab.search.spec import StudySpec, load_study_spec, validate_study_spec
from tunelab.search.storage import Heartbeat, default_storage, mask, open_storage, study_lock
from tunelab.search.strategies import (
    STRATEGIES,
    Stage,
    best_trial,
    draws_together,
    final,
    is_final,
    make_sampler,
)
from tunelab.train import EpochCallback, resolve_device
from tunelab.train.population import Padding, population_key

optuna.logging.set_verbosity(optuna.logging.WARNING)
# Heartbeats and stale-trial retries are what a resumable study needs; Optuna flags them experimental
# and expects Study.optimize, which this runner replaces with ask/tell to control stages and budgets.
warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
warnings.filterwarnings("ignore", message="Heartbeat of storage is supposed to be used with Study.optimize")

STAGES = "tunelab.stages"
PENDING = (TrialState.WAITING, TrialState.RUNNING)
POLL_S = 0.5


class Observer:
    """What a study reports while it runs (the CLI draws it); every method may be left as is."""

    def started(self, spec: StudySpec, storage: str, done: int, budget: int | None) -> None: ...

    def trial_started(self, number: int, stage: str, params: Mapping[str, Any]) -> None: ...

    def epoch(self, number: int, epoch: int, epochs: int, record: Mapping[str, float]) -> None: ...

    def trial_finished(
        self, number: int, outcome: TrialOutcome, done: int, best: FrozenTrial | None
    ) -> None: ...


def counted(trial: FrozenTrial) -> bool:
    """Whether a trial counts towards the budget (a trial to be run again does not)."""
    if trial.state in (TrialState.COMPLETE, TrialState.PRUNED):
        return True
    return trial.state == TrialState.FAIL and trial.user_attrs.get("tunelab.outcome") in FINAL_FAILURES


@dataclass
class StudyHandle:
    """An open study: its spec, its Optuna study, where it stores trials and files."""

    spec: StudySpec
    study: optuna.Study
    url: str
    out_dir: Path

    @property
    def storage_shown(self) -> str:
        return mask(self.url)

    def stages(self) -> list[Stage]:
        return [Stage.from_raw(raw) for raw in self.study.user_attrs.get(STAGES, [])]

    def best(self) -> FrozenTrial | None:
        return best_trial(self.study.get_trials(deepcopy=False), self.spec)


def _comparable(spec: StudySpec) -> dict[str, Any]:
    return spec.model_dump(mode="json", exclude={"budget", "storage", "description"})


def _differences(stored: dict[str, Any], spec: StudySpec) -> list[str]:
    """The top-level fields in which ``spec`` differs from the spec a study was made from.

    The stored spec is read by this version of tunelab first, so a setting added since (with its
    default) is not a difference: a study made by an older tunelab can be resumed.
    """
    with contextlib.suppress(ValidationError):
        stored = _comparable(StudySpec.model_validate(stored))
    return sorted(k for k, v in _comparable(spec).items() if stored.get(k) != v)


def open_study(spec: StudySpec, storage: str | None = None, out_dir: Path | None = None) -> StudyHandle:
    """Create the study, or load it when it exists and was made from the same study file."""
    out_dir = Path(out_dir or Path("runs") / spec.name)
    out_dir.mkdir(parents=True, exist_ok=True)
    url = storage or spec.storage or default_storage(out_dir)
    rdb = open_storage(url, retries=spec.retries)
    with study_lock(url, spec.name):
        study = optuna.create_study(
            study_name=spec.name,
            storage=rdb,
            direction=spec.objective.goal,
            pruner=make_pruner(spec),
            load_if_exists=True,
        )
        stored = study.user_attrs.get("tunelab.spec")
        if stored is None:
            study.set_user_attr("tunelab.spec", _comparable(spec))
            study.set_user_attr("tunelab.provenance", provenance(resolve_device(spec.train.device)))
        elif changed := _differences(stored, spec):
            raise ConfigError(
                f"study {spec.name!r} in {mask(url)} was made from a different study file "
                f"({', '.join(changed)} differ); give it another name, or another --out or --storage"
            )
    # The default SQLite file is found beside study.yaml, so the folder can be moved or copied whole.
    stored = None if url == default_storage(out_dir) else _without_password(url)
    shown = spec.model_dump(mode="json") | {"storage": stored}
    (out_dir / "study.yaml").write_text(yaml.safe_dump(shown, sort_keys=False), encoding="utf-8")
    return StudyHandle(spec, study, url, out_dir)


def load_study(where: str | Path, storage: str | None = None) -> StudyHandle:
    """Open an existing study from its study file or its output folder (which holds study.yaml)."""
    path = Path(where)
    out_dir = None
    if path.is_dir():
        out_dir, path = path, path / "study.yaml"
        if not path.is_file():
            raise ConfigError(f"{out_dir}: no study.yaml here; give a study file or a study's output folder")
    spec = load_study_spec(path)
    out_dir = out_dir or Path("runs") / spec.name
    url = storage or spec.storage or default_storage(out_dir)
    rdb = open_storage(url, retries=spec.retries)
    try:
        study = optuna.load_study(study_name=spec.name, storage=rdb, pruner=make_pruner(spec))
    except KeyError:
        raise ConfigError(f"no study {spec.name!r} in {mask(url)}; run it first with tunelab run") from None
    return StudyHandle(spec, study, url, out_dir)


def _without_password(url: str) -> str:
    with contextlib.suppress(Exception):
        return make_url(url).set(password=None).render_as_string(hide_password=False)
    return url


# --------------------------------------------------------------------------------------------- worker
class Worker:
    """One process working through a study until its stages are done or the budget is spent."""

    def __init__(
        self,
        handle: StudyHandle,
        *,
        n_trials: int | None = None,
        timeout: float | None = None,
        data_dir: Path | None = None,
        device: str | None = None,
        observer: Observer | None = None,
    ) -> None:
        self.handle, self.spec, self.study = handle, handle.spec, handle.study
        self.n_trials = n_trials or self.spec.budget.n_trials
        self.timeout = timeout or self.spec.budget.timeout
        self.data_dir = data_dir
        self.device = str(resolve_device(device or self.spec.train.device))
        self.pad = _padding(self.spec.population_padding, self.device)
        self.observer = observer or Observer()
        self._splits: dict[DataConfig, Splits] = {}
        self._samplers: dict[int, optuna.samplers.BaseSampler] = {}
        self._provenance = provenance(self.device)

    def splits(self, config: RunConfig) -> Splits:
        if config.data not in self._splits:
            self._splits[config.data] = load_splits(config.data, device=self.device, data_dir=self.data_dir)
            checksums = dict(self._splits[config.data].checksums)
            self._provenance["dataset_sha256"] = checksums
            stored = dict(self.study.user_attrs.get("tunelab.provenance") or {})
            known = dict(stored.get("dataset_sha256") or {})
            if known | checksums != known:  # the study's provenance names every data file it read
                self.study.set_user_attr("tunelab.provenance", stored | {"dataset_sha256": known | checksums})
        return self._splits[config.data]

    def run(self) -> None:
        """Run trials until there is nothing left to do (or the budget or timeout is reached)."""
        self.splits(self.spec.run_config({}, "study"))  # missing data fails here, before any trial
        trials = self.study.get_trials(deepcopy=False)
        self.observer.started(self.spec, self.handle.storage_shown, sum(map(counted, trials)), self.n_trials)
        start = time.monotonic()
        while self.timeout is None or time.monotonic() - start < self.timeout:
            with study_lock(self.handle.url, self.spec.name):
                action, batch, stage = self._next()
            if action == "done":
                return
            if action == "wait":
                time.sleep(POLL_S)
                continue
            assert stage is not None
            self._run_trials(batch, stage)

    # _next and what it calls run under the study lock; _run_trials does not.
    def _next(self) -> tuple[Literal["ask", "wait", "done"], list[Prepared], Stage | None]:
        self._recover()
        trials = self.study.get_trials(deepcopy=False)
        current = self._stage(trials)
        if current is None:
            return "done", [], None
        index, stage = current
        if stage.planned:
            trials = self.study.get_trials(deepcopy=False)  # it may just have been enqueued
        batch: list[Prepared] = []
        while not batch or self._batchable(stage, batch, trials):
            action = self._room(trials, index, stage)
            if action != "ask":
                break
            self.study.sampler = self._sampler(index, stage, len(trials))
            trial = self.study.ask()
            trial.set_user_attr("tunelab.stage", index)
            trial.set_user_attr("tunelab.stage_name", stage.name)
            trial.set_user_attr("tunelab.worker", {"host": socket.gethostname(), "pid": os.getpid()})
            trial.set_user_attr("tunelab.outcome", "running")
            batch.append(self._prepare(trial, stage))
            trials = self.study.get_trials(deepcopy=False)
        if not batch:
            return action, [], None
        return "ask", batch, stage

    def _room(self, trials: list[FrozenTrial], index: int, stage: Stage) -> Literal["ask", "wait", "done"]:
        """Whether the budget and the stage leave room for one more trial now."""
        if not stage.final and self._spent(trials):
            # An open-ended stage that other workers are finishing hands over to the final stage.
            return "wait" if self.spec.final and stage.n_trials is None and not stage.planned else "done"
        mine = [t for t in trials if t.user_attrs.get("tunelab.stage") == index]
        if not any(t.state == TrialState.WAITING for t in mine):
            if stage.planned:
                return "wait"  # the rest run elsewhere; one may fail and come back
            started = sum(counted(t) or t.state == TrialState.RUNNING for t in mine)
            if stage.n_trials is not None and started >= stage.n_trials:
                return "wait"  # the next stage needs this one's results
        return "ask"

    def _spent(self, trials: list[FrozenTrial]) -> bool:
        """Whether the search's trial budget is used up (final-stage trials do not count)."""
        if self.n_trials is None:
            return False
        busy = sum((counted(t) or t.state == TrialState.RUNNING) and not is_final(t) for t in trials)
        return busy >= self.n_trials

    def _batchable(self, stage: Stage, batch: list[Prepared], trials: list[FrozenTrial]) -> bool:
        """Whether to ask for one more trial to train with ``batch`` as one population.

        Only where the stage draws trials together (:func:`draws_together`). Of planned points, the
        one that ``ask`` hands out next must share the batch's population key.
        """
        if not draws_together(stage):
            return False
        key = batch[0].key
        runs = sum(len(p.seeds) for p in batch)
        repeats = stage.repeats or self.spec.repeats
        if key is None or batch[-1].key != key or runs + repeats > self.spec.population:
            return False
        if stage.planned:
            waiting = [t for t in trials if t.state == TrialState.WAITING]
            point = min(waiting, key=lambda t: t.number).system_attrs.get("fixed_params") if waiting else None
            return point is not None and self._point_key(stage, point) == key
        return True

    def _stage(self, trials: list[FrozenTrial]) -> tuple[int, Stage] | None:
        """The current stage; starts the next one when the current one has finished."""
        raws = list(self.study.user_attrs.get(STAGES, []))
        if raws:
            index, stage = len(raws) - 1, Stage.from_raw(raws[-1])
            mine = [t for t in trials if t.user_attrs.get("tunelab.stage") == index]
            pending = any(t.state in PENDING for t in mine)
            if stage.n_trials is None and not stage.planned:
                if pending or not self._spent(trials):
                    return index, stage  # open-ended: runs until the study's budget
            elif pending or (not stage.planned and sum(map(counted, mine)) < (stage.n_trials or 0)):
                return index, stage
        index = len(raws)
        following = STRATEGIES[self.spec.strategy.name](self.spec, index, trials)
        if following is None and not any(raw.get("final") for raw in raws):
            following = final(self.spec, trials)  # after the search: its best again on fresh seeds
        if following is None:
            return None
        raws.append(following.to_raw())
        self.study.set_user_attr(STAGES, raws)
        attrs = {"tunelab.stage": index, "tunelab.stage_name": following.name}
        for point in self._by_population(following):
            self.study.enqueue_trial(
                point, user_attrs=attrs | ({"tunelab.final": True} if following.final else {})
            )
        return index, following

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
        """The population key of a planned point of ``stage`` (None: not a valid configuration)."""
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

    def _recover(self) -> None:
        """Fail (and queue again) trials whose worker is gone: dead local processes, stale heartbeats."""
        host = socket.gethostname()
        for trial in self.study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
            worker = trial.user_attrs.get("tunelab.worker") or {}
            if (
                worker.get("host") == host
                and worker.get("pid") != os.getpid()
                and not _alive(worker.get("pid"))
            ):
                self._fail(trial, "worker_died", f"worker process {worker.get('pid')} on {host} died")
        optuna.storages.fail_stale_trials(self.study)

    def _fail(self, trial: FrozenTrial, outcome: str, reason: str) -> None:
        storage: Any = self.study._storage  # an RDB storage (heartbeats), as open_storage made it
        storage.set_trial_user_attr(trial._trial_id, "tunelab.outcome", outcome)
        storage.set_trial_user_attr(trial._trial_id, "tunelab.reason", reason)
        with contextlib.suppress(optuna.exceptions.UpdateFinishedTrialError):
            if storage.set_trial_state_values(trial._trial_id, state=TrialState.FAIL):
                callback = storage.get_heartbeat_stale_trial_callback()
                if callback is not None:
                    callback(self.study, storage.get_trial(trial._trial_id))

    # ---------------------------------------------------------------------------------- trials
    def _prepare(self, trial: optuna.Trial, stage: Stage) -> Prepared:
        """Draw the trial's parameters and build its run configuration (under the lock)."""
        params = stage.space.suggest(trial)
        overrides = dict(stage.carried) | stage.space.overrides(params)
        trial.set_user_attr("tunelab.overrides", overrides)
        trial.set_user_attr("tunelab.device", self.device)
        try:
            config = self.spec.run_config(overrides, f"trial {trial.number}")
        except ConfigError as exc:
            return Prepared(trial, params, None, [], TrialOutcome("invalid", str(exc)))
        first = config.train.seed + stage.seed_offset
        seeds = [first + i for i in range(stage.repeats or self.spec.repeats)]
        trial.set_user_attr("tunelab.seeds", seeds)
        return Prepared(trial, params, config, seeds, key=population_key(config, self.pad))

    def _run_trials(self, batch: list[Prepared], stage: Stage) -> None:
        """Train a batch: one population when it has several runs of one shape, else one by one."""
        for item in batch:
            self.observer.trial_started(item.trial.number, stage.name, item.params)
        groups: dict[Any, list[Prepared]] = {}  # the runs of one shape train together
        for item in batch:
            if item.outcome is None:
                groups.setdefault(item.key or id(item), []).append(item)
        heartbeats = [Heartbeat(self.study._storage, p.trial._trial_id) for p in batch]
        try:
            for beat in heartbeats:
                beat.__enter__()
            for items in groups.values():
                runs = sum(len(p.seeds) for p in items)
                if items[0].key is not None and 1 < runs <= self.spec.population:
                    for item, outcome in zip(items, self._train_population(items), strict=True):
                        item.outcome = outcome
                else:
                    for item in items:
                        item.outcome = self._train(item)
        except (KeyboardInterrupt, SystemExit, TunelabError) as exc:
            reason = "an input error" if isinstance(exc, TunelabError) else "the user"
            for item in batch:  # none is told yet: all run again
                trial = self.study._storage.get_trial(item.trial._trial_id)
                self._fail(trial, "interrupted", f"stopped by {reason}")
            raise
        finally:
            for beat in heartbeats:
                beat.__exit__()
        for item in batch:
            assert item.outcome is not None
            self._tell(item.trial, item.outcome)
            clear_checkpoints(self.handle.url, self.spec.name, self._chain(item.trial))
        trials = self.study.get_trials(deepcopy=False)
        best = best_trial(trials, self.spec)
        for item in batch:
            assert item.outcome is not None
            self.observer.trial_finished(item.trial.number, item.outcome, sum(map(counted, trials)), best)

    def _on_epoch(self, number: int, epochs: int) -> EpochCallback:
        def report(epoch: int, record: Mapping[str, float]) -> bool:
            self.observer.epoch(number, epoch, epochs, record)
            return False

        return report

    def _checkpoints(self, trial: optuna.Trial, seed: int, runs: int = 1) -> StorageCheckpointer:
        """Where one seed of ``trial`` keeps its state: keyed by its chain of retries.

        The ``runs`` of a population save ``runs`` times less often than a lone run, so that it
        writes no more bytes per second than one (16 paper-000 MLPs with Adam: ~130 MB a save, by count).
        """
        interval = self.spec.checkpoint_interval_s * runs
        return StorageCheckpointer(self.handle.url, self.spec.name, self._chain(trial), seed, interval)

    def _train(self, item: Prepared) -> TrialOutcome:
        trial, config = item.trial, item.config
        assert config is not None
        prune = self.spec.objective.metric if self.spec.pruner.name != "none" else None
        try:
            return execute(
                trial,
                config,
                item.seeds,
                self.splits,
                prune_metric=prune,
                device=self.device,
                out_dir=self.handle.out_dir,
                provenance=self._provenance,
                on_epoch=self._on_epoch(trial.number, config.train.epochs),
                checkpoints=lambda seed: self._checkpoints(trial, seed),
            )
        except (RuntimeError, ValueError) as exc:  # e.g. a network too deep for the image size
            return TrialOutcome("error", f"{exc.__class__.__name__}: {str(exc).splitlines()[0]}")

    def _train_population(self, items: list[Prepared]) -> list[TrialOutcome]:
        prune = self.spec.objective.metric if self.spec.pruner.name != "none" else None
        epochs = max(p.config.train.epochs for p in items if p.config)
        runs = sum(len(p.seeds) for p in items)
        try:
            return execute_population(
                [(p.trial, p.config, p.seeds) for p in items if p.config is not None],
                self.splits,
                prune_metric=prune,
                device=self.device,
                out_dir=self.handle.out_dir,
                provenance=self._provenance,
                on_epoch=lambda number: self._on_epoch(number, epochs),
                checkpoints=lambda trial, seed: self._checkpoints(trial, seed, runs),
            )
        except (RuntimeError, ValueError) as exc:
            reason = f"{exc.__class__.__name__}: {str(exc).splitlines()[0]}"
            return [TrialOutcome("error", reason) for _ in items]

    def _chain(self, trial: optuna.Trial) -> int:
        """The number of the first trial of a chain of retries: the key of their checkpoints."""
        first = self.study._storage.get_trial_system_attrs(trial._trial_id).get("failed_trial")
        return int(first) if first is not None else trial.number

    def _tell(self, trial: optuna.Trial, outcome: TrialOutcome) -> None:
        trial.set_user_attr("tunelab.outcome", outcome.outcome)
        trial.set_user_attr("tunelab.reason", outcome.reason)
        trial.set_user_attr("tunelab.runs", outcome.runs)
        trial.set_user_attr("tunelab.metrics", outcome.metrics)
        value = outcome.value(self.spec.objective.metric)
        if outcome.outcome == "pruned":
            self.study.tell(trial, state=TrialState.PRUNED)
        elif outcome.outcome == "completed" and value is not None:
            self.study.tell(trial, value)
        else:
            self.study.tell(trial, state=TrialState.FAIL)


@dataclass
class Prepared:
    """A trial that has its parameters and run configuration, ready to train."""

    trial: optuna.Trial
    params: dict[str, Any]
    config: RunConfig | None
    seeds: list[int]
    outcome: TrialOutcome | None = None
    key: tuple[Any, ...] | None = None  # trials of one key can train as one population


def _padding(setting: bool | str, device: str) -> Padding:
    """How far trials of different MLP architectures are padded to share a population."""
    if setting == "auto":
        # A GPU step at a small batch costs its kernel launches, not its arithmetic: pad any MLPs
        # there. A CPU pays for every padded unit, so only pad what costs nothing (same layer sizes).
        return "any" if device.startswith("cuda") else "free"
    return "any" if setting else "none"


def _alive(pid: Any) -> bool:
    if not isinstance(pid, int):
        return True  # unknown: leave it to the heartbeat
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


# ------------------------------------------------------------------------------------------ results
@dataclass
class StudyResult:
    """A study after a run: ``trials_dataframe()`` for notebooks, ``best`` for the winner."""

    handle: StudyHandle

    @property
    def study(self) -> optuna.Study:
        return self.handle.study

    @property
    def spec(self) -> StudySpec:
        return self.handle.spec

    @property
    def best(self) -> FrozenTrial | None:
        return self.handle.best()

    def trials_dataframe(self) -> Any:
        from tunelab.search.results import trials_dataframe

        return trials_dataframe(self.handle)


def run_study(
    study: str | Path | StudySpec | Mapping[str, Any],
    *,
    storage: str | None = None,
    n_trials: int | None = None,
    timeout: float | None = None,
    out: str | Path | None = None,
    overrides: Iterable[str] = (),
    data_dir: str | Path | None = None,
    device: str | None = None,
    observer: Observer | None = None,
) -> StudyResult:
    """Run (or resume) a study from a study file, a mapping or a :class:`StudySpec`."""
    if isinstance(study, StudySpec):
        spec = study
    elif isinstance(study, Mapping):
        spec = validate_study_spec(study)
    else:
        spec = load_study_spec(study, overrides)
    handle = open_study(spec, storage, Path(out) if out else None)
    worker = Worker(
        handle,
        n_trials=n_trials,
        timeout=timeout,
        data_dir=Path(data_dir) if data_dir else None,
        device=device,
        observer=observer,
    )
    worker.run()
    return StudyResult(handle)
