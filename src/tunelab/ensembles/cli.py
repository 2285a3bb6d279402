"""``tunelab ensemble``: combine the best trials of several studies by weighted soft voting.

A plain function, wired into the main app as ``app.command()(user_errors(ensemble))``; it must not
import ``tunelab.cli`` (which imports this module), and imports torch only when it runs.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from tunelab.options import DataDirOption

if TYPE_CHECKING:
    from tunelab.ensembles.results import EnsembleResult


def ensemble(
    studies: Annotated[
        list[Path],
        typer.Argument(
            help="Study files or studies' output folders (the folders hold the trained models).",
            show_default=False,
        ),
    ],
    top: Annotated[int, typer.Option("--top", min=1, help="Best trials taken from each study.")] = 1,
    n_trials: Annotated[
        int,
        typer.Option(
            "--n-trials",
            min=0,
            help="Random weight vectors tried (uniform on the simplex), besides equal weights and each "
            "member alone.",
        ),
    ] = 100,
    storage: Annotated[
        str | None,
        typer.Option(
            "--storage",
            help="SQLAlchemy URL of the studies' storage. Default: each study file's, "
            "else sqlite in its output folder.",
            show_default=False,
        ),
    ] = None,
    data_dir: DataDirOption = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out", help="Output folder. Default: runs/ensemble-<study names>.", show_default=False
        ),
    ] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the weight search.")] = 0,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the result as one JSON object on stdout.")
    ] = False,
) -> None:
    """Combine the best trials of several studies by weighted soft voting, weights chosen on validation."""
    from tunelab.ensembles.voting import run_ensemble
    from tunelab.search import load_study
    from tunelab.search.follow import data_dir_of, split_line

    err = Console(stderr=True)
    handles = [load_study(path, storage) for path in studies]
    result = run_ensemble(handles, top=top, n_trials=n_trials, seed=seed, data_dir=data_dir)
    folder = out or Path("runs") / ("ensemble-" + "+".join(result.studies))
    result.save(folder)
    for name in result.studies:
        taken = sum(m.study == name for m in result.members)
        if taken < top:
            err.print(
                f"note: study {name} has {taken} completed trial(s), fewer than --top {top}", highlight=False
            )
    for group in result.same_models:
        err.print(
            f"warning: {' and '.join(group)} are the same model (identical predictions on validation and "
            "test), so the ensemble counts it more than once; take other trials (--top) or other studies",
            highlight=False,
            soft_wrap=True,
        )
    if as_json:
        print(json.dumps({"out": str(folder), **result.to_dict()}))
        return
    Console().print(_table(result))
    source = f"the stud{'ies' if len(handles) > 1 else 'y'} {', '.join(result.studies)}"
    err.print(
        split_line(handles[0].spec.data, data_dir_of(handles, data_dir), source),
        highlight=False,
        markup=False,
    )
    err.print(
        f"weights searched on validation ({result.n_val:,} images) over {result.n_trials} random draws, "
        f"equal weights and each member alone · test {result.n_test:,} images · written to {folder}",
        highlight=False,
    )


def _table(result: EnsembleResult) -> Table:
    table = Table(title=f"ensemble of {len(result.members)} (weighted soft vote)")
    table.add_column("member", no_wrap=True)
    table.add_column("kind")
    for column in ("weight", "val acc", "test acc", "test F1"):
        table.add_column(column, justify="right")
    for member, weight in zip(result.members, result.weights, strict=True):
        table.add_row(
            member.name,
            member.kind,
            f"{weight:.3f}",
            f"{member.val_accuracy:.4f}",
            f"{member.test_accuracy:.4f}",
            f"{member.test_f1:.4f}",
        )
    table.add_section()
    table.add_row(
        "[bold]ensemble[/]",
        "vote",
        f"{sum(result.weights):.3f}",
        f"{result.val.accuracy:.4f}",
        f"{result.test.accuracy:.4f}",
        f"{result.test.f1:.4f}",
    )
    return table
