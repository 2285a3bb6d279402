"""What the commands that follow a study (probe, ensemble, baselines, report) take from it: the data
folder its trials read and the split they were measured on, and one line that says which."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from tunelab.errors import ConfigError

if TYPE_CHECKING:
    from tunelab.config import DataConfig
    from tunelab.search.handle import StudyHandle


def data_dir_of(handles: Sequence[StudyHandle], given: str | Path | None = None) -> Path | None:
    """``given`` (a command's ``--data-dir``), else the folder the studies' trials read their data
    from (``tunelab run --data-dir``); None: the default lookup. Studies that read different folders
    need ``--data-dir``."""
    if given is not None:
        return Path(given)
    folders = {h.data_dir for h in handles} - {None}
    if len(folders) > 1:
        shown = ", ".join(sorted(map(str, folders)))
        raise ConfigError(f"the studies read their data from different folders ({shown}); give --data-dir")
    return folders.pop() if folders else None


def split_line(data: DataConfig, data_dir: Path | None, source: str) -> str:
    """One line on the split a command used, e.g. ``split: usps, validation 10% of train (split seed
    0), as study 'usps-mlp' · data from /data/usps`` (no folder: the default lookup)."""
    subset = f", a train subset of {data.train_subset:,}" if data.train_subset else ""
    where = f" · data from {data_dir}" if data_dir else ""
    return (
        f"split: {data.name}, validation {data.val_fraction:.0%} of train (split seed {data.split_seed})"
        f"{subset}, as {source}{where}"
    )
