"""An open study: made (or resumed) from a study file, or found again from its output folder.

``open_study`` creates the study in its storage, or loads it when it exists and was made from the
same study file; ``load_study`` opens an existing one for the commands that read it.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
import yaml
from optuna.trial import FrozenTrial
from pydantic import ValidationError
from sqlalchemy.engine import make_url

from tunelab.errors import ConfigError
from tunelab.search.pruners import make_pruner
from tunelab.search.record import StudyRecord, set_study_attrs
from tunelab.search.spec import StudySpec, load_study_spec
from tunelab.search.storage import default_storage, mask, open_storage, study_lock
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


def open_study(
    spec: StudySpec, storage: str | None = None, out_dir: Path | None = None, notes: list[str] | None = None
) -> StudyHandle:
    """Create the study, or load it when it exists and was made from the same study file.

    A rerun may change how trials run (:data:`RERUN_FREE`), the budget (to extend it) and the final
    section before the final stage starts; any change to what a trial computes is refused with one
    sentence naming the fields. ``notes`` gains a sentence on each change taken.
    """
    out_dir = Path(out_dir or Path("runs") / spec.name)
    out_dir.mkdir(parents=True, exist_ok=True)
    url = storage or spec.storage or default_storage(out_dir)
    rdb = open_storage(url, retries=spec.retries)
    with study_lock(url, spec.name):
        study = optuna.create_study(
            study_name=spec.name,
            storage=rdb,
            direction=spec.objective.goal,
            pruner=make_pruner(spec),
            load_if_exists=True,
        )
        record = StudyRecord.from_study(study)
        stored = record.spec
        if stored is None:  # the provenance is the first worker's, with the device it resolved
            set_study_attrs(study, spec=_comparable(spec))
        else:
            final_started = any(raw.get("final") for raw in record.stages)
            refused, allowed = _differences(stored, spec, final_started)
            if refused:
                listed = "; ".join(refused[:3]) + (
                    f"; and {len(refused) - 3} more" if len(refused) > 3 else ""
                )
                raise ConfigError(
                    f"study {spec.name!r} in {mask(url)} was made with other settings: {listed}; a change "
                    "to what trials compute would mix two studies in one, so rerun it as it was made "
                    f"(its settings: {out_dir / 'study.yaml'}), or start a new one with --out (or "
                    "another --storage)"
                )
            if allowed:
                set_study_attrs(study, spec=_comparable(spec))  # the next rerun compares with this one
                if notes is not None:
                    notes.append(f"the study goes on with {'; '.join(allowed)}")
    # The default SQLite file is found beside study.yaml, so the folder can be moved or copied whole.
    shown_url = None if url == default_storage(out_dir) else _without_password(url)
    shown = spec.model_dump(mode="json") | {"storage": shown_url}
    (out_dir / "study.yaml").write_text(yaml.safe_dump(shown, sort_keys=False), encoding="utf-8")
    return StudyHandle(spec, study, url, out_dir, rdb)


def load_study(where: str | Path, storage: str | None = None) -> StudyHandle:
    """Open an existing study from its study file or its output folder (which holds study.yaml)."""
    path = Path(where)
    out_dir = None
    if path.is_dir():
        out_dir, path = path, path / "study.yaml"
        if not path.is_file():
            raise ConfigError(f"{out_dir}: no study.yaml here; give a study file or a study's output folder")
    spec = load_study_spec(path)
    out_dir = out_dir or Path("runs") / spec.name
    return attach_study(spec, storage or spec.storage or default_storage(out_dir), out_dir)


def attach_study(spec: StudySpec, url: str, out_dir: Path) -> StudyHandle:
    """Open the existing study of ``spec`` in ``url``, its files in ``out_dir`` (which it leaves as is)."""
    rdb = open_storage(url, retries=spec.retries)
    try:
        study = optuna.load_study(study_name=spec.name, storage=rdb, pruner=make_pruner(spec))
    except KeyError:
        raise ConfigError(f"no study {spec.name!r} in {mask(url)}; run it first with tunelab run") from None
    return StudyHandle(spec, study, url, out_dir, rdb)


def _without_password(url: str) -> str:
    with contextlib.suppress(Exception):
        return make_url(url).set(password=None).render_as_string(hide_password=False)
    return url
