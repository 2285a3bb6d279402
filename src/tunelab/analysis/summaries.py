"""What a report shows, as numbers: tables (DataFrames) and small dataclasses, no drawing.

Everything starts from :class:`StudyData`, one read of a study's storage: its spec, its trials, its
stages and the trials table. Parameter effects (importance, correlations, densities) are in
:mod:`tunelab.analysis.effects`, per-stage tables and coarse-to-fine bounds in
:mod:`tunelab.analysis.stages`, the expected-best curve in :mod:`tunelab.analysis.expected`.
"""

from __future__ import annotations

import contextlib
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

import numpy as np
import pandas as pd
from optuna.trial import FrozenTrial, TrialState

from tunelab.search.record import FAILURES, StudyRecord, TrialRecord
from tunelab.search.results import trial_row
from tunelab.search.scheduling import done_trials
from tunelab.search.spec import StudySpec
from tunelab.search.status import external_summary
from tunelab.search.strategies.base import Stage, best_trial, is_final, ranked
from tunelab.train.metrics import metrics_from_confusion

if TYPE_CHECKING:
    from tunelab.baselines import BaselineResults
    from tunelab.search.study import StudyHandle

SHOWN_METRICS = ("val_accuracy", "val_loss", "test_accuracy", "test_loss", "train_time_s", "epochs")
CURVE_COLUMNS = ("train_loss", "train_accuracy", "val_loss", "val_accuracy", "lr")


class TrialCounts(NamedTuple):
    """A study's trials: ``finished`` count towards the budget; ``interrupted`` and ``failed`` were
    run again as later trials (or ``--retry-failed`` ran their point again); ``external`` were made
    on the study by other code than tunelab; ``pending`` are running or waiting."""

    finished: int = 0
    interrupted: int = 0
    failed: int = 0
    external: int = 0
    pending: int = 0


@dataclass(frozen=True)
class StudyData:
    """A study read once: spec, trials in number order, stages, the trials table and provenance."""

    spec: StudySpec
    trials: list[FrozenTrial]
    stages: list[Stage] = field(default_factory=list)
    storage: str = ""
    provenance: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_handle(cls, handle: StudyHandle) -> StudyData:
        study = handle.study
        return cls(
            spec=handle.spec,
            trials=sorted(study.get_trials(deepcopy=False), key=lambda t: t.number),
            stages=handle.stages(),
            storage=handle.storage_shown,
            provenance=dict(StudyRecord.from_study(study).provenance),
        )

    @property
    def metric(self) -> str:
        return self.spec.objective.metric

    @property
    def goal(self) -> Literal["maximize", "minimize"]:
        return self.spec.objective.goal

    @property
    def ranked(self) -> list[FrozenTrial]:
        """Completed trials, best first."""
        return ranked(self.trials, self.spec)

    @property
    def searched(self) -> list[FrozenTrial]:
        """The search's trials: tunelab's, but the final stage's (the best configurations again, on
        fresh seeds).

        What describes the search (parameter effects, densities, grouped metrics, the expected best
        against the budget) is computed from these.
        """
        return [t for t in self.trials if not is_final(t) and not TrialRecord.from_trial(t).external]

    @property
    def external(self) -> list[FrozenTrial]:
        """Trials that other code than tunelab made on the study (``study.optimize``): shown, not ranked."""
        return [t for t in self.trials if TrialRecord.from_trial(t).external]

    @property
    def best(self) -> FrozenTrial | None:
        """The final stage's best once there is one (a mean over fresh seeds), else the best trial."""
        return best_trial(self.trials, self.spec)

    def frame(self) -> pd.DataFrame:
        """One row per trial, as ``tunelab export`` writes it (parameters as ``params_<name>``)."""
        return pd.DataFrame([trial_row(t) for t in self.trials])

    def counts(self) -> TrialCounts:
        """The study's trials by what became of them (see :class:`TrialCounts`)."""
        finished = {t.number for t in done_trials(self.trials)}
        counts = Counter[str]()
        for trial in self.trials:
            record = TrialRecord.from_trial(trial)
            if trial.number in finished:
                key = "finished"
            elif trial.state in (TrialState.RUNNING, TrialState.WAITING):
                key = "pending"
            elif record.external:
                key = "external"
            elif record.outcome in FAILURES:
                key = "failed"
            else:
                key = "interrupted"
            counts[key] += 1
        return TrialCounts(**counts)

    def counts_text(self) -> str:
        """``15 trials``, or e.g. ``15 trials (5 more interrupted and run again; 1 not finished)``."""
        counts = self.counts()
        extras = [
            f"{n} {text}"
            for n, text in [
                (counts.interrupted, "more interrupted and run again"),
                (counts.failed, "more failed and run again"),
                (counts.external, "made outside tunelab"),
                (counts.pending, "not finished"),
            ]
            if n
        ]
        return f"{counts.finished} trials" + (f" ({'; '.join(extras)})" if extras else "")

    def param_names(self) -> list[str]:
        """Every parameter some search trial drew, in first-seen order."""
        return list(dict.fromkeys(name for t in self.searched for name in drawn(t)))


def drawn(trial: FrozenTrial) -> dict[str, Any]:
    """The parameters a trial's stage searched (not those it held at one value): what effects use."""
    return TrialRecord.from_trial(trial).drawn(trial)


def status_of(trial: FrozenTrial) -> str:
    """The trial's outcome (``diverged``, ``invalid``, ...), or Optuna's state for a trial without one."""
    return str(TrialRecord.from_trial(trial).status(trial))


# ------------------------------------------------------------------------------------------- study
def study_summary(data: StudyData) -> pd.DataFrame:
    """``item``/``value`` rows: what was searched, how, with what outcome, and where it ran."""
    spec, best = data.spec, data.best
    outcomes = Counter(status_of(t) for t in data.trials)
    objective = f"{spec.objective.goal} {spec.objective.metric}"
    rows: list[tuple[str, Any]] = [
        ("study", spec.name),
        ("description", spec.description or "—"),
        ("dataset", f"{_dataset(spec)} (validation fraction {spec.data.val_fraction:g})"),
        ("model", _describe(spec.model.model_dump(mode="json"))),
        ("training", _training(spec)),
        ("strategy", spec.strategy.name),
        ("objective", objective + (f", mean of {spec.repeats} seeds" if spec.repeats > 1 else "")),
        ("pruner", spec.pruner.name),
        (
            "trials",
            data.counts_text() + (f" (budget {spec.budget.n_trials})" if spec.budget.n_trials else ""),
        ),
        ("outcomes", ", ".join(f"{k} {v}" for k, v in sorted(outcomes.items())) or "—"),
        ("parameters", ", ".join(data.param_names()) or "—"),
        ("best trial", f"#{best.number}: {spec.objective.metric} = {best.value:.4f}" if best else "—"),
        ("storage", data.storage or "—"),
    ]
    if data.external:
        rows.insert(-2, ("external trials", external_note(data)))
    return pd.DataFrame(rows, columns=["item", "value"])


def external_note(data: StudyData) -> str:
    """What the trials that other code made on the study are, and their best value (not ranked)."""
    summary = external_summary(data.trials, data.goal)
    text = f"{summary['count']} made by other code than tunelab (not ranked"
    best = summary["best"]
    return text + (f"; best value {best['value']:.4f}, #{best['number']})" if best else ")")


def provenance_table(data: StudyData) -> pd.DataFrame:
    """``item``/``value`` rows of where the study ran: versions, code revision, device, data checksums."""
    rows = []
    for key, value in data.provenance.items():
        if isinstance(value, dict):
            value = ", ".join(f"{k}: {v}" for k, v in value.items()) or "—"
        rows.append((key.replace("_", " "), "—" if value is None else str(value)))
    return pd.DataFrame(rows, columns=["item", "value"])


def results_table(data: StudyData, trials: Sequence[FrozenTrial] | None = None) -> pd.DataFrame:
    """Every trial, best first (then pruned and failed ones by number): parameters, metrics, status.

    Metric columns hold the mean over seeds; when a trial has several seeds, each has a ``<name>_ci95``
    column (95% Student-t half-width) beside it. ``population`` is the number of runs a trial's runs
    trained with as one vectorised population (they share its ``train_time_s``); dropped when every
    run trained alone.
    """
    chosen = list(data.trials if trials is None else trials)
    rank = {t.number: i + 1 for i, t in enumerate(data.ranked)}
    names = list(dict.fromkeys(name for t in chosen for name in t.params))
    seeded = any(len(TrialRecord.from_trial(t).runs) > 1 for t in chosen)
    shown = [c for m in SHOWN_METRICS for c in (m, f"{m}_ci95") if c == m or (seeded and m != "epochs")]
    rows = []
    for trial in chosen:
        record = TrialRecord.from_trial(trial)
        rows.append(
            {
                "rank": rank.get(trial.number),
                "trial": trial.number,
                "stage": record.stage_name,
                "status": record.status(trial),
                # a value fixed in its stage (coarse-to-fine's fine stage) is the trial's override
                **{name: _key(trial.params.get(name, record.overrides.get(name))) for name in names},
                **{c: record.metrics.get(c, math.nan) for c in shown},
                "population": max((r.get("population") or 1 for r in record.runs), default=1),
                "reason": _external_reason(trial) if record.external else record.reason,
            }
        )
    columns = ["rank", "trial", "stage", "status", *names, *shown, "population", "reason"]
    frame = pd.DataFrame(rows, columns=columns)
    frame["rank"] = frame["rank"].astype("Int64")
    frame = (
        frame.assign(_order=frame["rank"].astype("Float64").fillna(math.inf))
        .sort_values(["_order", "trial"], kind="stable")
        .drop(columns="_order")
        .reset_index(drop=True)
    )
    if frame["stage"].nunique(dropna=True) <= 1:
        frame = frame.drop(columns="stage")
    if frame["reason"].isna().all():
        frame = frame.drop(columns="reason")
    if (frame["population"] <= 1).all():  # every run trained alone: each time is its own
        frame = frame.drop(columns="population")
    return frame


def _external_reason(trial: FrozenTrial) -> str:
    value = "" if trial.value is None else f": value {trial.value:.4f}"
    return f"made by other code than tunelab{value}"


# ------------------------------------------------------------------------------------- best trial
@dataclass(frozen=True)
class BestMetrics:
    """The best trial's macro metrics (validation and test), per-class test metrics and confusion."""

    number: int
    macro: pd.DataFrame  # metric, validation, validation_ci95, test, test_ci95
    per_class: pd.DataFrame  # class, precision, recall, f1, support (test; mean over seeds)
    confusion: np.ndarray | None  # test, summed over seeds: [true][predicted]
    n_runs: int


def best_metrics(data: StudyData, trial: FrozenTrial | None = None) -> BestMetrics | None:
    trial = trial or data.best
    if trial is None:
        return None
    record = TrialRecord.from_trial(trial)
    metrics, runs = record.metrics, record.runs
    rows = []
    for name in ("accuracy", "precision", "recall", "f1", "loss"):
        rows.append(
            {
                "metric": name,
                "validation": metrics.get(f"val_{name}", math.nan),
                "validation_ci95": metrics.get(f"val_{name}_ci95", math.nan),
                "test": metrics.get(f"test_{name}", math.nan),
                "test_ci95": metrics.get(f"test_{name}_ci95", math.nan),
            }
        )
    matrices = [np.asarray(r["test_confusion"]) for r in runs if r.get("test_confusion")]
    per_class = pd.DataFrame(columns=["class", "precision", "recall", "f1", "support"])
    confusion = None
    if matrices:
        confusion = np.sum(matrices, axis=0)
        classes = [metrics_from_confusion(m, math.nan).per_class for m in matrices]
        per_class = pd.DataFrame(
            {
                "class": [str(i) for i in range(confusion.shape[0])],
                **{k: np.mean([c[k] for c in classes], axis=0) for k in ("precision", "recall", "f1")},
                "support": np.asarray(classes[0]["support"], dtype=int),
            }
        )
    return BestMetrics(trial.number, pd.DataFrame(rows), per_class, confusion, len(runs))


# ------------------------------------------------------------------------------------------ curves
def learning_curves(data: StudyData, top_k: int = 5) -> pd.DataFrame:
    """Per-epoch train/val loss and accuracy and learning rate of the ``top_k`` best trials.

    ``rank`` 1 is the best trial. With several seeds each epoch is their mean (over the seeds that
    reached it: early stopping can end seeds at different epochs); ``n_seeds`` says how many.
    """
    frames = []
    for rank, trial in enumerate(data.ranked[:top_k], start=1):
        history = trial_history(trial)
        if history.empty:
            continue
        present = [c for c in CURVE_COLUMNS if c in history]
        mean = history.groupby("epoch")[present].mean()
        mean["n_seeds"] = history.groupby("epoch")["seed"].nunique()
        frames.append(mean.reset_index().assign(trial=trial.number, rank=rank))
    if not frames:
        return pd.DataFrame(columns=["trial", "rank", "epoch", *CURVE_COLUMNS, "n_seeds"])
    frame = pd.concat(frames, ignore_index=True)
    return frame[["trial", "rank", "epoch", *[c for c in frame if c not in ("trial", "rank", "epoch")]]]


def trial_history(trial: FrozenTrial) -> pd.DataFrame:
    """Every epoch of every seed of a trial: ``seed``, ``epoch`` and the history columns."""
    frames = []
    for run in TrialRecord.from_trial(trial).runs:
        history = run.get("history") or {}
        if history.get("epoch"):
            frames.append(pd.DataFrame(history).assign(seed=run.get("seed")))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["seed", "epoch"])


def lr_schedule(data: StudyData) -> pd.DataFrame:
    """The best trial's learning rate by epoch, one column per seed (``seed <s>``)."""
    best = data.best
    history = trial_history(best) if best else pd.DataFrame()
    if history.empty or "lr" not in history or history["lr"].isna().all():
        return pd.DataFrame(columns=["epoch"])
    table = history.pivot_table(index="epoch", columns="seed", values="lr")
    table.columns = [f"seed {s}" for s in table.columns]
    return table.reset_index()


def optimization_history(data: StudyData) -> pd.DataFrame:
    """Each trial's objective value (NaN unless completed) and the best value so far (of tunelab's
    own trials: one that other code made shows its value, status ``external``)."""
    sign = 1.0 if data.goal == "maximize" else -1.0
    rows, best = [], -math.inf
    for trial in data.trials:
        value = trial.value if trial.state == TrialState.COMPLETE else None
        record = TrialRecord.from_trial(trial)
        if value is not None and not record.external:  # the best so far is tunelab's
            best = max(best, sign * value)
        rows.append(
            {
                "trial": trial.number,
                "stage": record.stage_name,
                "status": record.status(trial),
                "value": math.nan if value is None else value,
                "best_so_far": sign * best if math.isfinite(best) else math.nan,
            }
        )
    return pd.DataFrame(rows, columns=["trial", "stage", "status", "value", "best_so_far"])


# ------------------------------------------------------------------------- grouped (paper 001)
def group_params(data: StudyData, max_values: int = 6) -> list[str]:
    """Parameters with 2 to ``max_values`` distinct values among completed trials: worth grouping by."""
    done = [t for t in data.searched if t.state == TrialState.COMPLETE]
    chosen = []
    for name in data.param_names():
        values = {_key(drawn(t)[name]) for t in done if name in drawn(t)}
        if 2 <= len(values) <= max_values:
            chosen.append(name)
    return chosen


def grouped_metrics(data: StudyData, param: str) -> pd.DataFrame:
    """Completed trials grouped by one parameter's value: mean and std of time, test accuracy and loss."""
    rows = []
    for trial in data.searched:
        if trial.state != TrialState.COMPLETE or param not in drawn(trial):
            continue
        metrics = TrialRecord.from_trial(trial).metrics
        rows.append(
            {
                "value": _key(trial.params[param]),
                **{m: metrics.get(m, math.nan) for m in ("train_time_s", "test_accuracy", "test_loss")},
            }
        )
    if not rows:
        return pd.DataFrame(columns=["value", "n"])
    frame = pd.DataFrame(rows)
    grouped = frame.groupby("value", sort=False)
    out = grouped.agg(["mean", "std"])
    out.columns = [f"{m}_{s}" if s == "std" else m for m, s in out.columns]
    out.insert(0, "n", grouped.size())
    out = out.reset_index()
    with contextlib.suppress(TypeError, ValueError):  # numbers in numeric order, others as first seen
        out = out.sort_values("value", key=lambda s: s.astype(float)).reset_index(drop=True)
    return out


def scatter_points(data: StudyData) -> pd.DataFrame:
    """Completed trials' validation accuracy and loss (and test metrics, time and parameters)."""
    table = results_table(data, [t for t in data.searched if t.state == TrialState.COMPLETE])
    return table.drop(columns=[c for c in table if c.endswith("_ci95")])


def _key(value: Any) -> Any:
    """A hashable, printable stand-in for a parameter value (lists become strings)."""
    return str(value) if isinstance(value, list | dict | tuple) else value


# ------------------------------------------------------------------------------------- baselines
def baselines_table(data: StudyData, baselines: Sequence[BaselineResults]) -> pd.DataFrame:
    """The study's best trial beside each classical baseline, best test accuracy first."""
    rows = []
    best = data.best
    if best is not None:
        record = TrialRecord.from_trial(best)
        metrics = record.metrics
        # the trial's own settings: a listed configuration may train on another dataset than the study file's
        dataset = data.spec.run_config(record.overrides).data.name
        rows.append(
            {
                "model": f"{data.spec.model.kind} (study best, trial #{best.number})",
                "dataset": dataset,
                "params": ", ".join(f"{k}={_short(v)}" for k, v in best.params.items()),
                **{m: metrics.get(m, math.nan) for m in ("val_accuracy", "test_accuracy", "test_f1")},
                "time_s": metrics.get("train_time_s", math.nan),
                "source": "study",
            }
        )
    for result in baselines:
        for _, row in result.table().iterrows():
            rows.append(
                {
                    "model": row["model"],
                    "dataset": result.dataset,
                    "params": row["params"],
                    **{m: row[m] for m in ("val_accuracy", "test_accuracy", "test_f1")},
                    "time_s": row["fit_time_s"],
                    "source": "baseline",
                }
            )
    columns = ["model", "dataset", "params", "val_accuracy", "test_accuracy", "test_f1", "time_s", "source"]
    frame = pd.DataFrame(rows, columns=columns)
    return frame.sort_values("test_accuracy", ascending=False, kind="stable").reset_index(drop=True)


def _dataset(spec: StudySpec) -> str:
    """The dataset's name, and for the user's own files where they are."""
    data = spec.data
    if not data.from_files:
        return data.name
    return f"{data.name} {data.path}" + (f" (test: {data.test_path})" if data.test_path else "")


def _describe(raw: dict[str, Any], keys: Sequence[str] = ("hidden", "channels", "activation")) -> str:
    params = raw.get("params") or {}  # a model factory's settings
    described = [*(f"{k} {raw[k]}" for k in keys if k in raw), *(f"{k} {v}" for k, v in params.items())]
    return ", ".join([str(raw["kind"]), *described])


def _training(spec: StudySpec) -> str:
    train = spec.train.model_dump(mode="json")
    optimizer, schedule = train["optimizer"], train.get("schedule") or {}
    text = (
        f"{train['epochs']} epochs, batch {train['batch_size']}, {optimizer['name']} (lr {optimizer['lr']:g})"
    )
    text += f", {schedule.get('name', 'constant')} schedule"
    return text + (", early stopping" if train.get("early_stopping") else "")


def _short(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)
