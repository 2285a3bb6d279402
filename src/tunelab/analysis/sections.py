"""What a study's report says, section by section: text, tables (computed in ``summaries``, ``effects``,
``stages``, ``expected``) and figures (drawn in ``plots``), in the order the report shows them.

:func:`report_sections` only composes; :mod:`tunelab.analysis.report` writes the sections out in every
format. A section that does not apply to a study is left out.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
from optuna.trial import TrialState

from tunelab.analysis import effects, plots, stages
from tunelab.analysis import summaries as S
from tunelab.analysis.expected import budget_verdict, expected_best_curve
from tunelab.analysis.render import FigureItem, Section, TableItem, format_value
from tunelab.analysis.summaries import StudyData
from tunelab.config.data import SPLIT_FIELDS
from tunelab.search.record import TrialRecord
from tunelab.search.strategies.base import is_final

if TYPE_CHECKING:
    from tunelab.baselines import BaselineResults

MAX_ROWS = 50  # rows of the results table shown in the documents; the CSV has them all
MAX_GROUPED = 3  # parameters drawn as paper 001's grouped bar charts


def report_sections(
    data: StudyData,
    baselines: Sequence[BaselineResults] = (),
    top_k: int = 5,
    q: float = 0.2,
    ensembles: Sequence[Any] = (),
    probes: Sequence[tuple[Path, Any]] = (),
    log: Callable[[str], None] | None = None,
) -> list[Section]:
    """The report's sections, in order; those that do not apply are left out.

    ``probes`` pairs each probe folder with what :func:`tunelab.probes.load_probes` read from it;
    ``log`` hears the name of each section as its computing starts (some take seconds: fANOVA).
    """
    builders: list[tuple[str, Callable[[], Section | None]]] = [
        ("summary", lambda: _summary(data)),
        ("results", lambda: _results(data)),
        ("best trial", lambda: _best(data)),
        ("learning curves", lambda: _curves(data, top_k)),
        ("search history", lambda: _search(data)),
        ("parameter importance", lambda: _parameters(data)),
        ("grouped metrics", lambda: _grouped(data)),
        ("densities", lambda: _densities(data, q)),
        ("bounds", lambda: _bounds(data)),
        ("stages", lambda: _stages(data)),
        ("final", lambda: _final(data)),
        ("baselines", lambda: _baselines(data, baselines)),
        ("ensembles", lambda: _ensembles(ensembles)),
        ("probes", lambda: _probes(probes)),
        ("provenance", lambda: _provenance(data)),
    ]
    sections = []
    for name, build in builders:
        if log is not None:
            log(f"computing {name}")
        section = build()
        if section is not None and section.blocks:
            sections.append(section)
    return sections


# ------------------------------------------------------------------------------------- sections
def _summary(data: StudyData) -> Section:
    spec, best = data.spec, data.best
    text = (
        f"Study `{spec.name}` ran {data.counts_text()} with the `{spec.strategy.name}` strategy on "
        f"`{spec.data.name}`, to {spec.objective.goal} `{spec.objective.metric}`"
        + (f" (mean of {spec.repeats} seeds per configuration)." if spec.repeats > 1 else ".")
    )
    if best is not None:
        record = TrialRecord.from_trial(best)
        metrics, seeds = record.metrics, record.seeds
        if is_final(best):
            text += (
                f" The best configuration ({best.params.get('final')} of the search), trained again on "
                f"{len(seeds)} fresh seeds as final trial #{best.number}, reached {spec.objective.metric} = "
                f"{_mean_ci(metrics, spec.objective.metric)}"
            )
        else:
            text += f" The best, trial #{best.number}, reached {spec.objective.metric} = {best.value:.4f}"
        if "test_accuracy" in metrics:
            text += f" and a test accuracy of {_mean_ci(metrics, 'test_accuracy')}"
        text += "."
    else:
        text += " No trial completed, so only the trials table and the history follow."
    if data.external:
        n = len(data.external)
        text += (
            f" {n} trial{'s' if n > 1 else ''} on the study {'were' if n > 1 else 'was'} made by other code "
            "than tunelab (plain Optuna on its storage): listed as `external` with "
            f"{'their' if n > 1 else 'its'} parameters and value, not ranked."
        )
    table = TableItem("study", S.study_summary(data), "Study and settings (provenance at the end)")
    return Section("Summary", [text, table])


def _provenance(data: StudyData) -> Section:
    table = S.provenance_table(data)
    if table.empty:
        return Section("Provenance", ["The study's storage records no provenance."])
    return Section("Provenance", [TableItem("provenance", table, "Where and with what the study ran")])


def _mean_ci(metrics: dict[str, Any], name: str) -> str:
    """``0.9871 ± 0.0012`` (95% CI over seeds), or the value alone for one seed."""
    ci = metrics.get(f"{name}_ci95")
    return f"{metrics[name]:.4f}" + (f" ± {ci:.4f}" if isinstance(ci, float) and ci == ci and ci > 0 else "")


def _results(data: StudyData) -> Section:
    repeats = data.spec.repeats
    caption = "All trials, best first" + (f" (mean ± 95% CI over {repeats} seeds)" if repeats > 1 else "")
    if data.spec.final and repeats == 1:
        caption += " (final trials: mean ± 95% CI over their seeds)"
    table = S.results_table(data)
    blocks: list[str | TableItem | FigureItem] = [TableItem("results", table, caption, max_rows=MAX_ROWS)]
    if "population" in table:
        blocks.insert(
            0,
            "Runs trained together as one vectorised population (`population`: how many) share each "
            "step, so each member's `train_time_s` is the whole population's training time, not its own.",
        )
    return Section("Results", blocks)


def _best(data: StudyData) -> Section | None:
    best = S.best_metrics(data)
    trial = data.best
    if best is None or trial is None:
        return None
    params = (
        ", ".join(f"`{k}` = {format_value(v)}" for k, v in trial.params.items()) or "no searched parameter"
    )
    blocks: list[str | TableItem | FigureItem] = [f"Trial #{trial.number}: {params}."]
    overrides = TrialRecord.from_trial(trial).overrides
    if overrides:
        rows = [(k, v if isinstance(v, int | float | bool) else str(v)) for k, v in overrides.items()]
        frame = pd.DataFrame(rows, columns=["setting", "value"], dtype=object)
        blocks.append(TableItem("best_config", frame, "Run settings of the best trial (over the study file)"))
    ci = " (± 95% CI over seeds)" if best.n_runs > 1 else ""
    blocks.append(TableItem("best_metrics", best.macro, f"Macro-averaged metrics of the best trial{ci}"))
    if best.confusion is not None:
        blocks.append(TableItem("best_per_class", best.per_class, "Per-class test metrics of the best trial"))
        blocks.append(FigureItem("confusion", plots.confusion_figure(best), "Test confusion matrix."))
        blocks.append(FigureItem("per_class", plots.per_class_figure(best), "Per-class test P/R/F1."))
    return Section("Best configuration", blocks)


def _curves(data: StudyData, top_k: int) -> Section | None:
    curves = S.learning_curves(data, top_k)
    if curves.empty:
        return None
    shown = curves["trial"].nunique()
    blocks: list[str | TableItem | FigureItem] = [
        FigureItem(
            "learning_curves",
            plots.learning_curves_figure(curves),
            f"Learning curves of the best {shown} trial{'s' if shown > 1 else ''} "
            "(train dashed, validation solid; mean over seeds).",
        ),
        TableItem("learning_curves", curves, "Learning curves", show=False),
    ]
    schedule = S.lr_schedule(data)
    if len(schedule) and data.best is not None:
        values = schedule.drop(columns="epoch").stack()
        if values.nunique() == 1:
            blocks.append(f"The best trial's learning rate stayed at {values.iloc[0]:.4g} throughout.")
        else:
            figure = plots.lr_figure(schedule, data.best.number)
            blocks.append(FigureItem("lr_schedule", figure, "Learning rate of the best trial by epoch."))
    return Section("Learning curves", blocks)


def _search(data: StudyData) -> Section:
    history = S.optimization_history(data)
    blocks: list[str | TableItem | FigureItem] = [
        FigureItem(
            "history",
            plots.history_figure(history, data.metric),
            "Objective of each completed trial and the best so far.",
        ),
        TableItem("history", history, "Optimization history", show=False),
    ]
    values = [t.value for t in data.searched if t.state == TrialState.COMPLETE and t.value is not None]
    if values:
        curve = expected_best_curve(values, data.goal)
        blocks.append(
            FigureItem(
                "expected_best",
                plots.expected_figure(curve, data.metric, data.goal),
                "Expected best validation score of n trials drawn from the completed ones "
                "(Dodge et al., 2019), ± 1 std.",
            )
        )
        blocks.append(budget_verdict(curve, data.metric, data.goal))
        blocks.append(TableItem("expected_best", curve, "Expected best score by budget", show=False))
    return Section("Search", blocks)


def _parameters(data: StudyData) -> Section | None:
    importance, rho = effects.param_importance(data), effects.correlations(data)
    blocks: list[str | TableItem | FigureItem] = []
    if importance.note:
        blocks.append(f"No importance: {importance.note}.")
    else:
        blocks.append(TableItem("importance", importance.table, "fANOVA parameter importance (Optuna)"))
    if len(rho):
        blocks.append(
            TableItem("correlations", rho, "Spearman correlation of each parameter with the objective")
        )
    if len(importance.table) or rho["rho"].notna().any():
        figure = plots.importance_figure(importance, rho)
        blocks.append(
            FigureItem("importance", figure, "Parameter importance and correlation with the objective.")
        )
    return Section("Parameters", blocks) if len(data.param_names()) else None


def _grouped(data: StudyData) -> Section | None:
    names = S.group_params(data)[:MAX_GROUPED]
    points = S.scatter_points(data)
    if len(points) < 2:
        return None
    blocks: list[str | TableItem | FigureItem] = [
        FigureItem(
            "scatter_val",
            plots.scatter_figure(points, names[0] if names else None),
            "Validation accuracy against validation loss, one point per completed trial.",
        )
    ]
    for name in names:
        grouped = S.grouped_metrics(data, name)
        slug = name.replace(".", "_")
        blocks.append(
            FigureItem(f"by_{slug}", plots.grouped_bars_figure(grouped, name), f"Trials grouped by `{name}`.")
        )
        blocks.append(TableItem(f"by_{slug}", grouped, f"Completed trials grouped by {name}"))
    return Section("By parameter value", blocks)


def _densities(data: StudyData, q: float) -> Section | None:
    found = effects.densities(data, q)
    if not found:
        return None
    where = " of the coarse stage" if data.spec.strategy.name == "coarse_to_fine" else ""
    return Section(
        "Parameter densities",
        [
            f"Kernel density estimates of each numeric parameter over the best {q:.0%} of the trials{where} "
            "and over all of them (log-scaled parameters in log space). The best trials' mean ± std is "
            "where a finer search would look next.",
            FigureItem("kde", plots.kde_figure(found, q), f"Top {q:.0%} vs all trials."),
            TableItem("densities", effects.density_table(found), f"Top {q:.0%} of trials vs all"),
        ],
    )


def _bounds(data: StudyData) -> Section | None:
    bounds = stages.narrowed_bounds(data)
    if bounds is None:
        return None
    info = data.stages[1].info
    top = ", ".join(f"#{n}" for n in info.get("top_trials", []))
    text = (
        f"The fine stage searched mean ± {getattr(data.spec.strategy, 'width', 1.0):g} std of the best "
        f"{len(info.get('top_trials', []))} of {info.get('of', '?')} coarse trials ({top}); a discrete "
        "parameter was fixed at its most frequent value. `fine_share` is the fine range's share of the "
        "coarse one (in log space for a log-scaled parameter)."
    )
    return Section("Coarse-to-fine bounds", [text, TableItem("bounds", bounds, "Coarse and fine ranges")])


def _stages(data: StudyData) -> Section | None:
    summaries = stages.stage_summaries(data)
    if len(summaries) < 2:
        return None
    blocks: list[str | TableItem | FigureItem] = []
    for stage in summaries:
        carried = ", ".join(f"`{k}` = {format_value(v)}" for k, v in stage.carried.items())
        source = stage.info.get("carried_from")
        text = f"Stage {stage.index + 1}, `{stage.name}`: {len(stage.table)} trials"
        text += f", best #{stage.best}" if stage.best is not None else ", none completed"
        text += f"; carried from trial #{source}: {carried}" if carried and source is not None else ""
        reused = stage.info.get("reused") or {}
        shown = "; ".join(f"`{point}`: trial #{number}" for point, number in reused.items())
        text += f"; not trained again, already trained: {shown}." if reused else "."
        slug = f"stage_{stage.index + 1}_{stage.name}".replace(".", "_").replace(" ", "_")
        blocks += [text, TableItem(slug, stage.table, f"Stage {stage.index + 1}: {stage.name}")]
    return Section("Stages", blocks)


def _final(data: StudyData) -> Section | None:
    table = stages.final_table(data)
    if table is None:
        return None
    final = data.spec.final
    metric = data.metric
    text = (
        f"After the search, its best {final.top if final else '?'} configuration"
        f"{'s were' if final and final.top > 1 else ' was'} trained again on "
        f"{final.seeds if final else '?'} seeds the search did not use. `search_{metric}` is what the "
        f"configuration scored in the search; the other columns are means over the fresh seeds with "
        "their 95% confidence half-widths (`_ci95`, Student t): a search's winner usually scores a little "
        "lower on fresh seeds, since part of its win was the luck of its seed."
    )
    caption = "Final configurations: mean ± 95% CI over fresh seeds"
    return Section("Final configurations", [text, TableItem("final", table, caption)])


def _baseline_splits(data: StudyData, baselines: Sequence[BaselineResults]) -> str:
    """Whether the baselines on the study's dataset were validated on its images: the split each used."""
    study = data.spec.data
    fields = [f for f in SPLIT_FIELDS if f != "name"]  # the dataset is compared on its own
    shown = f"validation {study.val_fraction:.0%} of train, split seed {study.split_seed}"
    differ = []
    for result in baselines:
        changed = [f for f in fields if result.data.get(f, getattr(study, f)) != getattr(study, f)]
        if result.dataset == study.name and changed:
            theirs = ", ".join(f"data.{f} {result.data.get(f)}" for f in changed)
            differ.append(f"{len(result.results)} baselines on {result.dataset} used {theirs}")
    if not differ:
        return f"The baselines used the study's split ({shown})."
    return (
        f"Note: {'; '.join(differ)}, not the study's split ({shown}): their validation scores are on "
        "other images (`tunelab baselines --study STUDY` fits them on the study's split)."
    )


def _baselines(data: StudyData, baselines: Sequence[BaselineResults]) -> Section | None:
    if not baselines:
        return None
    table = S.baselines_table(data, baselines)
    blocks: list[str | TableItem | FigureItem] = []
    studied = set(table.loc[table["source"] == "study", "dataset"]) or {data.spec.data.name}
    other = sorted({b.dataset for b in baselines} - studied)
    if other:
        blocks.append(f"Note: some baselines ran on another dataset ({', '.join(other)}) than the study.")
    if any(b.dataset == data.spec.data.name for b in baselines):
        blocks.append(_baseline_splits(data, baselines))
    blocks.append(
        TableItem("baselines", table, "Study best vs classical baselines (time: training/fit seconds)")
    )
    if table["test_accuracy"].notna().any():
        figure = plots.baselines_figure(table.dropna(subset=["test_accuracy"]))
        blocks.append(
            FigureItem("baselines", figure, "Test accuracy of the study's best model and the baselines.")
        )
    return Section("Baselines", blocks)


def _ensembles(ensembles: Sequence[Any]) -> Section | None:
    """Each weighted vote: its members' and its own validation and test accuracy, with the weights."""
    if not ensembles:
        return None
    blocks: list[str | TableItem | FigureItem] = []
    for i, result in enumerate(ensembles, start=1):
        table = result.table().drop(columns=["folder"])
        best = table.iloc[:-1]["test_accuracy"].max()
        blocks.append(
            f"Ensemble {i} of {len(table) - 1} members ({', '.join(result.studies)}), weights searched on "
            f"validation over {result.n_trials} draws: test accuracy {result.test_accuracy:.4f} against "
            f"{best:.4f} for its best member."
        )
        blocks.append(TableItem(f"ensemble_{i}", table, f"Ensemble {i}: members, weights and accuracy"))
    return Section("Ensembles", blocks)


def _probes(folders: Sequence[tuple[Path, Any]]) -> Section | None:
    """Each probe's figure and summary table (paper 002's diagnostics), folder by folder."""
    if not folders:
        return None
    from tunelab.probes.plots import FIGURES

    blocks: list[str | TableItem | FigureItem] = []
    for i, (folder, loaded) in enumerate(folders, start=1):
        prefix = f"probe{i}_" if len(folders) > 1 else "probe_"
        blocks.append(f"Probes in `{folder}` (each variant trained for the same number of epochs):")
        for probe, table in loaded:
            blocks.append(FigureItem(prefix + probe.name, FIGURES[probe.name](table), probe.title + "."))
            blocks.append(TableItem(prefix + probe.name, probe.summarize(table), probe.title))
    return Section("Probes", blocks)
