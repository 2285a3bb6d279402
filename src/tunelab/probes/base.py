"""What every probe shares: the base configuration it perturbs, its training runs and its result.

A probe trains a few variants of one configuration (the *base*: a run file, a :class:`RunConfig`, or
a study file or study folder, whose best trial supplies the tuned values once the study has run) and
returns a table. Every variant trains for the same number of epochs: early stopping is switched off,
so curves are comparable epoch by epoch, as in paper 002's diagnostics.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from tunelab.config import (
    RunConfig,
    apply_overrides,
    load_run_config,
    parse_overrides,
    read_yaml,
    validate_run_config,
)
from tunelab.errors import ConfigError

if TYPE_CHECKING:
    from tunelab.data import Splits
    from tunelab.search import StudyHandle

STUDY_KEYS = ("space", "strategy", "budget", "objective", "repeats", "pruner")


@dataclass
class ProbeResult:
    """A probe's table (tidy: one row per variant and epoch, or per variant and layer) and summary."""

    name: str
    title: str
    table: pd.DataFrame
    summary: pd.DataFrame
    base: str = ""
    options: dict[str, Any] = field(default_factory=dict)
    paths: dict[str, Path] = field(default_factory=dict)


@dataclass
class Base:
    """The configuration a probe perturbs, where it came from, and the study when it came from one."""

    config: RunConfig
    source: str
    handle: StudyHandle | None = None


def is_study_file(path: Path) -> bool:
    return path.is_dir() or any(key in read_yaml(path) for key in STUDY_KEYS)


def resolve_base(
    base: RunConfig | str | Path, overrides: Sequence[str] = (), epochs: int | None = None
) -> Base:
    """The run configuration to perturb, with ``--set`` overrides and ``epochs`` applied.

    A study file or folder gives its best trial's configuration when the study has been run (in its
    default or stored location), else its fixed settings.
    """
    handle = None
    if isinstance(base, RunConfig):
        config, source = base, f"run configuration {base.name!r}"
    else:
        path = Path(base)
        if not path.exists():
            raise ConfigError(f"{path}: no such run file, study file or study folder")
        if is_study_file(path):
            config, source, handle = _from_study(path)
        else:
            config, source = load_run_config(path), f"run file {path}"
    extra = list(overrides) + ([f"train.epochs={epochs}"] if epochs is not None else [])
    if extra:
        config = with_overrides(config, extra)
    return Base(with_settings(config, {"train.early_stopping": None}), source, handle)


def _from_study(path: Path) -> tuple[RunConfig, str, StudyHandle | None]:
    from tunelab.search import load_study, load_study_spec
    from tunelab.search.record import TrialRecord

    if path.is_file():
        spec = load_study_spec(path)
        if spec.storage is None and not (Path("runs") / spec.name / "study.db").is_file():
            return spec.run_config({}, str(path)), f"study {spec.name!r} (fixed settings; not run yet)", None
    handle = load_study(path)
    best = handle.best()
    if best is None:
        return (
            handle.spec.run_config({}, str(path)),
            f"study {handle.spec.name!r} (no finished trial)",
            handle,
        )
    overrides = TrialRecord.from_trial(best).overrides
    config = handle.spec.run_config(overrides, f"{path}: trial {best.number}")
    return config, f"study {handle.spec.name!r}, best trial #{best.number}", handle


def study_data_dir(base: RunConfig | str | Path) -> Path | None:
    """The folder a study's trials read their data from (``tunelab run --data-dir``), when ``base``
    is a study that has run; None otherwise (the default lookup)."""
    if isinstance(base, RunConfig) or not Path(base).exists() or not is_study_file(Path(base)):
        return None
    from tunelab.search import load_study, load_study_spec

    path = Path(base)
    if path.is_file():
        spec = load_study_spec(path)
        if spec.storage is None and not (Path("runs") / spec.name / "study.db").is_file():
            return None
    return load_study(path).data_dir


def with_overrides(config: RunConfig, items: Sequence[str]) -> RunConfig:
    """``config`` with ``key=value`` overrides applied and validated."""
    raw = apply_overrides(config.model_dump(mode="json"), parse_overrides(items))
    return validate_run_config(raw, "probe")


def with_settings(config: RunConfig, settings: Mapping[str, Any]) -> RunConfig:
    """``config`` with dotted settings (already parsed values) applied and validated."""
    raw = apply_overrides(config.model_dump(mode="json"), list(settings.items()), label="probe: ")
    return validate_run_config(raw, "probe")


def load_data(config: RunConfig, data_dir: str | Path | None) -> Splits:
    from tunelab.data import load_splits
    from tunelab.train import resolve_device

    return load_splits(config.data, device=resolve_device(config.train.device), data_dir=data_dir)


def run_variants(
    base: RunConfig, variants: Mapping[str, Mapping[str, Any]], splits: Splits, column: str = "variant"
) -> pd.DataFrame:
    """Train ``base`` once per variant (dotted settings); one row per variant and epoch.

    Columns: ``column`` (the variant's label), ``epoch``, ``status`` (completed or diverged), the
    history's columns (``train_loss``, ``val_accuracy``, ``grad_<layer>``, ...) and ``grad_mean``, the
    mean over layers of the mean |gradient|.
    """
    from tunelab.train import train

    frames = []
    for label, settings in variants.items():
        config = with_settings(base, settings)
        result = train(config, splits)
        frame = pd.DataFrame(result.history)
        frame.insert(0, column, label)
        frame.insert(2, "status", result.status)
        grads = [c for c in frame.columns if c.startswith("grad_")]
        frame["grad_mean"] = frame[grads].mean(axis=1) if grads else math.nan
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def layer_columns(table: pd.DataFrame) -> list[str]:
    return [c for c in table.columns if c.startswith("grad_") and c != "grad_mean"]


def describe(value: Any) -> str:
    """A short label for a setting's value: ``0.001``, ``[0.15, 0.25]``."""
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, list):
        return "[" + ", ".join(describe(v) for v in value) + "]"
    return str(value)
