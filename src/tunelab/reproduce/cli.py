"""``tunelab reproduce`` and ``tunelab reproductions-doc``: a paper in one command; the doc from its
reports.

Plain functions, wired into the main app as ``app.command()(user_errors(...))``; they must not import
``tunelab.cli``. torch and Optuna are imported inside them, so ``tunelab --help`` stays fast.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, cast

import typer

from tunelab.errors import ConfigError
from tunelab.options import DataDirOption


def reproduce(
    paper: Annotated[
        str, typer.Argument(help="Paper id (000 … 004: studies/papers/<id>.yaml) or a reproduction file.")
    ],
    budget: Annotated[
        str, typer.Option("--budget", help="full (the paper's) or quick (the file's stated smoke test).")
    ] = "full",
    data_dir: DataDirOption = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out", help="Output folder. Default: runs/repro-<paper>-<budget>.", show_default=False
        ),
    ] = None,
    report_only: Annotated[
        bool, typer.Option("--report-only", help="Write the report from what has run; train nothing.")
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress.")] = False,
) -> None:
    """Run every study, baseline, probe and ensemble of a paper (a rerun resumes), then write its
    report: paper vs tunelab for every number, with verdicts from tunelab's 95% CI.

    Exit code 0 when every part ran in full, 3 when a study ended short of its plan (the report is
    written, its missing numbers marked).
    """
    from rich.console import Console

    from tunelab.reproduce.measure import measure
    from tunelab.reproduce.report import write_report
    from tunelab.reproduce.run import Layout, check_studies, read_timings, run_reproduction
    from tunelab.reproduce.spec import BUDGETS, Budget, load_reproduction
    from tunelab.reproduce.summary import build_summary

    if budget not in BUDGETS:
        raise ConfigError(f"--budget: expected full or quick, got {budget!r}")
    chosen = cast(Budget, budget)
    repro, source = load_reproduction(paper)
    folder = out or Path("runs") / f"repro-{repro.paper}-{budget}"
    console = Console(stderr=True, highlight=False)
    say = (lambda line: None) if quiet else (lambda line: console.print(f"reproduce: {line}", markup=False))
    problems: list[str] = []
    if report_only:
        check_studies(repro, source, chosen)
        timings = read_timings(folder)
    else:
        timings = run_reproduction(
            repro,
            source,
            folder,
            chosen,
            data_dir=data_dir,
            log=say,
            progress=not quiet,
            problems=problems,
        )
    measured = measure(repro, Layout(folder), data_dir)
    summary = build_summary(repro, measured, chosen, timings)
    path = write_report(summary, Layout(folder).report)
    counts = ", ".join(f"{n} {v}" for v, n in summary["verdicts"].items())
    console.print(f"paper {repro.paper} ({budget} budget, {summary['wall_s']:.0f} s): {counts}")
    console.print(f"report written to {path} (and summary.json)")
    for problem in problems:
        console.print(f"incomplete: {problem}", markup=False, soft_wrap=True)
    if problems:
        raise typer.Exit(3)


def reproductions_doc(
    reports: Annotated[
        Path, typer.Option("--reports", help="Folder of <paper>/summary.json files (committed reports).")
    ] = Path("docs/reports/papers"),
    output: Annotated[Path, typer.Option("--output", "-o", help="The doc to write.")] = Path(
        "docs/reproductions.md"
    ),
    check: Annotated[
        bool, typer.Option("--check", help="Write nothing; exit 1 when the doc is not what the reports give.")
    ] = False,
) -> None:
    """Write docs/reproductions.md from the committed reproduction reports (no number typed by hand)."""
    from tunelab.reproduce.docs import render_doc

    text = render_doc(reports, output.parent)
    if check:
        current = output.read_text(encoding="utf-8") if output.is_file() else ""
        if current != text:
            typer.echo(f"{output} is out of date with {reports}; run tunelab reproductions-doc", err=True)
            raise typer.Exit(1)
        return
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(text, encoding="utf-8")
    typer.echo(f"written {output}", err=True)
