"""The house style of every figure tunelab draws: the report's and the probes' figures look alike, and
probes draw in it without importing analysis (which imports probes to put their figures in a report).

Figures are made without pyplot (no backend switch, no global state); :func:`styled` draws a figure
function inside the style and :func:`save_figure` renders it (PNG with Agg, SVG with matplotlib's SVG
backend, reproducibly).
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, ParamSpec, TypeVar, cast

import matplotlib
from matplotlib.figure import Figure

STYLE: dict[str, Any] = {
    "font.size": 9,
    "axes.titlesize": 10,
    "axes.titleweight": "bold",
    "axes.labelsize": 9,
    "legend.fontsize": 8,
    "legend.frameon": False,
    "xtick.labelsize": 8,
    "ytick.labelsize": 8,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "grid.linewidth": 0.6,
    "lines.linewidth": 1.4,
    "savefig.dpi": 150,
    "svg.hashsalt": "tunelab",  # the same figure gives the same SVG
}
PALETTE = list(matplotlib.color_sequences["tab10"])
P = ParamSpec("P")
R = TypeVar("R")


@contextlib.contextmanager
def style() -> Iterator[None]:
    """Matplotlib's settings of the house style, inside the ``with`` block only."""
    with matplotlib.rc_context(cast(Any, STYLE)):
        yield


def styled(function: Callable[P, R]) -> Callable[P, R]:
    """Draw inside the house style."""

    @functools.wraps(function)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        with style():
            return function(*args, **kwargs)

    return wrapper


def save_figure(
    figure: Figure, folder: Path, name: str, formats: Sequence[str] = ("png", "svg")
) -> list[Path]:
    """Write ``<folder>/<name>.<format>`` for each format; returns the paths."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    with style():
        for fmt in formats:
            path = folder / f"{name}.{fmt}"
            figure.savefig(path, format=fmt, metadata={"Date": None} if fmt == "svg" else None)
            paths.append(path)
    return paths
