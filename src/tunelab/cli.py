"""The ``tunelab`` command line.

Every mistake in the user's input is a ``TunelabError``: it is printed as one sentence on stderr and
the command exits with code 2, without a traceback.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from tunelab import __version__
from tunelab.errors import TunelabError
from tunelab.options import DataDirOption, StorageOption, StudyArgument

app = typer.Typer(
    name="tunelab",
    help="Hyperparameter studies of neural-network image classifiers.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
err = Console(stderr=True)
out = Console()

F = TypeVar("F", bound=Callable[..., Any])


def user_errors(command: F) -> F:
    """Report bad input as one sentence and exit 2; Ctrl-C exits 130 without a traceback."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except TunelabError as exc:
            err.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
            raise typer.Exit(2) from None
        except KeyboardInterrupt:
            err.print("interrupted")
            raise typer.Exit(130) from None

    return wrapper  # type: ignore[return-value]


def _version(value: bool) -> None:
    if value:
        out.print(f"tunelab {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")
    ] = False,
) -> None:
    """Hyperparameter studies of neural-network image classifiers."""


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
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress and no summary table.")] = False,
) -> None:
    """Train one configuration and write history.csv, metrics.json, config.yaml and model.pt."""
    from tunelab.config import load_run_config
    from tunelab.data import load_splits
    from tunelab.provenance import provenance
    from tunelab.train import resolve_device
    from tunelab.train import train as run_training
    from tunelab.train.artifacts import save_run

    overrides = list(set_ or []) + ([f"train.device={device}"] if device else [])
    cfg = load_run_config(config, overrides)
    target = resolve_device(cfg.train.device)
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
    err.print(
        f"{summary['status']}{reason}: {summary['epochs']} epochs (best {summary['best_epoch']}) in "
        f"{summary['train_time_s']:.1f}s on {summary['device']} · {summary['n_parameters']:,} parameters",
        highlight=False,
    )
    err.print(f"written to {folder}", highlight=False)


@app.command()
@user_errors
def datasets(data_dir: DataDirOption = None) -> None:
    """List the datasets, their sizes and whether each is available locally."""
    from tunelab.data import DATASETS, availability

    table = Table()
    for column in ("name", "image", "classes", "train", "test"):
        table.add_column(column, no_wrap=True, min_width=len(column))
    table.add_column("available", overflow="fold")
    for name, info in DATASETS.items():
        c, h, w = info.input_shape
        table.add_row(
            name,
            f"{h}×{w}" + (f"×{c}" if c > 1 else ""),
            str(info.n_classes),
            f"{info.n_train:,}",
            f"{info.n_test:,}",
            availability(name, data_dir),
        )
    out.print(table)


# ------------------------------------------------------------------------------------------- studies


NTrialsOption = Annotated[
    int | None, typer.Option("--n-trials", min=1, help="Trials in the whole study.", show_default=False)
]
TimeoutOption = Annotated[
    float | None, typer.Option(min=0.001, help="Seconds this run may take.", show_default=False)
]
OutOption = Annotated[
    Path | None, typer.Option("--out", help="Output folder. Default: runs/<study name>.", show_default=False)
]
SetOption = Annotated[
    list[str] | None,
    typer.Option("--set", "-s", help="Override a study setting: key.path=value.", show_default=False),
]
DeviceOption = Annotated[str | None, typer.Option(help="cpu, cuda, cuda:1, mps.", show_default=False)]
QuietOption = Annotated[bool, typer.Option("--quiet", "-q", help="No progress.")]


@app.command()
@user_errors
def run(
    study: Annotated[Path, typer.Argument(help="Study file (YAML).")],
    storage: StorageOption = None,
    n_trials: NTrialsOption = None,
    timeout: TimeoutOption = None,
    out_dir: OutOption = None,
    set_: SetOption = None,
    data_dir: DataDirOption = None,
    device: DeviceOption = None,
    workers: Annotated[
        int,
        typer.Option(min=1, help="Worker processes on this machine (one per GPU where there are several)."),
    ] = 1,
    quiet: QuietOption = False,
) -> None:
    """Run a study, or resume it: finished trials are kept, an interrupted one runs again."""
    from tunelab.search import load_study_spec, open_study

    handle = open_study(load_study_spec(study, set_ or []), storage, out_dir)
    if workers == 1:
        _work(handle, n_trials, timeout, data_dir, device, None, quiet)
    else:
        from tunelab.search.workers import run_local_workers

        argv = [str(study), "--storage", handle.url, "--out", str(handle.out_dir)]
        argv += [f"--set={item}" for item in set_ or []] + (["--data-dir", str(data_dir)] if data_dir else [])
        argv += (["--n-trials", str(n_trials)] if n_trials else []) + (
            ["--timeout", str(timeout)] if timeout else []
        )
        with StudyProgress(enabled=not quiet) as progress:
            run_local_workers(handle, workers, argv, device, progress)
    _print_status(handle)


@app.command()
@user_errors
def worker(
    study: Annotated[Path, typer.Argument(help="Study file (YAML).")],
    storage: StorageOption = None,
    n_trials: NTrialsOption = None,
    timeout: TimeoutOption = None,
    out_dir: OutOption = None,
    set_: SetOption = None,
    data_dir: DataDirOption = None,
    device: DeviceOption = None,
    threads: Annotated[
        int | None, typer.Option(min=1, help="CPU threads for training.", show_default=False)
    ] = None,
    quiet: QuietOption = False,
) -> None:
    """Work on a study alongside other workers (on any machine) sharing its --storage."""
    from tunelab.search import load_study_spec, open_study

    handle = open_study(load_study_spec(study, set_ or []), storage, out_dir)
    _work(handle, n_trials, timeout, data_dir, device, threads, quiet)


def _work(
    handle: Any,
    n_trials: int | None,
    timeout: float | None,
    data_dir: Path | None,
    device: str | None,
    threads: int | None,
    quiet: bool,
) -> None:
    from tunelab.search.study import Worker, counted

    if threads:
        import torch

        torch.set_num_threads(threads)
    with StudyProgress(enabled=not quiet) as progress:
        try:
            Worker(
                handle,
                n_trials=n_trials,
                timeout=timeout,
                data_dir=data_dir,
                device=device,
                # Observer's methods, not its class: the CLI imports no study code until a command runs
                observer=progress,  # type: ignore[arg-type]
            ).run()
        except KeyboardInterrupt:
            progress.close()
            done = sum(map(counted, handle.study.get_trials(deepcopy=False)))
            err.print(
                f"interrupted: {done} finished trials are kept in {handle.storage_shown}; "
                "run the same command to resume",
                highlight=False,
            )
            raise typer.Exit(130) from None


class StudyProgress:
    """Trials done / budget, the best so far and the current trial's epoch; plain lines off a terminal."""

    def __init__(self, enabled: bool = True) -> None:
        self.enabled, self.best = enabled, "—"
        self.bar: Any = None  # a rich Progress on a terminal
        self.budget: int | None = None
        self.current, self.metric = "", "value"

    def __enter__(self) -> StudyProgress:
        return self

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()
            self.bar = None

    def __exit__(self, *exc: object) -> None:
        self.close()

    def started(self, spec: Any, storage: str, done: int, budget: int | None) -> None:
        self.metric, self.budget = spec.objective.metric, budget
        if not self.enabled:
            return
        err.print(
            f"study [bold]{spec.name}[/] · {spec.strategy.name} · {storage} · {done} trials already done",
            highlight=False,
        )
        if err.is_terminal:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            self.bar = Progress(
                TextColumn("trials"),
                MofNCompleteColumn(),
                BarColumn(),
                TimeElapsedColumn(),
                TextColumn("{task.fields[line]}"),
                console=err,
            )
            self.bar.start()
            self.task = self.bar.add_task("study", total=budget, completed=done, line="")

    def trial_started(self, number: int, stage: str, params: Mapping[str, Any]) -> None:
        self.current = f"trial {number} ({stage})"
        if self.enabled and self.bar is None:
            shown = ", ".join(f"{k}={_short(v)}" for k, v in params.items())
            err.print(f"{self.current}: {shown}", highlight=False)

    def epoch(self, number: int, epoch: int, epochs: int, record: Mapping[str, float]) -> None:
        if self.bar is not None:
            acc = record["val_accuracy"]
            line = f"best {self.best} · {self.current} epoch {epoch}/{epochs} val acc {acc:.4f}"
            self.bar.update(self.task, line=line)

    def trial_finished(self, number: int, outcome: Any, done: int, best: Any) -> None:
        if best is not None:
            self.best = f"{best.value:.4f} (#{best.number})"
        value = outcome.value(self.metric)
        shown = f"{self.metric} {value:.4f}" if value is not None else (outcome.reason or "")
        if self.bar is not None:
            self.bar.update(self.task, completed=done, line=f"best {self.best}")
        elif self.enabled:
            total = f"/{self.budget}" if self.budget else ""
            err.print(
                f"trial {number} {outcome.outcome}: {shown} · {done}{total} done · best {self.best}",
                highlight=False,
            )


def _short(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _print_status(handle: Any) -> None:
    from tunelab.search.status import status_tables

    for table in status_tables(handle):
        out.print(table)


@app.command()
@user_errors
def status(study: StudyArgument, storage: StorageOption = None) -> None:
    """Show a study's trials by state, its stages and its best trial."""
    from tunelab.search import load_study

    _print_status(load_study(study, storage))


@app.command()
@user_errors
def best(
    study: StudyArgument,
    storage: StorageOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Print the best trial: its parameters, its run settings and its metrics."""
    from tunelab.search import load_study
    from tunelab.search.status import best_summary

    summary = best_summary(load_study(study, storage))
    if as_json:
        print(json.dumps(summary, default=str))
        return
    table = Table(title=f"best trial #{summary['number']} ({summary['metric']} {summary['value']:.4f})")
    table.add_column("setting")
    table.add_column("value", overflow="fold")
    for key, value in {**summary["overrides"], **summary["metrics"]}.items():
        table.add_row(key, _short(value))
    out.print(table)


@app.command()
@user_errors
def export(
    study: StudyArgument,
    storage: StorageOption = None,
    fmt: Annotated[str, typer.Option("--format", help="csv, parquet or json.")] = "csv",
    output: Annotated[
        Path | None,
        typer.Option(
            "--output", "-o", help="File to write. Default: <out>/trials.<format>.", show_default=False
        ),
    ] = None,
) -> None:
    """Write one row per trial: parameters, metrics, status, duration and seeds."""
    from tunelab.search import load_study
    from tunelab.search.results import trials_dataframe

    if fmt not in ("csv", "parquet", "json"):
        raise TunelabError(f"--format: expected csv, parquet or json, got {fmt!r}")
    handle = load_study(study, storage)
    frame = trials_dataframe(handle)
    path = output or handle.out_dir / f"trials.{fmt}"
    path.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "csv":
        frame.to_csv(path, index=False)
    elif fmt == "parquet":
        frame.to_parquet(path, index=False)
    else:
        frame.to_json(path, orient="records", indent=1)
    err.print(f"{len(frame)} trials written to {path}", highlight=False)


@app.command()
def schema() -> None:
    """Print the JSON Schema of study files (for editors' completion and checking)."""
    from tunelab.search import StudySpec

    print(json.dumps(StudySpec.model_json_schema(), indent=2))


@app.command()
@user_errors
def dashboard(
    study: StudyArgument,
    storage: StorageOption = None,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 8080,
) -> None:
    """Open optuna-dashboard on the study's storage (pip install "tunelab[dashboard]")."""
    from tunelab.search import load_study

    handle = load_study(study, storage)
    try:
        from optuna_dashboard import run_server
    except ImportError:
        raise TunelabError(
            'dashboard: optuna-dashboard is not installed; pip install "tunelab[dashboard]"'
        ) from None
    err.print(f"dashboard of {handle.spec.name} on http://{host}:{port} (Ctrl-C stops it)", highlight=False)
    run_server(handle.study._storage, host=host, port=port)


def _register_commands() -> None:
    """Commands whose code lives beside what they drive."""
    from tunelab.analysis.cli import report
    from tunelab.baselines.cli import baselines
    from tunelab.ensembles.cli import ensemble
    from tunelab.probes.cli import probe

    app.command(help=baselines.__doc__)(user_errors(baselines))
    app.command(help=ensemble.__doc__)(user_errors(ensemble))
    app.command(help=report.__doc__)(user_errors(report))
    app.command(help=probe.__doc__)(user_errors(probe))


_register_commands()


def main() -> None:
    """Console-script entry point."""
    sys.exit(app())


if __name__ == "__main__":
    main()
