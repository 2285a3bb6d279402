"""What a strategy hands the study runner: one stage at a time.

A stage is either *planned* (its trials are known: a grid, named configurations; they are enqueued
once, so every point runs exactly once across all workers) or *sampled* (a sampler draws each trial).
A strategy (:class:`Strategy`) bundles what the rest of tunelab asks of it: the pydantic model of its
``strategy:`` section, a stage builder ``(spec, index, trials) -> Stage | None`` that builds stage
``index`` from the finished trials of the earlier ones (None when there is no further stage), and,
for a strategy whose stages are drawn by a sampler, the Optuna sampler and its batching policy.
The registry ``STRATEGIES`` (in ``__init__``) maps each name to one.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from tunelab.config import _Frozen
from tunelab.search.record import TrialRecord
from tunelab.search.space import Space

if TYPE_CHECKING:  # spec.py builds its strategy union from the registry, so it imports this package
    from tunelab.search.spec import StudySpec


class StrategySettings(_Frozen):
    """The base of a strategy's ``strategy:`` section; a strategy narrows ``name`` to its own literal."""

    name: str


@dataclass(frozen=True)
class Stage:
    name: str
    space: Space
    points: list[dict[str, Any]] | None = None  # planned: one trial per point
    n_trials: int | None = None  # sampled: trials in this stage; None: until the study's budget
    sampler: str = "random"
    carried: Mapping[str, Any] = field(default_factory=dict)  # overrides applied before the stage's own
    # Parameters of the search that the stage holds at one value (narrowed to one, carried from the
    # best so far): each of its trials records them as parameters too, so that Optuna's ``params``
    # hold the trial's whole configuration. A planned point may pin more (its keys not drawn).
    pinned: Mapping[str, Any] = field(default_factory=dict)
    info: Mapping[str, Any] = field(default_factory=dict)  # shown in status and the report
    repeats: int | None = None  # seeds per trial; None: the study's repeats
    seed_offset: int = 0  # the first seed is train.seed + seed_offset
    final: bool = False  # the best configurations again on fresh seeds, after the search (spec.final)

    @property
    def reused(self) -> dict[str, int]:
        """The stage's points an earlier trial had trained, each label to that trial's number."""
        return dict(self.info.get("reused") or {})

    @property
    def planned(self) -> bool:
        return self.points is not None

    def to_raw(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "space": self.space.to_raw(),
            "n_points": None if self.points is None else len(self.points),
            "points": self.points,  # to find a point that was never queued, or whose retry was lost
            "n_trials": self.n_trials,
            "sampler": self.sampler,
            "carried": dict(self.carried),
            "pinned": dict(self.pinned),
            "info": dict(self.info),
            "repeats": self.repeats,
            "seed_offset": self.seed_offset,
            "final": self.final,
        }

    @classmethod
    def from_raw(cls, raw: Mapping[str, Any]) -> Stage:
        # A study made by an older tunelab kept its points only as trials.
        points: list[dict[str, Any]] | None = None if raw["n_points"] is None else raw.get("points") or []
        return cls(
            name=raw["name"],
            space=Space.from_raw(raw["space"]),
            points=points,
            n_trials=raw["n_trials"],
            sampler=raw["sampler"],
            carried=raw["carried"],
            pinned=raw.get("pinned", {}),
            info=raw["info"],
            repeats=raw.get("repeats"),
            seed_offset=raw.get("seed_offset", 0),
            final=raw.get("final", False),
        )


StageBuilder = Callable[["StudySpec", int, Sequence[FrozenTrial]], Stage | None]
SamplerFactory = Callable[["StudySpec", int], optuna.samplers.BaseSampler]


@dataclass(frozen=True)
class Strategy:
    """One search strategy, as the registry ``STRATEGIES`` holds it under ``config``'s name.

    Calling it builds a stage: ``strategy(spec, index, trials) -> Stage | None``.
    """

    config: type[StrategySettings]
    """The model of the study file's ``strategy:`` section; its ``name`` field is ``Literal[<name>]``."""
    stages: StageBuilder
    sampler: SamplerFactory | None = None
    """``(spec, seed) -> sampler`` for the stages that name this strategy as their ``sampler``."""
    draws_together: bool = False
    """Whether its sampler may draw several trials at once: it learns nothing from their results."""
    open_ended: bool = False
    """One sampled stage that runs until the study's budget, so the study needs a budget."""
    planned: bool = False
    """Every trial is known in advance (a grid, named configurations): its grids are checked first."""
    values_from: str | None = None
    """The field of its section that holds what is tried (``configs``); None: the study's ``space``."""

    @property
    def name(self) -> str:
        return str(self.config.model_fields["name"].default)

    def __call__(self, spec: StudySpec, index: int, trials: Sequence[FrozenTrial]) -> Stage | None:
        return self.stages(spec, index, trials)


def completed(trials: Sequence[FrozenTrial], stage: int | None = None) -> list[FrozenTrial]:
    """tunelab's trials with an objective value, of one stage or of all.

    A trial that other code made on the same study (``study.optimize``) is left out: it has no run
    settings or metrics to carry on, train again or show as the study's answer.
    """
    out = []
    for trial in trials:
        if trial.state != TrialState.COMPLETE:
            continue
        record = TrialRecord.from_trial(trial)
        if not record.external and (stage is None or record.stage == stage):
            out.append(trial)
    return out


def ranked(trials: Sequence[FrozenTrial], spec: StudySpec) -> list[FrozenTrial]:
    """Completed trials, best first."""
    sign = -1.0 if spec.objective.goal == "maximize" else 1.0
    return sorted(completed(trials), key=lambda t: (sign * float(t.value), t.number))  # type: ignore[arg-type]


def is_final(trial: FrozenTrial) -> bool:
    """Whether ``trial`` belongs to the final stage (a configuration trained again on fresh seeds)."""
    return TrialRecord.from_trial(trial).final


def best_trial(trials: Sequence[FrozenTrial], spec: StudySpec) -> FrozenTrial | None:
    """The study's answer: the best final-stage trial once there is one, else the best trial
    (of tunelab's own: see :func:`completed`).

    A final trial's value is a mean over fresh seeds, free of the luck that made its configuration
    win the search, so it is preferred over any single search trial.
    """
    final = ranked([t for t in trials if is_final(t)], spec)
    top = final or ranked(trials, spec)
    return top[0] if top else None
