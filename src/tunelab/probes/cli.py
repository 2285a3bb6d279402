"""``tunelab probe``: one of paper 002's diagnostics on a run file or a study (see ``tunelab.probes``).

A plain function, wired into the main app as ``app.command()(user_errors(probe))``; it must not import
``tunelab.cli``. torch, pandas and matplotlib are imported inside it, so ``tunelab --help`` stays fast.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from tunelab.errors import ConfigError
from tunelab.options import DataDirOption

NAMES = ("init_scale", "lr_scale", "batch_size", "momentum", "dropout", "correlation")


def probe(
    name: Annotated[str, typer.Argument(help=f"The probe: {', '.join(NAMES)}.", show_default=False)],
    config: Annotated[
        Path,
        typer.Argument(
            help="A run file, or a study file or study output folder (its best trial is the base; "
            "correlation reads the study's random stage).",
            show_default=False,
        ),
    ],
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Output folder. Default: runs/probes/<config name>.", show_default=False),
    ] = None,
    data_dir: DataDirOption = None,
    epochs: Annotated[
        int | None,
        typer.Option("--epochs", min=1, help="Train each variant this many epochs.", show_default=False),
    ] = None,
    set_: Annotated[
        list[str] | None,
        typer.Option(
            "--set", "-s", help="Override a setting of the base: key.path=value.", show_default=False
        ),
    ] = None,
) -> None:
    """Run a probe (paper 002's diagnostics): writes <probe>.csv, .png, .svg and index.md."""
    from rich.console import Console

    from tunelab.probes import PROBES, run_probe
    from tunelab.probes.base import resolve_base, study_data_dir
    from tunelab.search.follow import split_line

    if name not in PROBES:
        raise ConfigError(f"unknown probe {name!r}; expected one of {', '.join(PROBES)}")
    if not config.exists():
        raise ConfigError(f"{config}: no such run file, study file or study folder")
    target = out or Path("runs") / "probes" / (config.name if config.is_dir() else config.stem)
    data_dir = data_dir if data_dir is not None else study_data_dir(config)  # the study's, if it had one
    result = run_probe(name, config, target, data_dir=data_dir, epochs=epochs, overrides=tuple(set_ or ()))
    console = Console(stderr=True, highlight=False)
    console.print(f"{result.title} ({result.base})")
    if name != "correlation":  # it reads the study's trials, and trains nothing
        data = resolve_base(config, tuple(set_ or ()), epochs).config.data
        console.print(split_line(data, data_dir, result.base), markup=False, soft_wrap=True)
    console.print(result.summary.to_string(index=False))
    console.print(
        f"written: {result.paths['csv']}, {result.paths['png'].name}, {result.paths['svg'].name}, index.md"
    )
