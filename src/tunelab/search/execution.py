"""Train prepared trials: every seed of every trial, lone or as one vectorised population.

The trials a worker drew together are grouped by population key; a group trains as one population
when it has several runs and fits ``spec.population``, else run by run with ``train()``. Every
run's files are saved in its folder, and a trial's seeds are summarised in one :class:`TrialOutcome`.

The training loop knows nothing of Optuna; :class:`ReportEpochs` is the only bridge: epoch callbacks
that report the objective after every epoch as the trial's intermediate value (pruner or not, so
optuna-dashboard and ``optuna.visualization`` show learning curves) and stop training when the
pruner says so. What a trial reports is what its objective is a mean of:

- seeds that train together (a population, the default) report at epoch ``e`` the mean of the
  objective over the trial's seeds that reached ``e``, once each of them has: the value a pruner
  compares is then the same statistic as the trial's final value, less noisy than one seed's;
- seeds that train one after another (``population: 1``, or more seeds than fit a population)
  report the first seed's value, the only one there is while it trains (the others follow it when
  it is pruned).

A trial continued from a checkpoint reports the epochs it had run before from the saved history.
An objective measured only once training is over (a test metric, ``val_f1``: not in
:data:`~tunelab.search.record.PER_EPOCH_METRICS`) has no per-epoch value, so nothing is reported.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import optuna
import torch
from optuna.trial import FrozenTrial

from tunelab.config import CustomModelConfig, DataConfig, RunConfig
from tunelab.data import Splits, load_splits
from tunelab.errors import ConfigError, ModelError, TunelabError
from tunelab.models import build_model
from tunelab.search.checkpoints import StorageCheckpointer
from tunelab.search.record import RUN_SCALARS, StudyRecord, set_study_attrs
from tunelab.search.spec import StudySpec
from tunelab.search.trial_store import TrialStore
from tunelab.stats import mean_ci
from tunelab.train import EpochCallback, EpochWatcher, TrainResult, train
from tunelab.train.artifacts import save_run
from tunelab.train.checkpoint import Checkpointer
from tunelab.train.engines.population import stacking_problem
from tunelab.train.population import train_population

if TYPE_CHECKING:
    from tunelab.search.plan import Redo


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
    planned points; None when unknown), and ``redo`` what a rerun takes up again first. ``epoch``:
    every run's every epoch, population members included, as it ends. ``trial_finished``: each
    trial as soon as it is told, with the trials ``done`` and the study's ``best`` at that moment.
    """

    def started(
        self, spec: StudySpec, storage: str, done: int, total: int | None, redo: Redo | None = None
    ) -> None: ...

    def trial_started(self, number: int, stage: str, params: Mapping[str, Any]) -> None: ...

    def epoch(self, update: EpochUpdate) -> None: ...

    def trial_finished(
        self, number: int, outcome: TrialOutcome, done: int, best: FrozenTrial | None
    ) -> None: ...


class Observers(Observer):
    """Several observers as one: each report goes to each, in order."""

    def __init__(self, *observers: Observer) -> None:
        self.observers = observers

    def started(
        self, spec: StudySpec, storage: str, done: int, total: int | None, redo: Redo | None = None
    ) -> None:
        for observer in self.observers:
            observer.started(spec, storage, done, total, redo)

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

    outcome: str  # completed | pruned | diverged | invalid | error (record.FAILURES: failed by itself)
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


class ReportEpochs:
    """Report one trial's objective after each epoch (its mean over seeds); prune it when told to.

    ``member(i)`` is the epoch callback of the trial's ``i``-th of ``seeds`` reporting seeds. When
    every seed still training has reported epoch ``e``, the mean of their values is reported to the
    trial and, with ``prune``, the pruner asked. A seed that early stopping or divergence ends at
    epoch ``e`` reports nothing for it (the loop stops it before its callbacks), and is known to have
    left once another seed reports a later epoch. Once the trial is pruned every seed stops at its
    next epoch.
    """

    def __init__(self, trial: optuna.Trial, metric: str, seeds: int, prune: bool) -> None:
        self.trial, self.metric, self.seeds, self.prune = trial, metric, seeds, prune
        self.live = set(range(seeds))
        self.pending: dict[int, dict[int, float]] = {}  # epoch -> seed index -> value
        self.reported: set[int] = set()
        self.pruned_at: int | None = None

    @property
    def pruned(self) -> bool:
        return self.pruned_at is not None

    def member(self, index: int) -> EpochCallback:
        def report(epoch: int, record: Mapping[str, float]) -> bool:
            if self.pruned:
                return True
            value = record.get(self.metric)
            if value is None:  # measured only after training (test_accuracy, val_f1): no curve
                return False
            if math.isfinite(value):  # else the loop ends a diverging run itself, with the reason
                self.pending.setdefault(epoch, {})[index] = value
            for earlier in sorted(e for e in self.pending if e < epoch):  # their missing seeds left
                self.live &= set(self.pending[earlier]) | {index}
                self._report(earlier)
            if self.live <= set(self.pending.get(epoch, {})):
                self._report(epoch)
            return self.pruned

        return report

    def follow(self, epoch: int, record: Mapping[str, float]) -> bool:
        """The callback of seeds that report nothing: stop once the trial is pruned."""
        return self.pruned

    def finish(self, runs: Sequence[Mapping[str, Any]]) -> None:
        """Report what is left once the trial's ``runs`` (one record per seed, in seed order) are
        trained: epochs that a seed which stopped left waiting, and from the reporting seeds'
        histories the epochs that no callback saw (run before a checkpoint the trial continued from,
        or the last epoch of seeds that all stopped early)."""
        for epoch in sorted(self.pending):
            self._report(epoch, decide=False)
        by_epoch: dict[int, list[float]] = {}
        for run in runs[: self.seeds]:
            history = run.get("history") or {}
            for epoch, value in zip(history.get("epoch") or [], history.get(self.metric) or [], strict=False):
                if value is not None and math.isfinite(value):
                    by_epoch.setdefault(int(epoch), []).append(float(value))
        for epoch in sorted(set(by_epoch) - self.reported):
            if self.pruned_at is None or epoch <= self.pruned_at:
                self.trial.report(sum(by_epoch[epoch]) / len(by_epoch[epoch]), epoch)
                self.reported.add(epoch)

    def _report(self, epoch: int, decide: bool = True) -> None:
        values = list(self.pending.pop(epoch, {}).values())
        if not values or epoch in self.reported or self.pruned:
            return
        self.trial.report(sum(values) / len(values), epoch)
        self.reported.add(epoch)
        if decide and self.prune and self.trial.should_prune():
            self.pruned_at = epoch


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
    reporter: ReportEpochs
    index: int  # of the seed among the trial's seeds
    reports: bool  # whether it reports (else it only follows the trial's pruning)


def execute(
    items: Sequence[Prepared],
    splits: Callable[[RunConfig], Splits],
    *,
    population: int,
    metric: str,
    prune: bool,
    device: str,
    out_dir: Path | None,
    provenance: dict[str, Any],
    watch: Callable[[int, int, int, ReportEpochs | None], EpochWatcher] | None = None,
    checkpoints: Callable[[optuna.Trial, int, int], Checkpointer] | None = None,
    stackable: Callable[[RunConfig], bool] | None = None,
) -> list[TrialOutcome]:
    """Train every seed of every trial of ``items`` (all of one population key); one outcome each.

    The runs train as one population when there are several, at most ``population``, and
    ``stackable`` says their network can be vmapped (default: it can); otherwise one by one with
    ``train()``, where a trial's remaining seeds are skipped once it is pruned or one of its seeds
    diverged. Each trial reports ``metric`` after every epoch (:class:`ReportEpochs`) and, with
    ``prune``, is pruned when the study's pruner says so. ``device`` is the resolved device: each
    run's saved configuration names it. ``checkpoints(trial, seed, together)`` keeps each run's
    state, so that a run continues from its last epoch whether it trains alone or in a population;
    ``together`` runs train at once.
    ``watch(trial, seed, epochs, reporter)`` gives the watcher of one run (a progress view's).
    """
    first = items[0].config
    together = 1 < sum(len(item.seeds) for item in items) <= population and (
        stackable is None or first is None or stackable(first)
    )
    runs: list[_Run] = []
    reporters: dict[int, ReportEpochs] = {}
    for item in items:
        assert item.config is not None
        # Seeds trained one after another: only the first one's values exist while it trains.
        reporting = len(item.seeds) if together else 1
        reporter = reporters[id(item)] = ReportEpochs(item.trial, metric, reporting, prune)
        for i, seed in enumerate(item.seeds):
            update = {"seed": seed, "device": device}
            config = item.config.model_copy(update={"train": item.config.train.model_copy(update=update)})
            runs.append(_Run(item, seed, config, reporter, i, i < reporting))
    records: dict[int, list[dict[str, Any]]] = {id(item): [] for item in items}

    def callbacks(run: _Run) -> list[EpochCallback]:
        return [run.reporter.member(run.index) if run.reports else run.reporter.follow]

    def watcher(run: _Run) -> EpochWatcher | None:
        if watch is None:
            return None
        return watch(run.item.trial.number, run.seed, run.config.train.epochs, run.reporter)

    def keep(run: _Run, result: TrainResult, extra: dict[str, Any]) -> None:
        folder = _save(out_dir, run.item.trial.number, run.config, result, provenance)
        records[id(run.item)].append(run_record(run.seed, result, folder) | extra)

    if together:
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
            if run.reporter.pruned or any(r["status"] == "diverged" for r in done):
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
    for item in items:
        reporters[id(item)].finish(records[id(item)])
    return [_outcome(records[id(item)], reporters[id(item)]) for item in items]


def _outcome(mine: list[dict[str, Any]], reporter: ReportEpochs) -> TrialOutcome:
    """A trial's outcome from the records of its seeds: pruned, diverged or completed."""
    diverged = [r for r in mine if r["status"] == "diverged"]
    if reporter.pruned:
        return TrialOutcome("pruned", f"pruned after epoch {reporter.pruned_at}", mine, aggregate(mine))
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
        self._stackable: dict[str, bool] = {}

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

    def check(self, config: RunConfig) -> None:
        """Load the data of ``config`` and, for a model factory, build its network once: a factory
        that raises, returns no module or the wrong output shape stops the study before any trial."""
        splits = self.splits(config)
        if isinstance(config.model, CustomModelConfig):
            with torch.random.fork_rng(devices=[]):
                build_model(config.model, splits.input_shape, splits.n_classes)

    def stackable(self, config: RunConfig) -> bool:
        """Whether runs of ``config``'s network can train as one vmapped population (built-in
        models can; a factory's network is tried once per setting, see ``stacking_problem``)."""
        if not isinstance(config.model, CustomModelConfig):
            return True
        key = repr(config.model.model_dump(mode="json", exclude={"init"}))
        if key not in self._stackable:
            splits = self.splits(config)
            with torch.random.fork_rng(devices=[]):
                model = build_model(config.model, splits.input_shape, splits.n_classes).to(self.device)
                problem = stacking_problem(model, splits.input_shape)
            self._stackable[key] = problem is None
        return self._stackable[key]

    def run(self, batch: Sequence[Prepared], prune: bool = True) -> None:
        """Train ``batch``, setting each item's outcome; the runs of one population key train together.
        ``prune``: whether the study's pruner may stop them (not a planned stage's points)."""
        groups: dict[Any, list[Prepared]] = {}
        for item in batch:
            if item.outcome is None:
                groups.setdefault(item.key or id(item), []).append(item)
        for items in groups.values():
            for item, outcome in zip(items, self._execute(items, prune), strict=True):
                item.outcome = outcome

    def _execute(self, items: list[Prepared], prune: bool) -> list[TrialOutcome]:
        pruned = prune and self.spec.pruner.name != "none"
        try:
            return execute(
                items,
                self.splits,
                population=self.spec.population,
                metric=self.spec.objective.metric,
                prune=pruned,
                device=self.device,
                out_dir=self.out_dir,
                provenance=self.provenance,
                watch=self._watch,
                checkpoints=self._checkpoints,
                stackable=self.stackable,
            )
        except ModelError as exc:  # a factory refuses this trial's settings: the study goes on
            return [TrialOutcome("error", str(exc)) for _ in items]
        except ConfigError as exc:  # a built-in network these settings cannot make (too small an image)
            return [TrialOutcome("invalid", str(exc)) for _ in items]
        except TunelabError:
            raise  # bad input (a data file): the run stops, and the trials run again once it is fixed
        except Exception as exc:  # the trials failed by themselves: out of memory, a network too deep
            reason = f"{exc.__class__.__name__}: {str(exc).splitlines()[0]}"
            return [TrialOutcome("error", reason) for _ in items]

    def _watch(self, number: int, seed: int, epochs: int, pruner: ReportEpochs | None) -> EpochWatcher:
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
