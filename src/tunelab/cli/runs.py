"""``train`` and ``datasets``: one training run, and the datasets it can use."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from tunelab.cli.app import app, err, out, user_errors
from tunelab.options import DataDirOption


@app.command()
@user_errors
def train(
    config: Annotated[Path, typer.Argument(help="Run file (YAML): data, model and train sections.")],
    set_: Annotated[
        list[str] | None,
        typer.Option("--set", "-s", help="Override a setting: key.path=value.", show_default=False),
    ] = None,
    data_dir: DataDirOption = None,
    out_dir: Annotated[
        Path | None,
        typer.Option("--out", help="Output folder. Default: runs/<name>-<time>.", show_default=False),
    ] = None,
    device: Annotated[
        str | None, typer.Option(help="Override train.device (cpu, cuda, cuda:1, mps).", show_default=False)
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the final metrics as one JSON object.")
    ] = False,
    threads: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="CPU threads. Default: the cores this process may use (affinity, cgroup quota).",
            show_default=False,
        ),
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress and no summary table.")] = False,
) -> None:
    """Train one configuration and write history.csv, metrics.json, config.yaml and model.pt."""
    from tunelab.config import load_run_config
    from tunelab.data import load_splits
    from tunelab.provenance import provenance
    from tunelab.train import resolve_device
    from tunelab.train import train as run_training
    from tunelab.train.artifacts import save_run
    from tunelab.train.threads import set_threads

    if device:  # said as the option it is, not as the train.device it overrides
        resolve_device(device, "--device")
    overrides = list(set_ or []) + ([f"train.device={device}"] if device else [])
    cfg = load_run_config(config, overrides)
    if threads:
        set_threads(threads)
    target = resolve_device(cfg.train.device, f"{config}: train.device")
    splits = load_splits(cfg.data, device=target, data_dir=data_dir)
    folder = out_dir or Path("runs") / f"{config.stem}-{dt.datetime.now():%Y%m%d-%H%M%S}"
    show = not quiet
    if show:
        err.print(
            f"training [bold]{cfg.model.kind}[/] on [bold]{cfg.data.name}[/] "
            f"({len(splits.y_train)} train / {len(splits.y_val)} val / {len(splits.y_test)} test) on {target}"
        )
    with EpochProgress(cfg.train.epochs, enabled=show) as progress:
        result = run_training(cfg, splits, callbacks=[progress], device=target)
    save_run(folder, cfg, result, provenance(target, splits.checksums))
    if as_json:
        print(json.dumps(result.summary() | {"out": str(folder)}, default=str))
    if show:
        _print_summary(result.summary(), folder)


class EpochProgress:
    """A rich progress bar on a terminal, one plain line per epoch otherwise."""

    def __init__(self, epochs: int, enabled: bool = True) -> None:
        self.epochs, self.enabled = epochs, enabled
        self.bar: Any = None

    def __enter__(self) -> EpochProgress:
        if self.enabled and err.is_terminal:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            self.bar = Progress(
                TextColumn("epoch"),
                MofNCompleteColumn(),
                BarColumn(),
                TimeElapsedColumn(),
                TextColumn("{task.fields[status]}"),
                console=err,
            )
            self.bar.start()
            self.task = self.bar.add_task("train", total=self.epochs, status="")
        return self

    def __call__(self, epoch: int, record: Mapping[str, float]) -> bool:
        line = (
            f"train loss {record['train_loss']:.4f} acc {record['train_accuracy']:.4f} · "
            f"val loss {record['val_loss']:.4f} acc {record['val_accuracy']:.4f} · {record['time_s']:.2f}s"
        )
        if self.bar is not None:
            self.bar.update(self.task, completed=epoch, status=line)
        elif self.enabled:
            err.print(f"epoch {epoch}/{self.epochs} · {line}", highlight=False)
        return False

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.stop()


def _print_summary(summary: Mapping[str, Any], folder: Path) -> None:
    table = Table()
    table.add_column("metric")
    table.add_column("validation", justify="right")
    table.add_column("test", justify="right")
    for key in ("accuracy", "loss", "precision", "recall", "f1"):
        val, test = summary.get(f"val_{key}"), summary.get(f"test_{key}")
        table.add_row(key, "—" if val is None else f"{val:.4f}", "—" if test is None else f"{test:.4f}")
    err.print(table)
    reason = f" ({summary['reason']})" if summary.get("reason") else ""
    threads = summary.get("threads")
    device = (
        f"{summary['device']} ({threads} thread{'s' if threads != 1 else ''})"
        if threads
        else summary["device"]
    )
    err.print(
        f"{summary['status']}{reason}: {summary['epochs']} epochs (best {summary['best_epoch']}) in "
        f"{summary['train_time_s']:.1f}s on {device} · {summary['n_parameters']:,} parameters",
        highlight=False,
    )
    err.print(f"written to {folder}", highlight=False)


@app.command()
@user_errors
def datasets(data_dir: DataDirOption = None) -> None:
    """List the datasets, their sizes and whether each is available locally."""
    from tunelab.data import availability
    from tunelab.data.registry import with_plugins

    table = Table()
    for column in ("name", "image", "classes", "train", "test"):
        table.add_column(column, no_wrap=True, min_width=len(column))
    table.add_column("available", overflow="fold")
    infos, problems = with_plugins()
    for name, info in infos.items():
        c, h, w = info.input_shape
        table.add_row(
            name,
            f"{h}×{w}" + (f"×{c}" if c > 1 else ""),
            str(info.n_classes),
            f"{info.n_train:,}",
            f"{info.n_test:,}",
            availability(name, data_dir),
        )
    for name, problem in problems.items():  # a broken plug-in is shown, not fatal to the list
        table.add_row(name, "?", "?", "?", "?", problem)
    out.print(table)
