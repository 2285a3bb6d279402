"""What a strategy hands the study runner: one stage at a time.

A stage is either *planned* (its trials are known: a grid, named configurations; they are enqueued
once, so every point runs exactly once across all workers) or *sampled* (a sampler draws each trial).
A strategy is a function ``(spec, index, trials) -> Stage | None`` that builds stage ``index`` from the
finished trials of the earlier ones, and returns None when there is no further stage.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from tunelab.search.space import Space
from tunelab.search.spec import StudySpec


@dataclass(frozen=True)
class Stage:
    name: str
    space: Space
    points: list[dict[str, Any]] | None = None  # planned: one trial per point
    n_trials: int | None = None  # sampled: trials in this stage; None: until the study's budget
    sampler: str = "random"
    carried: Mapping[str, Any] = field(default_factory=dict)  # overrides applied before the stage's own
    info: Mapping[str, Any] = field(default_factory=dict)  # shown in status and the report
    repeats: int | None = None  # seeds per trial; None: the study's repeats
    seed_offset: int = 0  # the first seed is train.seed + seed_offset
    final: bool = False  # the best configurations again on fresh seeds, after the search (spec.final)

    @property
    def planned(self) -> bool:
        return self.points is not None

    def to_raw(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "space": self.space.to_raw(),
            "n_points": None if self.points is None else len(self.points),
            "n_trials": self.n_trials,
            "sampler": self.sampler,
            "carried": dict(self.carried),
            "info": dict(self.info),
            "repeats": self.repeats,
            "seed_offset": self.seed_offset,
            "final": self.final,
        }

    @classmethod
    def from_raw(cls, raw: Mapping[str, Any]) -> Stage:
        # the points live in the storage as trials
        points: list[dict[str, Any]] | None = None if raw["n_points"] is None else []
        return cls(
            name=raw["name"],
            space=Space.from_raw(raw["space"]),
            points=points,
            n_trials=raw["n_trials"],
            sampler=raw["sampler"],
            carried=raw["carried"],
            info=raw["info"],
            repeats=raw.get("repeats"),
            seed_offset=raw.get("seed_offset", 0),
            final=raw.get("final", False),
        )


Strategy = Callable[[StudySpec, int, Sequence[FrozenTrial]], Stage | None]


def completed(trials: Sequence[FrozenTrial], stage: int | None = None) -> list[FrozenTrial]:
    """Trials with an objective value, of one stage or of all."""
    return [
        t
        for t in trials
        if t.state == TrialState.COMPLETE and (stage is None or t.user_attrs.get("tunelab.stage") == stage)
    ]


def ranked(trials: Sequence[FrozenTrial], spec: StudySpec) -> list[FrozenTrial]:
    """Completed trials, best first."""
    sign = -1.0 if spec.objective.goal == "maximize" else 1.0
    return sorted(completed(trials), key=lambda t: (sign * float(t.value), t.number))  # type: ignore[arg-type]


def is_final(trial: FrozenTrial) -> bool:
    """Whether ``trial`` belongs to the final stage (a configuration trained again on fresh seeds)."""
    return bool(trial.user_attrs.get("tunelab.final"))


def best_trial(trials: Sequence[FrozenTrial], spec: StudySpec) -> FrozenTrial | None:
    """The study's answer: the best final-stage trial once there is one, else the best trial.

    A final trial's value is a mean over fresh seeds, free of the luck that made its configuration
    win the search, so it is preferred over any single search trial.
    """
    final = ranked([t for t in trials if is_final(t)], spec)
    top = final or ranked(trials, spec)
    return top[0] if top else None


def draws_together(stage: Stage) -> bool:
    """Whether a stage's trials may be drawn several at once (to train as one population).

    Planned points and independent samplers (random, QMC) lose nothing by being drawn together;
    model-based samplers learn from each result, so they ask one trial at a time.
    """
    return stage.planned or stage.sampler in ("random", "qmc")


def make_sampler(name: str, spec: StudySpec, seed: int) -> optuna.samplers.BaseSampler:
    """The Optuna sampler behind a sampled stage."""
    strategy = spec.strategy
    startup = getattr(strategy, "n_startup_trials", 10)
    match name:
        case "random":
            return optuna.samplers.RandomSampler(seed=seed)
        case "tpe":
            return optuna.samplers.TPESampler(
                seed=seed,
                n_startup_trials=startup,
            )
        case "gp":
            return optuna.samplers.GPSampler(seed=seed, n_startup_trials=startup)
        case "cmaes":
            return optuna.samplers.CmaEsSampler(
                seed=seed, n_startup_trials=startup, warn_independent_sampling=False
            )
        case "qmc":
            # The QMC sequence is keyed by its seed: a fixed seed lets a resumed study continue it.
            return optuna.samplers.QMCSampler(
                qmc_type=getattr(strategy, "qmc_type", "sobol"),
                seed=spec.seed,
                warn_independent_sampling=False,
            )
    raise AssertionError(name)
