"""``run``, ``worker``, ``status``, ``best``, ``export``, ``schema``, ``dashboard``: studies."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from tunelab.cli.app import app, err, out, user_errors
from tunelab.errors import TunelabError
from tunelab.options import DataDirOption, StorageOption, StudyArgument

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
ThreadsOption = Annotated[
    int | None,
    typer.Option(
        min=1,
        help="CPU threads each worker trains with. Default: the cores this process may use "
        "(affinity, cgroup quota), shared among the workers.",
        show_default=False,
    ),
]
RetryFailedOption = Annotated[
    bool,
    typer.Option("--retry-failed", help="Also run again the planned points that failed retries + 1 times."),
]


def _workers(value: str) -> str:
    """``--workers``: a whole number of at least 1, or auto."""
    if value == "auto":
        return value
    try:
        k = int(value)
    except ValueError:
        raise typer.BadParameter(f"expected a whole number or auto, got {value!r}") from None
    if k < 1:
        raise typer.BadParameter(f"expected 1 or more, or auto, got {value!r}")
    return str(k)


EXIT_SHORT = 3
"""Exit code of ``run`` and ``worker`` when the study ended with failed or unfinished planned points."""


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
        str,
        typer.Option(
            callback=_workers,
            help="Worker processes on this machine (one per GPU where there are several), or auto: "
            "one per usable core on a CPU (where a small step trains with one thread), one per GPU.",
        ),
    ] = "1",
    threads: ThreadsOption = None,
    overwrite: Annotated[
        bool,
        typer.Option(
            "--overwrite",
            help="Start the study afresh: delete its trials in the storage and the trial folders, worker "
            "logs and study.yaml in its output folder (else a study whose files and database disagree, "
            "or that was made from another study file, is refused).",
        ),
    ] = False,
    quiet: QuietOption = False,
    retry_failed: RetryFailedOption = False,
) -> None:
    """Run a study, or resume it: finished trials are kept, unfinished planned work runs again.

    Exit code 0 when the plan or budget was met, 3 when planned points failed or did not finish.
    """
    handle = _open(study, set_, storage, out_dir, device, data_dir, quiet, overwrite)
    problems: list[str] = []
    if workers == "auto":
        from tunelab.search.workers import auto_workers

        workers = str(auto_workers(device or handle.spec.train.device))
    k = int(workers)
    if k == 1:
        _work(handle, n_trials, timeout, data_dir, device, threads, quiet, retry_failed)
    else:
        from tunelab.search.workers import WorkerSettings, run_local_workers

        settings = WorkerSettings(n_trials, timeout, data_dir)
        with _progress(quiet) as progress:
            problems = run_local_workers(handle, k, settings, device, progress, threads, retry_failed)
    _print_status(handle)
    _finish(handle, finished=len(problems) < k, problems=problems)


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
    threads: ThreadsOption = None,
    quiet: QuietOption = False,
    retry_failed: RetryFailedOption = False,
) -> None:
    """Work on a study alongside other workers (on any machine) sharing its --storage."""
    handle = _open(study, set_, storage, out_dir, device, data_dir, quiet)
    _work(handle, n_trials, timeout, data_dir, device, threads, quiet, retry_failed)
    _finish(handle, finished=True, problems=[])


def _finish(handle: Any, finished: bool, problems: list[str]) -> None:
    """Say how workers ended; exit 3 with one last line when the study lacks planned points."""
    from tunelab.search.plan import shortfall

    for problem in problems:
        err.print(f"warning: {problem}", highlight=False)
    short = shortfall(handle.study, finished=finished)
    if short:
        err.print(f"[bold red]incomplete:[/] {short.message()}", highlight=False, soft_wrap=True)
        raise typer.Exit(EXIT_SHORT)


def _open(
    study: Path,
    set_: list[str] | None,
    storage: str | None,
    out_dir: Path | None,
    device: str | None,
    data_dir: Path | None,
    quiet: bool,
    overwrite: bool = False,
) -> Any:
    """The study, opened once its file, the device and the data check out (a mistake writes
    nothing); says what the overrides changed (a searched setting they fix)."""
    from tunelab.search import load_study_spec, open_study
    from tunelab.search.study import check_inputs

    notes: list[str] = []
    spec = load_study_spec(study, set_ or [], notes)
    check_inputs(spec, device, data_dir, str(study))
    handle = open_study(spec, storage, out_dir, notes, overwrite=overwrite)
    for note in notes if not quiet else []:
        err.print(f"note: {note}", highlight=False, markup=False, soft_wrap=True)
    return handle


def _work(
    handle: Any,
    n_trials: int | None,
    timeout: float | None,
    data_dir: Path | None,
    device: str | None,
    threads: int | None,
    quiet: bool,
    retry_failed: bool = False,
) -> None:
    from tunelab.search.study import Worker, done_trials

    if threads:
        from tunelab.train.threads import set_threads

        set_threads(threads)
    with _progress(quiet) as progress:
        try:
            Worker(
                handle,
                n_trials=n_trials,
                timeout=timeout,
                data_dir=data_dir,
                device=device,
                observer=progress,
                retry_failed=retry_failed,
            ).run()
        except KeyboardInterrupt:
            progress.close()
            done = len(done_trials(handle.study.get_trials(deepcopy=False)))
            err.print(
                f"interrupted: {done} finished trials are kept in {handle.storage_shown}; "
                "run the same command to resume",
                highlight=False,
            )
            raise typer.Exit(130) from None


def _progress(quiet: bool) -> Any:
    """The study's progress on stderr: rich's live view on a terminal, plain lines through a pipe."""
    from tunelab.progress import Board, progress_board

    return (None if quiet else progress_board("auto", err)) or Board()


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
    """Print the best trial: its parameters, its run settings and its metrics (of tunelab's trials;
    trials that other code made on the study are mentioned, not ranked)."""
    from tunelab.search import load_study
    from tunelab.search.record import json_safe
    from tunelab.search.status import best_summary

    summary = best_summary(load_study(study, storage))
    if as_json:
        print(json.dumps(json_safe(summary), default=str))
        return
    table = Table(title=f"best trial #{summary['number']} ({summary['metric']} {summary['value']:.4f})")
    table.add_column("setting", overflow="fold")
    table.add_column("value", overflow="fold")
    for key, value in {**summary["overrides"], **summary["metrics"]}.items():
        table.add_row(key, _short(value))
    out.print(table)
    external = summary["external"]
    if external["count"]:
        top = external["best"]
        line = f"{external['count']} trial(s) made by other code than tunelab are not ranked"
        if top is not None:
            params = ", ".join(f"{k}={_short(v)}" for k, v in top["params"].items()) or "no parameters"
            line += f"; the best of them is #{top['number']} ({_short(top['value'])}: {params})"
        out.print(line, highlight=False)


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
    """Open optuna-dashboard on the study's storage (pip install "tunelab\\[dashboard]")."""
    from tunelab.search import load_study

    handle = load_study(study, storage)
    try:
        from optuna_dashboard import run_server
    except ImportError:
        raise TunelabError(
            'dashboard: optuna-dashboard is not installed; pip install "tunelab[dashboard]"'
        ) from None
    err.print(f"dashboard of {handle.spec.name} on http://{host}:{port} (Ctrl-C stops it)", highlight=False)
    run_server(handle.storage, host=host, port=port)
