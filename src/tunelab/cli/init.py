"""``init``: write one of the bundled example studies into the current folder, to start from."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from tunelab.cli.app import app, err, out, user_errors
from tunelab.errors import ConfigError


@app.command()
@user_errors
def init(
    template: Annotated[
        str | None,
        typer.Argument(help="Example study to write (e.g. digits-grid or grid); --list shows them all."),
    ] = None,
    list_: Annotated[bool, typer.Option("--list", help="List the bundled example studies.")] = False,
    folder: Annotated[
        Path, typer.Option("--dir", help="Folder to write it into.", show_default="the current folder")
    ] = Path("."),
    force: Annotated[bool, typer.Option("--force", help="Overwrite a file of the same name.")] = False,
) -> None:
    """Write a bundled example study (default: digits-grid) into the current folder, to run or edit."""
    from tunelab.search import examples

    if list_:
        table = Table(title="example studies (tunelab init NAME)")
        table.add_column("name")
        table.add_column("what it shows", overflow="fold")
        for name, example in examples.bundled().items():
            table.add_row(name, examples.describe(example))
        out.print(table)
        return
    name, example = examples.find(template or examples.DEFAULT)
    path = folder / f"{name}.yaml"
    if path.exists() and not force:
        raise ConfigError(f"init: {path} exists; give --force to overwrite it, or --dir for another folder")
    if not folder.is_dir():
        raise ConfigError(f"init --dir {folder}: no such folder")
    path.write_text(examples.text_of(example), encoding="utf-8")
    err.print(f"wrote {path}: {examples.describe(example)}", highlight=False)
    err.print(f"run it with: tunelab run {path}", highlight=False)
