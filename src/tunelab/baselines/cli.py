"""``tunelab baselines``: fit the classical baselines on a dataset and write them to a folder.

A plain function, wired into the main app as ``app.command()(user_errors(baselines))``; it must not
import ``tunelab.cli`` (which imports this module).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table

from tunelab.errors import ConfigError
from tunelab.options import DataDirOption

DEFAULT_MODELS = "svm-rbf,knn,random-forest,sgd"
# DataConfig field → CLI option
_OPTIONS = {"name": "--dataset", "path": "--path", "val_fraction": "--val-fraction"}


def baselines(
    dataset: Annotated[
        str | None,
        typer.Option(
            "--dataset",
            "-d",
            help="A dataset (`tunelab datasets` lists them), or folder / arrays with --path.",
            show_default=False,
        ),
    ] = None,
    path: Annotated[
        str | None,
        typer.Option(
            "--path",
            help="--dataset folder: the folder of class subfolders; arrays: the .npz file.",
            show_default=False,
        ),
    ] = None,
    study: Annotated[
        Path | None,
        typer.Option(
            "--study",
            help="A study file or output folder: its dataset, split and data folder (unless given here).",
            show_default=False,
        ),
    ] = None,
    models: Annotated[
        str,
        typer.Option(
            "--models",
            "-m",
            help="Comma-separated baselines (or 'all'): svm-rbf, svm-poly, svm-linear, knn, "
            "random-forest, sgd, logreg.",
        ),
    ] = DEFAULT_MODELS,
    search: Annotated[
        bool,
        typer.Option(
            "--search", help="Try each model's small grid, fitted on train and chosen on validation."
        ),
    ] = False,
    data_dir: DataDirOption = None,
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Output folder. Default: runs/baselines-<dataset>.", show_default=False),
    ] = None,
    max_train: Annotated[
        int | None,
        typer.Option(
            "--max-train",
            help="Fit on a stratified subset of this many train images (kernel SVMs are slow on MNIST).",
            show_default=False,
        ),
    ] = None,
    val_fraction: Annotated[
        float | None,
        typer.Option(
            "--val-fraction", help="Share of train held out for validation. Default: the study's, else 0.1."
        ),
    ] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the models and of --max-train.")] = 0,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the results as one JSON object on stdout.")
    ] = False,
) -> None:
    """Fit scikit-learn classifiers on the networks' splits; write results.json and baselines.csv."""
    from tunelab.baselines.registry import resolve_models
    from tunelab.baselines.runner import run_baselines
    from tunelab.config import DataConfig
    from tunelab.search.follow import split_line

    err = Console(stderr=True)
    names = resolve_models(models)  # before loading data: a typo fails at once
    raw: dict[str, Any] = {"val_fraction": 0.1}
    source = "--dataset"
    if study is not None:  # the study's split and folder, so the baselines see the networks' images
        from tunelab.search import load_study

        handle = load_study(study)
        raw = handle.spec.data.model_dump(mode="json")
        data_dir = data_dir if data_dir is not None else handle.data_dir
        source = f"study {handle.spec.name!r}"
    elif dataset is None:
        raise ConfigError("--dataset: give a dataset (digits, mnist, fashion-mnist, usps, ...) or --study")
    raw |= {"name": dataset} if dataset is not None else {}
    raw |= {"path": path} if path is not None else {}
    raw |= {"val_fraction": val_fraction} if val_fraction is not None else {}
    try:
        data = DataConfig.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        option = _OPTIONS.get(str(first["loc"][0]), str(first["loc"][0]))
        raise ConfigError(f"{option}: {first['msg'].removeprefix('Value error, ')}") from None
    folder = out or Path("runs") / (f"baselines-{handle.spec.name}" if study else f"baselines-{data.name}")
    err.print(split_line(data, data_dir, source), highlight=False, markup=False, soft_wrap=True)
    results = run_baselines(
        data,
        names,
        search=search,
        data_dir=data_dir,
        seed=seed,
        max_train=max_train,
        log=lambda line: err.print(line, highlight=False),
    )
    results.save(folder)
    err.print(_table(results.table().to_dict("records")))
    n_fit = results.results[0].n_train
    subset = (
        f" (a stratified subset of {results.n_train_available:,})"
        if n_fit < results.n_train_available
        else ""
    )
    err.print(
        f"{results.dataset}: fitted on {n_fit:,} train images{subset}, validation {results.n_val:,}, "
        f"test {results.n_test:,} · written to {folder}",
        highlight=False,
    )
    if as_json:
        rows = [
            {k: _finite(v) for k, v in row.items()} | {"params": result.params}  # structured, not a string
            for row, result in zip(results.table().to_dict("records"), results.results, strict=True)
        ]
        print(json.dumps({"out": str(folder), "dataset": results.dataset, "results": rows}))


def _table(rows: list[dict[str, Any]]) -> Table:
    table = Table()
    table.add_column("model", no_wrap=True)
    table.add_column("params", overflow="fold")  # wraps, never cut: the chosen values matter
    for column in ("val acc", "test acc", "test F1", "fit s", "n train"):
        table.add_column(column, justify="right")
    for row in rows:
        table.add_row(
            row["model"],
            row["params"],
            f"{row['val_accuracy']:.4f}",
            f"{row['test_accuracy']:.4f}",
            f"{row['test_f1']:.4f}",
            f"{row['fit_time_s']:.2f}",
            f"{row['n_train']:,}",
        )
    return table


def _finite(value: Any) -> Any:
    """JSON has no NaN: a missing log-loss is null on stdout."""
    return None if isinstance(value, float) and math.isnan(value) else value
