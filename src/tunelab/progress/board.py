"""What a running study looks like now, kept from what its worker reports (:class:`Board`).

The board is an :class:`~tunelab.search.execution.Observer`: it turns each report into an
:class:`Event` (with one plain line saying what happened) and updates its rows, one per trial being
trained: its stage, each seed's epoch and metric, and its state as it changes (training, early
stopped, pruned, diverged, then the trial's outcome). The views (:mod:`tunelab.progress.views`) draw
it; a callback given to ``run_study(progress=...)`` receives the events themselves.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from optuna.trial import FrozenTrial

from tunelab.search.execution import EpochUpdate, Observer, TrialOutcome
from tunelab.search.plan import Redo
from tunelab.search.record import PER_EPOCH_METRICS
from tunelab.search.spec import StudySpec

EventKind = Literal["note", "started", "trial_started", "epoch", "trial_finished"]
# How a run's last epoch ended, as a row shows it (a run that ran all its epochs is "trained").
ENDED = {"completed": "trained", "early_stopped": "early stopped", "stopped": "stopped"}


@dataclass
class RunRow:
    """One seed of a trial: how far it is and how it stands."""

    seed: int
    epoch: int = 0
    epochs: int = 0
    value: float | None = None  # the epoch metric of its last epoch
    state: str = "training"


@dataclass
class TrialRow:
    """One trial as the board shows it, from its start to its outcome."""

    number: int
    stage: str
    params: dict[str, Any]
    runs: dict[int, RunRow] = field(default_factory=dict)  # by seed
    state: str = "training"  # then its outcome: completed, pruned, diverged, invalid, error
    value: float | None = None  # the objective once finished, else the mean epoch metric of its runs

    @property
    def epoch(self) -> int:
        return max((r.epoch for r in self.runs.values()), default=0)

    @property
    def epochs(self) -> int:
        return max((r.epochs for r in self.runs.values()), default=0)


@dataclass(frozen=True)
class Event:
    """One report of a running study: what it was, one line on it, the trial it concerns (its row,
    which later reports update) and, as reported, the epoch (``update``) or the outcome and the
    trials ``done`` then."""

    kind: EventKind
    board: Board
    text: str
    trial: TrialRow | None = None
    update: EpochUpdate | None = None
    outcome: TrialOutcome | None = None
    done: int = 0


class Board(Observer):
    """The state of a running study: trials done of the total, the best, a row per running trial.

    Every report updates the board under its lock, then becomes an :class:`Event` handed to each of
    ``views`` (outside the lock: a view drawing from another thread, rich's refresh, takes the lock
    to read a consistent board, and must not wait on a printing one).
    """

    def __init__(self, *views: Callable[[Event], None]) -> None:
        self.views = list(views)
        self.lock = threading.RLock()
        self.name = self.strategy = self.storage = ""
        self.metric, self.epoch_metric = "val_accuracy", "val_accuracy"
        self.repeats = 1
        self.done: int = 0
        self.total: int | None = None
        self.best: tuple[float, int] | None = None  # value, trial number
        self.rows: dict[int, TrialRow] = {}  # trials started and not yet finished, in start order
        self.start = time.monotonic()

    def __enter__(self) -> Board:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop the views that draw live (each is closed once; later reports still reach them)."""
        for view in self.views:
            close = getattr(view, "close", None)
            if close is not None:
                close()

    def note(self, text: str) -> None:
        """A sentence on what the study was told to do differently (an override that fixed a setting)."""
        self._emit("note", f"note: {text}")

    # ------------------------------------------------------------------------------- Observer
    def started(
        self, spec: StudySpec, storage: str, done: int, total: int | None, redo: Redo | None = None
    ) -> None:
        with self.lock:
            self.name, self.strategy, self.storage = spec.name, spec.strategy.name, storage
            self.metric = spec.objective.metric
            self.epoch_metric = self.metric if self.metric in PER_EPOCH_METRICS else "val_accuracy"
            self.repeats, self.done, self.total = spec.repeats, done, total
            self.start = time.monotonic()
            text = f"study {spec.name} · {spec.strategy.name} · {storage} · {self.counts()}"
        self._emit("started", text)
        if redo:  # what a rerun takes up again first, said before it starts
            line = f"to do first: {redo.resumed} resumed, {redo.retried} retried, {redo.new} new"
            if redo.failed:
                line += f" · {redo.failed} failed points left as they are (--retry-failed runs them)"
            self._emit("note", line)

    def trial_started(self, number: int, stage: str, params: Mapping[str, Any]) -> None:
        with self.lock:
            row = self.rows[number] = TrialRow(number, stage, dict(params))
            shown = ", ".join(f"{k}={short(v)}" for k, v in params.items())
        self._emit("trial_started", f"trial {number} ({stage}): {shown}", row)

    def epoch(self, update: EpochUpdate) -> None:
        with self.lock:
            row = self.rows.get(update.trial)
            if row is None:  # a trial this board did not see start (another worker's)
                row = self.rows[update.trial] = TrialRow(update.trial, "", {})
            run = row.runs.setdefault(update.seed, RunRow(update.seed))
            run.epoch, run.epochs = update.epoch, update.epochs
            run.value = update.record.get(self.epoch_metric)
            if update.ended:
                run.state = ENDED.get(update.ended, update.ended)
            values = [r.value for r in row.runs.values() if r.value is not None]
            row.value = sum(values) / len(values) if values else None
            states = {r.state for r in row.runs.values()}
            row.state = next((s for s in ("diverged", "pruned") if s in states), None) or (
                "training" if "training" in states else ", ".join(sorted(states))
            )
            seed = f" seed {update.seed}" if self._many_seeds(row) else ""
            value = f" · {self.epoch_metric} {run.value:.4f}" if run.value is not None else ""
            ended = f" · {run.state}" if update.ended else ""
            text = f"trial {update.trial}{seed} epoch {update.epoch}/{update.epochs}{value}{ended}"
        self._emit("epoch", text, row, update=update)

    def trial_finished(self, number: int, outcome: TrialOutcome, done: int, best: FrozenTrial | None) -> None:
        with self.lock:
            row = self.rows.pop(number, None) or TrialRow(number, "", {})
            row.state, row.value = outcome.outcome, outcome.value(self.metric)
            self.done = done
            if best is not None and best.value is not None:
                self.best = (float(best.value), best.number)
            shown = f"{self.metric} {row.value:.4f}" if row.value is not None else (outcome.reason or "")
            text = f"trial {number} {outcome.outcome}: {shown} · {self.counts()} · best {self.best_text()}"
        self._emit("trial_finished", text, row, outcome=outcome)

    # ------------------------------------------------------------------------------- shown
    def counts(self) -> str:
        """``3/8 done``, or ``3 done`` when the total is unknown."""
        return f"{self.done}/{self.total} done" if self.total else f"{self.done} done"

    def best_text(self) -> str:
        return f"{self.best[0]:.4f} (#{self.best[1]})" if self.best else "—"

    def elapsed(self) -> float:
        return time.monotonic() - self.start

    def _many_seeds(self, row: TrialRow) -> bool:
        return self.repeats > 1 or len(row.runs) > 1 or row.stage == "final"

    def _emit(self, kind: EventKind, text: str, row: TrialRow | None = None, **reported: Any) -> None:
        event = Event(kind, self, text, row, done=self.done, **reported)
        for view in self.views:
            view(event)


def short(value: Any) -> str:
    """A parameter's value, short: floats to 4 significant digits."""
    return f"{value:.4g}" if isinstance(value, float) else str(value)
