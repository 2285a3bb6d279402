"""Train prepared trials: every seed of every trial, lone or as one vectorised population.

The trials a worker drew together are grouped by population key; a group trains as one population
when it has several runs and fits ``spec.population``, else run by run with ``train()``. Each
trial's first seed feeds its pruner; when it is pruned, the trial's other seeds stop with it. Every
run's files are saved in its folder, and a trial's seeds are summarised in one :class:`TrialOutcome`.

The training loop knows nothing of Optuna; ``PruneOnEpoch`` is the only bridge: an epoch callback
that reports the objective metric to the trial and stops training when the pruner says so.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import FrozenTrial

from tunelab.config import DataConfig, RunConfig
from tunelab.data import Splits, load_splits
from tunelab.search.checkpoints import StorageCheckpointer
from tunelab.search.record import RUN_SCALARS, StudyRecord, set_study_attrs
from tunelab.search.spec import StudySpec
from tunelab.search.trial_store import TrialStore
from tunelab.stats import mean_ci
from tunelab.train import EpochCallback, EpochWatcher, TrainResult, train
from tunelab.train.artifacts import save_run
from tunelab.train.checkpoint import Checkpointer
from tunelab.train.population import train_population


@dataclass(frozen=True)
class EpochUpdate:
    """One run's epoch, as it ends: the trial and seed, how far it is, its history record and, on its
    last epoch, how it ended (``completed``, ``early_stopped``, ``pruned``, ``stopped``, ``diverged``)."""

    trial: int
    seed: int
    epoch: int
    epochs: int
    record: Mapping[str, float]
    ended: str | None = None


class Observer:
    """What a study reports while it runs (:mod:`tunelab.progress` draws it); every method may be
    left as is.

    ``started``: ``done`` trials are already finished of ``total`` expected (the trial budget, or the
    planned points; None when unknown). ``epoch``: every run's every epoch, population members
    included, as it ends. ``trial_finished``: each trial as soon as it is told, with the trials
    ``done`` and the study's ``best`` at that moment.
    """

    def started(self, spec: StudySpec, storage: str, done: int, total: int | None) -> None: ...

    def trial_started(self, number: int, stage: str, params: Mapping[str, Any]) -> None: ...

    def epoch(self, update: EpochUpdate) -> None: ...

    def trial_finished(
        self, number: int, outcome: TrialOutcome, done: int, best: FrozenTrial | None
    ) -> None: ...


class Observers(Observer):
    """Several observers as one: each report goes to each, in order."""

    def __init__(self, *observers: Observer) -> None:
        self.observers = observers

    def started(self, spec: StudySpec, storage: str, done: int, total: int | None) -> None:
        for observer in self.observers:
            observer.started(spec, storage, done, total)

    def trial_started(self, number: int, stage: str, params: Mapping[str, Any]) -> None:
        for observer in self.observers:
            observer.trial_started(number, stage, params)

    def epoch(self, update: EpochUpdate) -> None:
        for observer in self.observers:
            observer.epoch(update)

    def trial_finished(self, number: int, outcome: TrialOutcome, done: int, best: FrozenTrial | None) -> None:
        for observer in self.observers:
            observer.trial_finished(number, outcome, done, best)


@dataclass
class TrialOutcome:
    """What a trial produced: one record per seed and the aggregate the objective is read from."""

    outcome: str  # completed | pruned | diverged | invalid | error
    reason: str | None = None
    runs: list[dict[str, Any]] = field(default_factory=list)
    metrics: dict[str, float] = field(default_factory=dict)  # mean, and <name>_std, <name>_ci95

    def value(self, metric: str) -> float | None:
        return self.metrics.get(metric)


@dataclass
class Prepared:
    """A trial that has its parameters and run configuration, ready to train."""

    trial: optuna.Trial
    params: dict[str, Any]
    config: RunConfig | None
    seeds: list[int]
    outcome: TrialOutcome | None = None
    key: tuple[Any, ...] | None = None  # trials of one key can train as one population


class PruneOnEpoch:
    """Report ``metric`` to the trial after each epoch; stop the run when the pruner says so."""

    def __init__(self, trial: optuna.Trial, metric: str) -> None:
        self.trial, self.metric, self.pruned = trial, metric, False

    def __call__(self, epoch: int, record: Mapping[str, float]) -> bool:
        value = record[self.metric]
        if not math.isfinite(value):
            return False  # the loop ends a diverging run itself, with the reason
        self.trial.report(value, epoch)
        self.pruned = self.trial.should_prune()
        return self.pruned

    def follow(self, epoch: int, record: Mapping[str, float]) -> bool:
        """The callback of the trial's other seeds: stop when its first seed was pruned."""
        return self.pruned


def run_record(seed: int, result: TrainResult, folder: str | None) -> dict[str, Any]:
    """A JSON-ready record of one run: scalars, the test confusion matrix and the history by column."""
    record: dict[str, Any] = {"seed": seed, **result.summary(), "folder": folder}
    record["test_confusion"] = result.test.confusion if result.test else None
    columns = list(dict.fromkeys(k for row in result.history for k in row))
    record["history"] = {c: [row.get(c) for row in result.history] for c in columns}
    return record


def aggregate(runs: list[dict[str, Any]]) -> dict[str, float]:
    """Mean, std and 95% CI half-width over the runs of every scalar metric."""
    out: dict[str, float] = {}
    for name in RUN_SCALARS:
        values = [float(r[name]) for r in runs if r.get(name) is not None]
        if values:
            mean, std, half = mean_ci(values)
            out |= {name: mean, f"{name}_std": std, f"{name}_ci95": half}
    return out


@dataclass
class _Run:
    """One seed of one trial, with the configuration it trains (seed and resolved device set)."""

    item: Prepared
    seed: int
    config: RunConfig
    pruner: PruneOnEpoch | None
    first: bool  # the trial's first seed: the one its pruner follows


def execute(
    items: Sequence[Prepared],
    splits: Callable[[RunConfig], Splits],
    *,
    population: int,
    prune_metric: str | None,
    device: str,
    out_dir: Path | None,
    provenance: dict[str, Any],
    watch: Callable[[int, int, int, PruneOnEpoch | None], EpochWatcher] | None = None,
    checkpoints: Callable[[optuna.Trial, int, int], Checkpointer] | None = None,
) -> list[TrialOutcome]:
    """Train every seed of every trial of ``items`` (all of one population key); one outcome each.

    The runs train as one population when there are several and at most ``population``; otherwise
    one by one with ``train()``, where a trial's remaining seeds are skipped once it is pruned or one
    of its seeds diverged. ``device`` is the resolved device: each run's saved configuration names it.
    ``checkpoints(trial, seed, together)`` keeps each run's state, so that a run continues from its
    last epoch whether it trains alone or in a population; ``together`` runs train at once.
    ``watch(trial, seed, epochs, pruner)`` gives the watcher of one run (a progress view's).
    """
    runs: list[_Run] = []
    for item in items:
        assert item.config is not None
        pruner = PruneOnEpoch(item.trial, prune_metric) if prune_metric else None
        for i, seed in enumerate(item.seeds):
            update = {"seed": seed, "device": device}
            config = item.config.model_copy(update={"train": item.config.train.model_copy(update=update)})
            runs.append(_Run(item, seed, config, pruner, i == 0))
    records: dict[int, list[dict[str, Any]]] = {id(item): [] for item in items}

    def callbacks(run: _Run) -> list[EpochCallback]:
        if run.pruner is None:
            return []
        return [run.pruner if run.first else run.pruner.follow]

    def watcher(run: _Run) -> EpochWatcher | None:
        if watch is None:
            return None
        return watch(run.item.trial.number, run.seed, run.config.train.epochs, run.pruner)

    def keep(run: _Run, result: TrainResult, extra: dict[str, Any]) -> None:
        folder = _save(out_dir, run.item.trial.number, run.config, result, provenance)
        records[id(run.item)].append(run_record(run.seed, result, folder) | extra)

    if 1 < len(runs) <= population:
        saved = [checkpoints(r.item.trial, r.seed, len(runs)) for r in runs] if checkpoints else None
        configs = [r.config for r in runs]
        results = train_population(
            configs,
            splits(configs[0]),
            [callbacks(r) for r in runs],
            device,
            saved,
            [watcher(r) for r in runs],
        )
        for run, result in zip(runs, results, strict=True):
            keep(run, result, {"population": len(runs)})
    else:
        for run in runs:
            done = records[id(run.item)]
            if (run.pruner and run.pruner.pruned) or any(r["status"] == "diverged" for r in done):
                continue
            saved_one = checkpoints(run.item.trial, run.seed, 1) if checkpoints else None
            result = train(
                run.config,
                splits(run.config),
                callbacks=callbacks(run),
                device=device,
                checkpoint=saved_one,
                watch=watcher(run),
            )
            keep(run, result, {})
    pruners = {id(r.item): r.pruner for r in runs}
    return [_outcome(records[id(item)], pruners[id(item)]) for item in items]


def _outcome(mine: list[dict[str, Any]], pruner: PruneOnEpoch | None) -> TrialOutcome:
    """A trial's outcome from the records of its seeds: pruned, diverged or completed."""
    diverged = [r for r in mine if r["status"] == "diverged"]
    if pruner is not None and pruner.pruned:
        return TrialOutcome("pruned", f"pruned after epoch {mine[0]['epochs']}", mine, aggregate(mine))
    if diverged:
        reason = f"seed {diverged[0]['seed']}: {diverged[0]['reason']}"
        return TrialOutcome("diverged", reason, mine, aggregate(mine))
    return TrialOutcome("completed", None, mine, aggregate(mine))


def _save(
    out_dir: Path | None, number: int, config: RunConfig, result: TrainResult, provenance: dict[str, Any]
) -> str | None:
    """Write one run's files under ``out_dir/trials/<trial>/seed-<seed>``; return that folder, relative."""
    if out_dir is None:
        return None
    path = out_dir / "trials" / f"{number:05d}" / f"seed-{config.train.seed}"
    save_run(path, config, result, provenance)
    return str(path.relative_to(out_dir))


class Executor:
    """Trains the trials one worker drew, on its one resolved ``device``, with its data cache.

    ``provenance`` (this worker's, with the resolved device) goes into every run folder; the study's
    provenance record gains each data file's checksum as the worker first reads it.
    """

    def __init__(
        self,
        spec: StudySpec,
        store: TrialStore,
        *,
        url: str,
        out_dir: Path,
        device: str,
        provenance: dict[str, Any],
        data_dir: Path | None = None,
        observer: Observer | None = None,
    ) -> None:
        self.spec, self.store, self.url, self.out_dir = spec, store, url, out_dir
        self.device, self.provenance, self.data_dir = device, provenance, data_dir
        self.observer = observer or Observer()
        self._splits: dict[DataConfig, Splits] = {}

    def splits(self, config: RunConfig) -> Splits:
        """The data of ``config``, loaded onto the device once per data configuration."""
        if config.data not in self._splits:
            self._splits[config.data] = load_splits(config.data, device=self.device, data_dir=self.data_dir)
            checksums = dict(self._splits[config.data].checksums)
            self.provenance["dataset_sha256"] = checksums
            study = self.store.study
            stored = dict(StudyRecord.from_study(study).provenance)
            known = dict(stored.get("dataset_sha256") or {})
            if known | checksums != known:  # the study's provenance names every data file it read
                set_study_attrs(study, provenance=stored | {"dataset_sha256": known | checksums})
        return self._splits[config.data]

    def run(self, batch: Sequence[Prepared]) -> None:
        """Train ``batch``, setting each item's outcome; the runs of one population key train together."""
        groups: dict[Any, list[Prepared]] = {}
        for item in batch:
            if item.outcome is None:
                groups.setdefault(item.key or id(item), []).append(item)
        for items in groups.values():
            for item, outcome in zip(items, self._execute(items), strict=True):
                item.outcome = outcome

    def _execute(self, items: list[Prepared]) -> list[TrialOutcome]:
        try:
            return execute(
                items,
                self.splits,
                population=self.spec.population,
                prune_metric=self.spec.objective.metric if self.spec.pruner.name != "none" else None,
                device=self.device,
                out_dir=self.out_dir,
                provenance=self.provenance,
                watch=self._watch,
                checkpoints=self._checkpoints,
            )
        except (RuntimeError, ValueError) as exc:  # e.g. a network too deep for the image size
            reason = f"{exc.__class__.__name__}: {str(exc).splitlines()[0]}"
            return [TrialOutcome("error", reason) for _ in items]

    def _watch(self, number: int, seed: int, epochs: int, pruner: PruneOnEpoch | None) -> EpochWatcher:
        """The watcher of one run of trial ``number``: its epochs go to the observer as they end."""

        def watch(epoch: int, record: Mapping[str, float], ended: str | None) -> None:
            if ended == "stopped" and pruner is not None and pruner.pruned:
                ended = "pruned"  # the pruner, not another callback, stopped it
            self.observer.epoch(EpochUpdate(number, seed, epoch, epochs, record, ended))

        return watch

    def _checkpoints(self, trial: optuna.Trial, seed: int, runs: int) -> StorageCheckpointer:
        """Where one seed of ``trial`` keeps its state: keyed by its chain of retries.

        The ``runs`` of a population save ``runs`` times less often than a lone run, so that it
        writes no more bytes per second than one (16 paper-000 MLPs with Adam: ~130 MB a save, by count).
        """
        interval = self.spec.checkpoint_interval_s * runs
        chain = self.store.first_of_chain(trial.number)
        return StorageCheckpointer(self.url, self.spec.name, chain, seed, interval)
