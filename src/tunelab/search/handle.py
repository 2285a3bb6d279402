"""An open study: made (or resumed) from a study file, or found again from its output folder.

``open_study`` creates the study in its storage, or loads it when it exists and was made from the
same study file; ``load_study`` opens an existing one for the commands that read it.
"""

from __future__ import annotations

import contextlib
import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
import yaml
from optuna.trial import FrozenTrial
from pydantic import ValidationError

from tunelab.errors import ConfigError
from tunelab.search.checkpoints import clear_study as clear_checkpoints
from tunelab.search.pruners import make_pruner
from tunelab.search.record import StudyRecord, set_study_attrs
from tunelab.search.spec import StudySpec, load_study_spec
from tunelab.search.storage import (
    DamagedStorage,
    default_storage,
    mask,
    open_storage,
    sqlite_file,
    study_lock,
    without_password,
)
from tunelab.search.strategies import Stage, best_trial


@dataclass
class StudyHandle:
    """An open study: its spec, its Optuna study, where it stores trials and files.

    ``storage`` is the study's ``RDBStorage`` (heartbeats, retries), for what needs the storage itself,
    e.g. optuna-dashboard's ``run_server``.
    """

    spec: StudySpec
    study: optuna.Study
    url: str
    out_dir: Path
    storage: optuna.storages.RDBStorage

    @property
    def storage_shown(self) -> str:
        return mask(self.url)

    def stages(self) -> list[Stage]:
        return [Stage.from_raw(raw) for raw in StudyRecord.from_study(self.study).stages]

    def best(self) -> FrozenTrial | None:
        return best_trial(self.study.get_trials(deepcopy=False), self.spec)

    @property
    def data_dir(self) -> Path | None:
        """The ``--data-dir`` the study's trials read their data from (None: the default lookup), so
        that the commands that follow a study (probe, ensemble, baselines) find the same files."""
        recorded = StudyRecord.from_study(self.study).data_dir
        return Path(recorded) if recorded else None


# How and where trials run, not what they compute: a rerun may change these (prefixes of dotted fields).
RERUN_FREE = (
    "retries",
    "seed",  # the sampler's: which points are drawn next, not how a point trains
    "checkpoint_interval_s",
    "population",  # also population_padding: members match lone runs within float tolerance
    "train.device",
    "train.eval_batch_size",
    "train.compile",
)


def _comparable(spec: StudySpec) -> dict[str, Any]:
    return spec.model_dump(mode="json", exclude={"budget", "storage", "description"})


def _leaves(value: Any, prefix: str = "") -> dict[str, Any]:
    """A nested mapping as dotted fields and their values (lists, and a space's parameters, are values)."""
    if not isinstance(value, dict) or not value:
        return {prefix: value}
    out: dict[str, Any] = {}
    for key, item in value.items():
        name = f"{prefix}.{key}" if prefix else str(key)
        out |= {name: item} if prefix.endswith("space") else _leaves(item, name)
    return out


def _differences(stored: dict[str, Any], spec: StudySpec, final_started: bool) -> tuple[list[str], list[str]]:
    """The dotted fields in which ``spec`` differs from the spec a study was made from, each as
    ``field (A there, B here)``: those refused, and those a rerun may change (:data:`RERUN_FREE`, and
    the ``final`` section while the final stage has not started).

    The stored spec is read by this version of tunelab first, so a setting added since (with its
    default) is not a difference: a study made by an older tunelab can be resumed. Both are the spec
    as written (``train.device: auto``, not the device a worker resolved it to).
    """
    with contextlib.suppress(ValidationError):
        stored = _comparable(StudySpec.model_validate(stored))
    old, new = _leaves(stored), _leaves(_comparable(spec))
    free = RERUN_FREE if final_started else (*RERUN_FREE, "final")
    refused: list[str] = []
    allowed: list[str] = []
    for key in sorted(old.keys() | new.keys()):
        if old.get(key) != new.get(key):
            change = f"{key} ({_shown(old.get(key))} there, {_shown(new.get(key))} here)"
            (allowed if any(key.startswith(f) for f in free) else refused).append(change)
    return refused, allowed


def _shown(value: Any) -> str:
    return "unset" if value is None else json.dumps(value)


def result_trials(out_dir: Path) -> int:
    """How many trials have result files (a run folder with its ``metrics.json``) in ``out_dir``."""
    return len({path.parent.parent for path in out_dir.glob("trials/*/*/metrics.json")})


# What ``tunelab run`` writes in a study's output folder, deleted by ``overwrite``.
RUN_FILES = ("trials", "workers", "study.yaml")


def open_study(
    spec: StudySpec,
    storage: str | None = None,
    out_dir: Path | None = None,
    notes: list[str] | None = None,
    *,
    overwrite: bool = False,
) -> StudyHandle:
    """Create the study, or load it when it exists and was made from the same study file.

    Nothing is written before the storage answers: a bad URL, an unreachable server or a damaged
    database leaves no output folder behind. The study's files and its database are checked against
    each other: a storage that is empty or does not hold the study while ``out_dir`` holds trial
    results (the database emptied, replaced or pointed elsewhere) is refused, and so is a study made
    from a different study file. ``overwrite`` starts afresh instead: the study in the storage (its
    trials and checkpoints), ``out_dir``'s trial folders, worker logs and study.yaml, and a damaged
    default database file are deleted first.

    A rerun may change how trials run (:data:`RERUN_FREE`), the budget (to extend it) and the final
    section before the final stage starts; any change to what a trial computes is refused with one
    sentence naming the fields. ``notes`` gains a sentence on each change taken.
    """
    out_dir = Path(out_dir or Path("runs") / spec.name)
    url = storage or spec.storage or default_storage(out_dir)
    own_file = url == default_storage(out_dir)  # the study's own SQLite file, beside its results
    results = result_trials(out_dir)
    db = sqlite_file(url)
    if db is not None and results and not overwrite and (not db.is_file() or db.stat().st_size == 0):
        state = "is empty (0 bytes)" if db.is_file() else "is missing"
        raise ConfigError(
            f"storage {mask(url)}: the database file {state} while {out_dir / 'trials'} holds the "
            f"results of {results} trials; restore the database from a backup, or start afresh with "
            "tunelab run --overwrite (which deletes those results)"
        )
    if own_file:
        out_dir.mkdir(parents=True, exist_ok=True)  # to hold the database: nothing else before it opens
    rdb = _open_storage(url, spec, own_file and overwrite)
    study = _create_or_load(spec, url, rdb, out_dir, results, overwrite, notes)
    out_dir.mkdir(parents=True, exist_ok=True)
    # The default SQLite file is found beside study.yaml, so the folder can be moved or copied whole.
    shown_url = None if own_file else without_password(url)
    shown = spec.model_dump(mode="json") | {"storage": shown_url}
    (out_dir / "study.yaml").write_text(yaml.safe_dump(shown, sort_keys=False), encoding="utf-8")
    return StudyHandle(spec, study, url, out_dir, rdb)


def _open_storage(url: str, spec: StudySpec, replace_damaged: bool) -> optuna.storages.RDBStorage:
    """``open_storage``; with ``replace_damaged``, a damaged SQLite file is deleted and made anew."""
    try:
        return open_storage(url, retries=spec.retries)
    except DamagedStorage:
        db = sqlite_file(url)
        if not replace_damaged or db is None:
            raise
        db.unlink()
        return open_storage(url, retries=spec.retries)


def _create_or_load(
    spec: StudySpec,
    url: str,
    rdb: optuna.storages.RDBStorage,
    out_dir: Path,
    results: int,
    overwrite: bool,
    notes: list[str] | None,
) -> optuna.Study:
    """Under the study lock: the study, created, loaded or (``overwrite``) made anew."""
    with study_lock(url, spec.name):
        try:
            rdb.get_study_id_from_name(spec.name)
            exists = True
        except KeyError:
            exists = False
        allowed: list[str] = []
        if exists and not overwrite:
            record = StudyRecord.from_study(optuna.load_study(study_name=spec.name, storage=rdb))
            if record.spec is not None:
                final_started = any(raw.get("final") for raw in record.stages)
                refused, allowed = _differences(record.spec, spec, final_started)
                if refused:
                    listed = "; ".join(refused[:3]) + (
                        f"; and {len(refused) - 3} more" if len(refused) > 3 else ""
                    )
                    raise ConfigError(
                        f"study {spec.name!r} in {mask(url)} was made with other settings: {listed}; a "
                        "change to what trials compute would mix two studies in one, so rerun it as it "
                        f"was made (its settings: {out_dir / 'study.yaml'}), or start a new one with "
                        "--out (or another --storage), or afresh with tunelab run --overwrite"
                    )
        elif results and not overwrite:
            raise ConfigError(
                f"storage {mask(url)} holds no study {spec.name!r}, but {out_dir / 'trials'} holds the "
                f"results of {results} of its trials; give the --storage that holds it, or start "
                "afresh with tunelab run --overwrite (which deletes those results)"
            )
        if overwrite:
            if exists:
                optuna.delete_study(study_name=spec.name, storage=rdb)
            for name in RUN_FILES:
                path = out_dir / name
                if path.is_dir():
                    shutil.rmtree(path)
                elif path.exists():
                    path.unlink()
        if not exists or overwrite:  # a checkpoint left under this name is not this study's
            clear_checkpoints(url, spec.name)
        study = optuna.create_study(
            study_name=spec.name,
            storage=rdb,
            direction=spec.objective.goal,
            pruner=make_pruner(spec),
            load_if_exists=True,
        )
        record = StudyRecord.from_study(study)
        if record.spec is None or allowed:  # the next rerun compares with this one
            set_study_attrs(study, spec=_comparable(spec))
        if allowed and notes is not None:
            notes.append(f"the study goes on with {'; '.join(allowed)}")
    return study


def load_study(where: str | Path, storage: str | None = None) -> StudyHandle:
    """Open an existing study from its study file or its output folder (which holds study.yaml).

    Its model factory need not be known here (one registered in the process that ran it): reading
    trials needs none, and what builds networks (ensembles, probes) names a missing one then.
    """
    path = Path(where)
    out_dir = None
    if path.is_dir():
        out_dir, path = path, path / "study.yaml"
        if not path.is_file():
            raise ConfigError(f"{out_dir}: no study.yaml here; give a study file or a study's output folder")
    spec = load_study_spec(path, known_models=False)
    out_dir = out_dir or Path("runs") / spec.name
    return attach_study(spec, storage or spec.storage or default_storage(out_dir), out_dir)


def attach_study(spec: StudySpec, url: str, out_dir: Path) -> StudyHandle:
    """Open the existing study of ``spec`` in ``url``, its files in ``out_dir`` (which it leaves as is)."""
    db = sqlite_file(url)
    if db is not None and (not db.is_file() or db.stat().st_size == 0):  # opening would make one
        state = "is empty (0 bytes)" if db.is_file() else "does not exist"
        raise ConfigError(f"no study {spec.name!r} in {mask(url)}: the database file {state}")
    rdb = open_storage(url, retries=spec.retries)
    try:
        study = optuna.load_study(study_name=spec.name, storage=rdb, pruner=make_pruner(spec))
    except KeyError:
        raise ConfigError(f"no study {spec.name!r} in {mask(url)}; run it first with tunelab run") from None
    return StudyHandle(spec, study, url, out_dir, rdb)
