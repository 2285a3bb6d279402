"""A finished (or running) study for a notebook: ``tunelab.load(path)``.

:class:`LoadedStudy` reads the study's storage again on each call, so a cell re-run while workers go
on shows the newest trials. It computes with :mod:`tunelab.analysis.summaries` and ``effects`` and
draws with :mod:`tunelab.analysis.plots`, the same as the report: every ``plot_*`` returns a
:class:`matplotlib.figure.Figure` (made without pyplot; a notebook shows it, ``fig.savefig`` saves it).

    study = tunelab.load("runs/digits-grid")
    study.trials                   # pandas DataFrame, one row per trial
    study.best.params, study.best.metrics["test_accuracy"]
    study.plot_learning_curves()
    study.report()                 # runs/digits-grid/report/report.html
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tunelab.analysis import effects, plots
from tunelab.analysis import summaries as S
from tunelab.analysis.expected import expected_best_curve
from tunelab.errors import ConfigError

if TYPE_CHECKING:
    import optuna
    import pandas as pd
    from matplotlib.figure import Figure

    from tunelab.search.spec import StudySpec
    from tunelab.search.study import StudyHandle


@dataclass(frozen=True)
class BestTrial:
    """The study's answer (the best of tunelab's trials, a final-stage one once there is one)."""

    number: int
    value: float | None
    params: dict[str, Any]  # Optuna's params: drawn and pinned, the whole configuration searched
    overrides: dict[str, Any]  # the run settings it changed over the study file
    metrics: dict[str, float]  # mean over seeds, <name>_ci95
    seeds: list[int]
    stage: str | None
    external: dict[str, Any] = field(default_factory=dict)  # trials other code made: count, best


class LoadedStudy:
    """A study read from its storage: trials, best trial, report and figures."""

    def __init__(self, handle: StudyHandle) -> None:
        self.handle = handle

    def __repr__(self) -> str:
        spec = self.spec
        n = len(self.optuna_study.get_trials(deepcopy=False))
        return f"<tunelab study {spec.name!r}: {spec.strategy.name}, {n} trials, {self.handle.storage_shown}>"

    # ------------------------------------------------------------------------------------ data
    @property
    def spec(self) -> StudySpec:
        return self.handle.spec

    @property
    def optuna_study(self) -> optuna.Study:
        """The Optuna study itself, for Optuna's own tools (``optuna.visualization``, ...)."""
        return self.handle.study

    @property
    def out_dir(self) -> Path:
        return self.handle.out_dir

    @property
    def trials(self) -> pd.DataFrame:
        """One row per trial, as ``tunelab export`` writes it: parameters, metrics, status, seeds."""
        from tunelab.search.results import trials_dataframe

        return trials_dataframe(self.handle)

    @property
    def best(self) -> BestTrial | None:
        """The best of tunelab's trials; None while no trial has completed."""
        from tunelab.search.status import best_summary

        try:
            summary = best_summary(self.handle)
        except ConfigError:
            return None
        keys = ("number", "value", "params", "overrides", "metrics", "seeds", "stage", "external")
        return BestTrial(**{k: summary[k] for k in keys})

    def data(self) -> S.StudyData:
        """The study read once: what the report and the figures are computed from."""
        return S.StudyData.from_handle(self.handle)

    def results(self) -> pd.DataFrame:
        """The report's results table: every trial, best first."""
        return S.results_table(self.data())

    def learning_curves(self, top_k: int = 5) -> pd.DataFrame:
        """Per-epoch curves of the ``top_k`` best trials (mean over seeds)."""
        return S.learning_curves(self.data(), top_k)

    def report(self, out: str | Path | None = None, **options: Any) -> Path:
        """Write the report (default: ``<out_dir>/report``); the path of its ``report.html``.

        ``options`` are :func:`tunelab.analysis.report.build_report`'s: ``baselines``, ``top_k``, ...
        """
        from tunelab.analysis.report import build_report

        return build_report(self.handle, Path(out) if out else self.out_dir / "report", **options)

    # --------------------------------------------------------------------------------- figures
    def plot_history(self) -> Figure:
        """The objective of each completed trial and the best so far."""
        data = self.data()
        return plots.history_figure(S.optimization_history(data), data.metric)

    def plot_learning_curves(self, top_k: int = 5) -> Figure:
        """Train and validation loss and accuracy by epoch of the ``top_k`` best trials."""
        return plots.learning_curves_figure(self.learning_curves(top_k))

    def plot_importance(self) -> Figure:
        """fANOVA importance and Spearman correlation of each parameter with the objective."""
        data = self.data()
        return plots.importance_figure(effects.param_importance(data), effects.correlations(data))

    def plot_confusion(self) -> Figure:
        """The best trial's test confusion matrix."""
        return plots.confusion_figure(self._best_metrics())

    def plot_per_class(self) -> Figure:
        """The best trial's per-class test precision, recall and F1."""
        return plots.per_class_figure(self._best_metrics())

    def plot_expected_best(self) -> Figure:
        """The expected best score against the number of trials (Dodge et al. 2019)."""
        data = self.data()
        values = [t.value for t in data.searched if t.value is not None and S.status_of(t) == "completed"]
        if not values:
            raise ConfigError(f"study {self.spec.name!r} has no completed trial yet")
        return plots.expected_figure(expected_best_curve(values, data.goal), data.metric, data.goal)

    def plot_densities(self, q: float = 0.2) -> Figure:
        """Paper 002's KDE of each numeric parameter: the best ``q`` of the trials against all."""
        found = effects.densities(self.data(), q)
        if not found:
            raise ConfigError("densities need at least three completed trials with a numeric parameter")
        return plots.kde_figure(found, q)

    def plot_scatter(self, param: str | None = None) -> Figure:
        """Validation accuracy against validation loss, one point per trial (coloured by ``param``)."""
        return plots.scatter_figure(S.scatter_points(self.data()), param)

    def _best_metrics(self) -> S.BestMetrics:
        best = S.best_metrics(self.data())
        if best is None or best.confusion is None:
            raise ConfigError(f"study {self.spec.name!r} has no completed trial with test metrics yet")
        return best


def load(where: str | Path, storage: str | None = None) -> LoadedStudy:
    """Open a study from its output folder (which holds ``study.yaml``) or its study file."""
    from tunelab.search import load_study

    path = Path(where)
    if not path.exists():
        raise ConfigError(f"{path}: no such study file or output folder")
    return LoadedStudy(load_study(path, storage))
