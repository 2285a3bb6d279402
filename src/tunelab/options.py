"""Command-line arguments that several ``tunelab`` commands share, declared once.

Light on purpose (typer and pathlib only): every command module imports it, and ``tunelab --help``
imports every command module.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

DataDirOption = Annotated[
    Path | None,
    typer.Option(
        "--data-dir",
        help="Folder with the dataset files (or one subfolder per dataset). "
        "Default: $TUNELAB_DATA_DIR, then the download cache.",
        show_default=False,
    ),
]
StorageOption = Annotated[
    str | None,
    typer.Option(
        "--storage",
        help="SQLAlchemy URL of the study's storage. Default: the study file's, "
        "else sqlite in the output folder.",
        show_default=False,
    ),
]
StudyArgument = Annotated[Path, typer.Argument(help="A study file, or a study's output folder.")]
