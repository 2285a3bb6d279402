"""``tunelab report``: write a study's report (HTML, Markdown, CSV/LaTeX tables, PNG/SVG figures).

A plain function, wired into the main app as ``app.command()(user_errors(report))``; it must not
import ``tunelab.cli``. matplotlib, Optuna and pandas are imported inside it, so ``tunelab --help``
stays fast.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from tunelab.errors import ConfigError
from tunelab.options import StorageOption, StudyArgument


def report(
    study: StudyArgument,
    storage: StorageOption = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out", help="Report folder. Default: <study output folder>/report.", show_default=False
        ),
    ] = None,
    baselines: Annotated[
        list[Path] | None,
        typer.Option(
            "--baselines",
            help="A folder written by 'tunelab baselines', compared with the study's best (repeatable).",
            show_default=False,
        ),
    ] = None,
    ensembles: Annotated[
        list[Path] | None,
        typer.Option(
            "--ensemble",
            help="A folder written by 'tunelab ensemble', shown with its members and weights (repeatable).",
            show_default=False,
        ),
    ] = None,
    probes: Annotated[
        list[Path] | None,
        typer.Option(
            "--probes",
            help="A folder written by 'tunelab probe': its figures and tables (repeatable).",
            show_default=False,
        ),
    ] = None,
    top_k: Annotated[
        int, typer.Option("--top-k", min=1, help="Trials whose learning curves are drawn (best first).")
    ] = 5,
) -> None:
    """Write a study's report: report.html (self-contained), report.md, tables/ and figures/."""
    from rich.console import Console

    from tunelab.analysis.report import build_report
    from tunelab.search import load_study

    if not study.exists():
        raise ConfigError(f"{study}: no such study file or output folder")
    for folder in baselines or []:
        if not folder.is_dir():
            raise ConfigError(f"--baselines {folder}: not a folder written by 'tunelab baselines'")
    handle = load_study(study, storage)
    target = out or handle.out_dir / "report"
    console = Console(stderr=True)
    path = build_report(
        handle,
        target,
        baselines=baselines or [],
        top_k=top_k,
        ensembles=ensembles or [],
        probes=probes or [],
        log=lambda line: console.print(f"report: {line}", highlight=False, markup=False, soft_wrap=True),
    )
    console.print(f"report written to {path} (and report.md, tables/, figures/)", highlight=False)
