"""Probes: paper 002's diagnostics of how hyperparameters shape training, for any configuration.

Each probe perturbs one setting of a base configuration (a run file, a :class:`~tunelab.config.RunConfig`,
or a study, whose best trial supplies the tuned values), trains the variants with
:func:`tunelab.train.train` and returns a table; :func:`run_probe` also writes ``<probe>.csv``, a figure
(``<probe>.png``, ``<probe>.svg``) and an ``index.md`` listing every probe in the folder.

=============== ============================================================================
``init_scale``  mean |gradient| per layer under slow / effective / fast initialisation ranges
``lr_scale``    training loss with the tuned learning rate × 0.01, 1, 10, 100
``batch_size``  gradient magnitude over the epochs, batch 8 against 32
``momentum``    gradient magnitude as momentum goes 0.5 … 0.99
``dropout``     training loss with dropout 0.99 against the tuned rate
``correlation`` Spearman's correlation of each hyperparameter with validation accuracy over a
                study's random stage (trains nothing)
=============== ============================================================================
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import pandas as pd

from tunelab.config import RunConfig
from tunelab.errors import ConfigError
from tunelab.probes import batch_size, correlation, dropout, init_scale, lr_scale, momentum
from tunelab.probes.base import ProbeResult, study_data_dir


@dataclass(frozen=True)
class Probe:
    name: str
    title: str
    compute: Callable[..., ProbeResult]
    summarize: Callable[[pd.DataFrame], pd.DataFrame]


def _probe(module: ModuleType) -> Probe:
    return Probe(module.NAME, module.TITLE, module.compute, module.summarize)


PROBES: dict[str, Probe] = {
    p.name: p for p in map(_probe, (init_scale, lr_scale, batch_size, momentum, dropout, correlation))
}


def run_probe(
    name: str,
    base: RunConfig | str | Path,
    out_dir: str | Path,
    data_dir: str | Path | None = None,
    **options: Any,
) -> ProbeResult:
    """Run probe ``name`` on ``base`` and write ``<out_dir>/<name>.csv``, ``.png``, ``.svg`` and index.md.

    ``options`` go to the probe: ``epochs`` and ``overrides`` (``key=value`` strings) for all of them,
    and each probe's own (``ranges``, ``factors``, ``sizes``, ``momenta``, ``rates``, ``stage``).
    Without ``data_dir``, a study's data is read from where its trials read it.
    """
    from tunelab.probes.plots import plot_probe

    if name not in PROBES:
        raise ConfigError(f"unknown probe {name!r}; expected one of {', '.join(PROBES)}")
    options["overrides"] = tuple(options.get("overrides") or ())
    data_dir = data_dir if data_dir is not None else study_data_dir(base)
    result = PROBES[name].compute(base, data_dir, **options)
    folder = Path(out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    csv = folder / f"{name}.csv"
    result.table.to_csv(csv, index=False)
    png, svg = plot_probe(name, result.table, folder)
    result.paths = {"csv": csv, "png": png, "svg": svg, "index": write_index(folder, {name: result})}
    return result


def write_index(folder: Path, latest: dict[str, ProbeResult]) -> Path:
    """``index.md``: every probe whose table is in ``folder``, with its figure and a short summary."""
    lines = ["# Probes", ""]
    for name, probe in PROBES.items():
        csv = folder / f"{name}.csv"
        if not csv.is_file():
            continue
        result = latest.get(name)
        summary = result.summary if result else probe.summarize(pd.read_csv(csv))
        lines += [f"## {probe.title}", ""]
        if result and result.base:
            lines += [f"Base: {result.base}.", ""]
        lines += [
            f"![{probe.title}]({name}.png)",
            "",
            _markdown(summary),
            "",
            f"Table: [{csv.name}]({csv.name})",
            "",
        ]
    path = folder / "index.md"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def load_probes(folder: str | Path) -> list[tuple[Probe, pd.DataFrame]]:
    """The probes whose tables ``run_probe`` wrote into ``folder``, in the order of :data:`PROBES`."""
    folder = Path(folder)
    found = [(probe, folder / f"{name}.csv") for name, probe in PROBES.items()]
    loaded = [(probe, pd.read_csv(csv)) for probe, csv in found if csv.is_file()]
    if not loaded:
        raise ConfigError(f"{folder}: no probe tables here (a folder written by 'tunelab probe')")
    return loaded


def _markdown(frame: pd.DataFrame) -> str:
    """A Markdown table (numbers to 4 significant digits), without the optional tabulate package."""

    def cell(value: Any) -> str:
        return f"{value:.4g}" if isinstance(value, float) else str(value)

    header = "| " + " | ".join(map(str, frame.columns)) + " |"
    rule = "|" + "---|" * len(frame.columns)
    rows = ["| " + " | ".join(cell(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join([header, rule, *rows])


__all__ = ["PROBES", "Probe", "ProbeResult", "load_probes", "run_probe", "write_index"]
