"""Figures of a study, drawn from its summaries (``summaries``, ``effects``, ``expected``).

Each function takes computed data and returns a :class:`matplotlib.figure.Figure` made without
pyplot: no backend switch, no global state, nothing to close; saving renders PNG with Agg and SVG
with matplotlib's SVG backend. One house style: small fonts, no top and right spines, light grids,
constrained layout (:mod:`tunelab.plotstyle`). Save with :func:`tunelab.plotstyle.save_figure`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator
from matplotlib.transforms import blended_transform_factory

from tunelab.analysis.effects import Density, Importance
from tunelab.analysis.summaries import BestMetrics
from tunelab.plotstyle import PALETTE, styled


def _figure(width: float, height: float) -> Figure:
    return Figure(figsize=(width, height), layout="constrained")


# ------------------------------------------------------------------------------------------ best
@styled
def confusion_figure(best: BestMetrics) -> Figure:
    """The best trial's test confusion matrix (counts summed over seeds), diagonal in the colour scale."""
    matrix = np.asarray(best.confusion)
    k = matrix.shape[0]
    fig = _figure(max(3.4, 0.3 * k + 1.5), max(3.0, 0.3 * k + 1.1))
    ax = fig.add_subplot()
    image = ax.imshow(matrix, cmap="Blues")
    ax.grid(False)
    if k <= 20:
        threshold = matrix.max() / 2
        for (i, j), count in np.ndenumerate(matrix):
            if count:
                color = "white" if count > threshold else "black"
                ax.text(j, i, str(count), ha="center", va="center", fontsize=7, color=color)
    ax.set(xticks=range(k), yticks=range(k), xlabel="predicted class", ylabel="true class")
    seeds = f", {best.n_runs} seeds summed" if best.n_runs > 1 else ""
    ax.set_title(f"Test confusion matrix (trial #{best.number}{seeds})")
    fig.colorbar(image, ax=ax, shrink=0.8, label="images")
    return fig


@styled
def per_class_figure(best: BestMetrics) -> Figure:
    """Test precision, recall and F1 of each class, as grouped bars."""
    table = best.per_class
    x = np.arange(len(table))
    fig = _figure(max(4.6, 0.4 * len(table) + 1.2), 2.8)
    ax = fig.add_subplot()
    for i, metric in enumerate(("precision", "recall", "f1")):
        ax.bar(x + (i - 1) * 0.27, table[metric], width=0.27, label=metric, color=PALETTE[i])
    low = float(table[["precision", "recall", "f1"]].to_numpy().min())
    ax.set(xticks=x, xticklabels=table["class"], xlabel="class", ylabel="score")
    ax.set_ylim(max(0.0, low - 0.05), 1.0)
    ax.set_title(f"Per-class test metrics (trial #{best.number})")
    fig.legend(loc="outside right upper")
    return fig


@styled
def learning_curves_figure(curves: pd.DataFrame) -> Figure:
    """Loss and accuracy by epoch, train dashed and validation solid; the best trial drawn thicker."""
    fig = _figure(9.5, 3.4)
    axes = fig.subplots(1, 2)
    handles = []
    for color, (rank, frame) in zip(PALETTE * 10, curves.groupby("rank", sort=True), strict=False):
        width, alpha = (2.2, 1.0) if rank == 1 else (1.1, 0.75)
        label = f"#{int(frame['trial'].iloc[0])}" + (" (best)" if rank == 1 else f" (rank {rank})")
        for ax, what in zip(axes, ("loss", "accuracy"), strict=True):
            for split, dash in (("train", "--"), ("val", "-")):
                column = f"{split}_{what}"
                if column in frame and frame[column].notna().any():
                    ax.plot(frame["epoch"], frame[column], dash, color=color, lw=width, alpha=alpha)
        handles.append(Line2D([], [], color=color, lw=width, label=label))
    handles += [
        Line2D([], [], color="0.3", ls="--", label="train"),
        Line2D([], [], color="0.3", ls="-", label="validation"),
    ]
    axes[0].set(xlabel="epoch", ylabel="cross-entropy loss", title="Loss")
    axes[1].set(xlabel="epoch", ylabel="accuracy", title="Accuracy")
    for ax in axes:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    fig.legend(handles=handles, loc="outside right upper")
    return fig


@styled
def lr_figure(schedule: pd.DataFrame, trial: int) -> Figure:
    """The learning rate of each epoch (one line per seed; they coincide unless the schedule adapts)."""
    fig = _figure(5.0, 2.8)
    ax = fig.add_subplot()
    seeds = [c for c in schedule if c != "epoch"]
    for color, column in zip(PALETTE * 10, seeds, strict=False):
        ax.plot(schedule["epoch"], schedule[column], "-o", ms=3, color=color, label=column)
    values = schedule[seeds].to_numpy(dtype=float)
    positive = values[values > 0]
    if positive.size and positive.max() / positive.min() > 10:
        ax.set_yscale("log")
    ax.set(xlabel="epoch", ylabel="learning rate", title=f"Learning-rate schedule (trial #{trial})")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    if len(seeds) > 1:
        ax.legend()
    return fig


# -------------------------------------------------------------------------------------- search
@styled
def history_figure(history: pd.DataFrame, metric: str) -> Figure:
    """Each completed trial's objective and the best so far; pruned or failed trials as ticks below."""
    fig = _figure(6.2, 3.2)
    ax = fig.add_subplot()
    done = history[history["value"].notna()]
    stages = list(dict.fromkeys(history["stage"].dropna()))
    for i, stage in enumerate(stages or [None]):
        part = done if stage is None or len(stages) == 1 else done[done["stage"] == stage]
        label = f"trial ({stage})" if len(stages) > 1 else "trial"
        ax.scatter(part["trial"], part["value"], s=18, color=PALETTE[i % 10], label=label, zorder=3)
    ax.step(
        history["trial"], history["best_so_far"], where="post", color="black", lw=1.3, label="best so far"
    )
    other = history[history["value"].isna()]
    if len(other):
        where = blended_transform_factory(ax.transData, ax.transAxes)
        ax.plot(
            other["trial"], [0.03] * len(other), "x", color="0.5", transform=where, label="pruned / failed"
        )
    ax.set(xlabel="trial", ylabel=metric.replace("_", " "), title="Optimization history")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.legend(loc="best")
    return fig


@styled
def importance_figure(importance: Importance, correlations: pd.DataFrame) -> Figure:
    """fANOVA importance (left, when there is one) and Spearman's rho with the objective (right)."""
    rho = correlations.dropna(subset=["rho"])
    panels = [p for p, ok in (("importance", len(importance.table)), ("rho", len(rho))) if ok]
    rows = max(len(importance.table), len(rho), 1)
    fig = _figure(4.2 * len(panels) + 1.5, 0.32 * rows + 1.3)
    axes = np.atleast_1d(fig.subplots(1, len(panels)))
    for ax, panel in zip(axes, panels, strict=True):
        if panel == "importance":
            table = importance.table.iloc[::-1]
            ax.barh(table["parameter"], table["importance"], color=PALETTE[0])
            ax.set(xlabel="fANOVA importance (share of variance)", title="Parameter importance", xlim=(0, 1))
        else:
            table = rho.iloc[::-1]
            colors = [PALETTE[2] if r >= 0 else PALETTE[3] for r in table["rho"]]
            ax.barh(table["parameter"], table["rho"], color=colors)
            ax.axvline(0, color="0.3", lw=0.8)
            ax.set(xlabel="Spearman's ρ with the objective", title="Correlation", xlim=(-1.05, 1.05))
        ax.grid(axis="y", visible=False)
    return fig


@styled
def scatter_figure(points: pd.DataFrame, param: str | None = None) -> Figure:
    """Paper 001: validation accuracy against validation loss, one point per trial, coloured by ``param``."""
    fig = _figure(5.2, 3.6)
    ax = fig.add_subplot()
    if param is None:
        ax.scatter(points["val_loss"], points["val_accuracy"], s=22, color=PALETTE[0])
    else:
        labels = ["—" if v is None or v != v else _short(v) for v in points[param]]  # v != v: NaN
        groups = points.assign(_group=labels).groupby("_group", sort=False)
        order = sorted(groups.groups, key=_sort_key)
        for color, value in zip(PALETTE * 10, order, strict=False):
            part = groups.get_group(value)
            shade = "0.6" if value == "—" else color
            label = "not drawn" if value == "—" else value
            ax.scatter(part["val_loss"], part["val_accuracy"], s=22, color=shade, label=label)
        ax.legend(title=param, loc="best")
    for _, row in points[points["rank"] <= 5].iterrows():
        ax.annotate(
            f"#{row['trial']}",
            (row["val_loss"], row["val_accuracy"]),
            fontsize=6,
            color="0.35",
            xytext=(4, -2),
            textcoords="offset points",
        )
    ax.set(xlabel="validation loss", ylabel="validation accuracy", title="Validation accuracy vs loss")
    return fig


@styled
def grouped_bars_figure(grouped: pd.DataFrame, param: str) -> Figure:
    """Paper 001: mean training time, test accuracy and test loss for each value of ``param``."""
    fig = _figure(9.0, 2.9)
    axes = fig.subplots(1, 3)
    labels = [_short(v) for v in grouped["value"]]
    x = np.arange(len(grouped))
    panels = (
        ("train_time_s", "training time (s)"),
        ("test_accuracy", "test accuracy"),
        ("test_loss", "test loss"),
    )
    for i, (ax, (column, label)) in enumerate(zip(axes, panels, strict=True)):
        std = grouped.get(f"{column}_std")
        errors = None
        if std is not None and std.notna().any():
            errors = bounded_errors(
                grouped[column].to_numpy(dtype=float), std.fillna(0).to_numpy(dtype=float), column
            )
        ax.bar(x, grouped[column], yerr=errors, color=PALETTE[i], capsize=3, width=0.6)
        ax.set(xticks=x, xticklabels=labels, xlabel=param, ylabel=label)
        ax.grid(axis="x", visible=False)
    counts = ", ".join(f"{lab}: {n}" for lab, n in zip(labels, grouped["n"], strict=True))
    fig.suptitle(f"By {param} (mean ± std over trials; n = {counts})", fontsize=10)
    return fig


@styled
def kde_figure(densities: Sequence[Density], q: float) -> Figure:
    """Paper 002: each numeric parameter's density over the top ``q`` of trials against all of them."""
    n = len(densities)
    cols = min(3, n)
    rows = -(-n // cols)
    fig = _figure(3.3 * cols, 2.6 * rows)
    axes = np.atleast_1d(fig.subplots(rows, cols)).ravel()
    for ax, d in zip(axes, densities, strict=False):
        if d.bounds is not None:
            ax.axvspan(*d.bounds, color=PALETTE[2], alpha=0.15, label="fine-stage range")
        if d.all is not None:
            ax.fill_between(d.grid, d.all, color="0.6", alpha=0.35, label="all trials")
        if d.top is not None:
            ax.plot(d.grid, d.top, color=PALETTE[3], lw=1.8, label=f"top {q:.0%}")
        where = blended_transform_factory(ax.transData, ax.transAxes)
        ax.plot(d.all_values, [0.03] * len(d.all_values), "|", color="0.45", ms=8, transform=where)
        ax.plot(d.top_values, [0.03] * len(d.top_values), "|", color=PALETTE[3], ms=10, transform=where)
        if d.log:
            ax.set_xscale("log")
        ax.set(xlabel=d.parameter, ylabel="density" + (" (per log10 unit)" if d.log else ""))
        ax.set_ylim(bottom=0)
    for ax in axes[n:]:
        ax.set_visible(False)
    handles, labels = max((ax.get_legend_handles_labels() for ax in axes[:n]), key=lambda hl: len(hl[0]))
    fig.legend(handles, labels, loc="outside lower center", ncols=len(handles))
    sizes = f"{len(densities[0].top_values)} of {len(densities[0].all_values)} trials"
    fig.suptitle(f"Parameter densities: top {q:.0%} ({sizes}) vs all", fontsize=10)
    return fig


@styled
def expected_figure(curve: pd.DataFrame, metric: str, goal: str) -> Figure:
    """Dodge et al. (2019): expected best ``metric`` after n trials, ±1 std (clipped to observed values)."""
    fig = _figure(5.0, 3.2)
    ax = fig.add_subplot()
    ax.fill_between(curve["n"], curve["low"], curve["high"], color=PALETTE[0], alpha=0.2, label="± 1 std")
    ax.plot(curve["n"], curve["mean"], "-o", ms=3, color=PALETTE[0], label="expected best")
    word = "max" if goal == "maximize" else "min"
    ax.set(
        xlabel="trials (n)",
        ylabel=f"expected {word} {metric.replace('_', ' ')}",
        title="Expected best validation score vs budget",
    )
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.legend(loc="lower right" if goal == "maximize" else "upper right")
    return fig


@styled
def baselines_figure(table: pd.DataFrame) -> Figure:
    """Test accuracy of the study's best model beside each classical baseline."""
    frame = table.sort_values("test_accuracy", kind="stable")
    fig = _figure(6.0, 0.33 * len(frame) + 1.2)
    ax = fig.add_subplot()
    colors = [PALETTE[3] if s == "study" else PALETTE[0] for s in frame["source"]]
    labels = [f"{m} [{d}]" for m, d in zip(frame["model"], frame["dataset"], strict=True)]
    ax.barh(labels, frame["test_accuracy"], color=colors)
    for y, value in enumerate(frame["test_accuracy"]):
        ax.text(value, y, f" {value:.4f}", va="center", fontsize=7)
    low = float(frame["test_accuracy"].min())
    ax.set_xlim(max(0.0, low - 0.1), 1.0)
    ax.set(xlabel="test accuracy", title="Study best vs baselines")
    ax.grid(axis="y", visible=False)
    return fig


def bounded_errors(mean: np.ndarray, spread: np.ndarray, column: str) -> np.ndarray:
    """Error bars (below, above) of ``mean ± spread`` cut at the metric's range: [0, 1] for a score
    (accuracy, F1, precision, recall), [0, ∞) for losses and times; a bar never claims the impossible."""
    high = 1.0 if any(word in column for word in ("accuracy", "f1", "precision", "recall")) else np.inf
    return np.vstack(
        [np.clip(np.minimum(spread, mean), 0, None), np.clip(np.minimum(spread, high - mean), 0, None)]
    )


def _sort_key(text: str) -> tuple[int, float, str]:
    """Numbers in numeric order, then words; a missing value last."""
    try:
        return (0, float(text), "")
    except ValueError:
        return (2 if text == "—" else 1, 0.0, text)


def _short(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)
