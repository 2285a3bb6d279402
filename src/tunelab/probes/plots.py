"""Figures of the probes, one function per probe, in the house style of the report (``tunelab.plotstyle``).

Each function takes a probe's table and returns a :class:`matplotlib.figure.Figure` made without
pyplot, on an Agg canvas (PNG; SVG through matplotlib's SVG backend): no display is needed and the
process's matplotlib backend is left alone. Gradient magnitudes and losses are drawn on log scales;
non-finite values (a diverged run) are left out.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from tunelab.plotstyle import PALETTE, save_figure, styled


def _figure(width: float = 5.2, height: float = 3.2) -> Figure:
    figure = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def _finite(frame: pd.DataFrame, column: str) -> pd.DataFrame:
    values = pd.to_numeric(frame[column], errors="coerce")
    return frame[np.isfinite(values) & (values > 0)]


def _curves(table: pd.DataFrame, by: str, y: str, ylabel: str, title: str, legend: str) -> Figure:
    fig = _figure()
    ax = fig.add_subplot()
    for color, (label, frame) in zip(PALETTE * 10, table.groupby(by, sort=False), strict=False):
        shown = _finite(frame, y)
        diverged = frame["status"].iloc[0] == "diverged"
        name = f"{label:g}" if isinstance(label, float) else str(label)
        ax.plot(
            shown["epoch"],
            shown[y],
            "o-",
            ms=3,
            color=color,
            label=name + (" (diverged)" if diverged else ""),
        )
    ax.set(xlabel="epoch", ylabel=ylabel, title=title)
    if not _finite(table, y).empty:
        ax.set_yscale("log")
    ax.legend(title=legend)
    return fig


@styled
def init_scale_figure(table: pd.DataFrame) -> Figure:
    """Grouped bars: the mean |gradient| of each layer, one colour per initialisation (log scale)."""
    layers = list(dict.fromkeys(table["layer"]))
    inits = list(dict.fromkeys(table["init"]))
    fig = _figure(max(4.8, 0.9 * len(layers) + 2.5), 3.2)
    ax = fig.add_subplot()
    width = 0.8 / max(1, len(inits))
    x = np.arange(len(layers))
    for i, (color, init) in enumerate(zip(PALETTE * 10, inits, strict=False)):
        rows = table[table["init"] == init].set_index("layer").reindex(layers)
        heights = pd.to_numeric(rows["grad"], errors="coerce").to_numpy(dtype=float)
        heights = np.where(np.isfinite(heights) & (heights > 0), heights, np.nan)
        ax.bar(x + (i - (len(inits) - 1) / 2) * width, heights, width=width, color=color, label=init)
    ax.set(xticks=x, xticklabels=layers, xlabel="layer", ylabel="mean |gradient|")
    ax.set_title("Gradient magnitude by initialisation")
    if np.isfinite(pd.to_numeric(table["grad"], errors="coerce")).any() and (table["grad"] > 0).any():
        ax.set_yscale("log")
    ax.legend(title="init")
    return fig


@styled
def lr_scale_figure(table: pd.DataFrame) -> Figure:
    """Training loss by epoch, one line per learning-rate factor."""
    return _curves(table, "factor", "train_loss", "training loss", "Learning rate scaled", "× tuned lr")


@styled
def batch_size_figure(table: pd.DataFrame) -> Figure:
    """Mean |gradient| (over layers) by epoch, one line per batch size."""
    return _curves(
        table, "batch_size", "grad_mean", "mean |gradient|", "Gradient magnitude by batch size", "batch"
    )


@styled
def momentum_figure(table: pd.DataFrame) -> Figure:
    """Mean |gradient| against momentum: the mean over epochs, and the range over epochs as a band."""
    summary = table.groupby("momentum", sort=True)["grad_mean"].agg(["mean", "min", "max"]).reset_index()
    fig = _figure()
    ax = fig.add_subplot()
    ax.fill_between(summary["momentum"], summary["min"], summary["max"], color=PALETTE[0], alpha=0.2, lw=0)
    ax.plot(summary["momentum"], summary["mean"], "o-", color=PALETTE[0], label="mean over epochs")
    ax.set(xlabel="momentum", ylabel="mean |gradient|", title="Gradient magnitude by momentum")
    if not _finite(summary, "mean").empty:
        ax.set_yscale("log")
    ax.legend()
    return fig


@styled
def dropout_figure(table: pd.DataFrame) -> Figure:
    """Training loss by epoch, one line per dropout rate."""
    return _curves(table, "dropout", "train_loss", "training loss", "Training loss by dropout", "dropout")


@styled
def correlation_figure(table: pd.DataFrame) -> Figure:
    """Horizontal bars: Spearman's correlation of each parameter with validation accuracy."""
    shown = table.dropna(subset=["spearman"])
    shown = shown.loc[shown["spearman"].abs().sort_values(ascending=False).index]  # strongest on top
    fig = _figure(5.2, max(1.8, 0.32 * len(shown) + 1.0))
    ax = fig.add_subplot()
    colors = [PALETTE[3] if r < 0 else PALETTE[0] for r in shown["spearman"]]
    ax.barh(shown["parameter"], shown["spearman"], color=colors)
    ax.axvline(0, color="black", lw=0.8)
    ax.set(xlim=(-1, 1), xlabel="Spearman's ρ with validation accuracy", title="Hyperparameter correlations")
    ax.invert_yaxis()
    return fig


FIGURES: dict[str, Callable[[pd.DataFrame], Figure]] = {
    "init_scale": init_scale_figure,
    "lr_scale": lr_scale_figure,
    "batch_size": batch_size_figure,
    "momentum": momentum_figure,
    "dropout": dropout_figure,
    "correlation": correlation_figure,
}


def plot_probe(name: str, table: pd.DataFrame, folder: Path) -> list[Path]:
    """Draw probe ``name``'s table and write ``<folder>/<name>.png`` and ``.svg``."""
    return save_figure(FIGURES[name](table), folder, name)
