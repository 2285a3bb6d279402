"""One trial: its configuration trained once per seed, measured, and summarised for the storage.

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

from tunelab.analysis.stats import mean_ci
from tunelab.config import RunConfig
from tunelab.data import Splits
from tunelab.train import EpochCallback, TrainResult, train
from tunelab.train.artifacts import save_run
from tunelab.train.checkpoint import Checkpointer
from tunelab.train.population import train_population

SPLIT_METRICS = ("accuracy", "loss", "f1", "precision", "recall")
# Outcomes that count towards the budget; "interrupted" and "worker_died" trials are run again.
FINAL_FAILURES = ("diverged", "invalid", "error")


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


@dataclass
class TrialOutcome:
    """What a trial produced: one record per seed and the aggregate the objective is read from."""

    outcome: str  # completed | pruned | diverged | invalid | error
    reason: str | None = None
    runs: list[dict[str, Any]] = field(default_factory=list)
    metrics: dict[str, float] = field(default_factory=dict)  # mean, and <name>_std, <name>_ci95

    def value(self, metric: str) -> float | None:
        return self.metrics.get(metric)


def run_record(seed: int, result: TrainResult, folder: str | None) -> dict[str, Any]:
    """A JSON-ready record of one run: scalars, the test confusion matrix and the history by column."""
    record: dict[str, Any] = {"seed": seed, **result.summary(), "folder": folder}
    record["test_confusion"] = result.test.confusion if result.test else None
    columns = list(dict.fromkeys(k for row in result.history for k in row))
    record["history"] = {c: [row.get(c) for row in result.history] for c in columns}
    return record


def _save(
    out_dir: Path | None, number: int, config: RunConfig, result: TrainResult, provenance: dict[str, Any]
) -> str | None:
    """Write one run's files under ``out_dir/trials/<trial>/seed-<seed>``; return that folder, relative."""
    if out_dir is None:
        return None
    path = out_dir / "trials" / f"{number:05d}" / f"seed-{config.train.seed}"
    save_run(path, config, result, provenance)
    return str(path.relative_to(out_dir))


def aggregate(runs: list[dict[str, Any]]) -> dict[str, float]:
    """Mean, std and 95% CI half-width over the runs of every scalar metric."""
    out: dict[str, float] = {}
    names = [f"{s}_{m}" for s in ("val", "test") for m in SPLIT_METRICS] + ["train_time_s", "epochs"]
    for name in names:
        values = [float(r[name]) for r in runs if r.get(name) is not None]
        if values:
            mean, std, half = mean_ci(values)
            out |= {name: mean, f"{name}_std": std, f"{name}_ci95": half}
    return out


def execute(
    trial: optuna.Trial,
    config: RunConfig,
    seeds: list[int],
    splits: Callable[[RunConfig], Splits],
    *,
    prune_metric: str | None,
    device: str,
    out_dir: Path | None,
    provenance: dict[str, Any],
    on_epoch: EpochCallback | None = None,
    checkpoints: Callable[[int], Checkpointer] | None = None,
) -> TrialOutcome:
    """Train ``config`` once per seed; the first seed's epochs feed the pruner."""
    runs: list[dict[str, Any]] = []
    for i, seed in enumerate(seeds):
        run_config = config.model_copy(update={"train": config.train.model_copy(update={"seed": seed})})
        pruner = PruneOnEpoch(trial, prune_metric) if prune_metric and i == 0 else None
        callbacks = [c for c in (on_epoch, pruner) if c is not None]
        checkpoint = checkpoints(seed) if checkpoints else None
        result = train(
            run_config, splits(run_config), callbacks=callbacks, device=device, checkpoint=checkpoint
        )
        folder = _save(out_dir, trial.number, run_config, result, provenance)
        runs.append(run_record(seed, result, folder))
        if pruner and pruner.pruned:
            return TrialOutcome("pruned", f"pruned after epoch {len(result.history)}", runs, aggregate(runs))
        if result.status == "diverged":
            return TrialOutcome("diverged", f"seed {seed}: {result.reason}", runs, aggregate(runs))
    return TrialOutcome("completed", None, runs, aggregate(runs))


def execute_population(
    items: Sequence[tuple[optuna.Trial, RunConfig, list[int]]],
    splits: Callable[[RunConfig], Splits],
    *,
    prune_metric: str | None,
    device: str,
    out_dir: Path | None,
    provenance: dict[str, Any],
    on_epoch: Callable[[int], EpochCallback] | None = None,
    checkpoints: Callable[[optuna.Trial, int], Checkpointer] | None = None,
) -> list[TrialOutcome]:
    """Train every seed of every trial in ``items`` as one population (one population key).

    Each trial's first seed feeds its pruner, as in :func:`execute`; when it is pruned, the trial's
    other seeds stop with it. ``checkpoints(trial, seed)`` keeps each run's state as :func:`execute`
    does, so a run continues from its last epoch whether it trains alone or in a population.
    """
    configs, owners, callbacks = [], [], []
    for trial, config, seeds in items:
        pruner = PruneOnEpoch(trial, prune_metric) if prune_metric else None
        for i, seed in enumerate(seeds):
            configs.append(
                config.model_copy(update={"train": config.train.model_copy(update={"seed": seed})})
            )
            owners.append((trial, seed, pruner))
            member: list[EpochCallback] = [on_epoch(trial.number)] if on_epoch else []
            if pruner is not None:
                member.append(pruner if i == 0 else pruner.follow)
            callbacks.append(member)
    saved = [checkpoints(trial, seed) for trial, seed, _ in owners] if checkpoints else None
    results = train_population(configs, splits(configs[0]), callbacks, device, saved)
    runs: dict[int, list[dict[str, Any]]] = {}
    for (trial, seed, _), config, result in zip(owners, configs, results, strict=True):
        folder = _save(out_dir, trial.number, config, result, provenance)
        runs.setdefault(trial.number, []).append(
            run_record(seed, result, folder) | {"population": len(configs)}
        )
    outcomes = []
    for trial, _, _ in items:
        mine = runs[trial.number]
        pruner = next(p for t, _, p in owners if t is trial)
        diverged = [r for r in mine if r["status"] == "diverged"]
        if pruner is not None and pruner.pruned:
            outcome = TrialOutcome("pruned", f"pruned after epoch {mine[0]['epochs']}", mine, aggregate(mine))
        elif diverged:
            outcome = TrialOutcome(
                "diverged", f"seed {diverged[0]['seed']}: {diverged[0]['reason']}", mine, aggregate(mine)
            )
        else:
            outcome = TrialOutcome("completed", None, mine, aggregate(mine))
        outcomes.append(outcome)
    return outcomes
