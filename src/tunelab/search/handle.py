"""An open study: made (or resumed) from a study file, or found again from its output folder.

``open_study`` creates the study in its storage, or loads it when it exists and was made from the
same study file; ``load_study`` opens an existing one for the commands that read it.
"""

from __future__ import annotations

import contextlib
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


def _comparable(spec: StudySpec) -> dict[str, Any]:
    return spec.model_dump(mode="json", exclude={"budget", "storage", "description"})


def _differences(stored: dict[str, Any], spec: StudySpec) -> list[str]:
    """The top-level fields in which ``spec`` differs from the spec a study was made from.

    The stored spec is read by this version of tunelab first, so a setting added since (with its
    default) is not a difference: a study made by an older tunelab can be resumed. Both are the spec
    as written (``train.device: auto``, not the device a worker resolved it to), so a study resumed on
    another machine is not refused.
    """
    with contextlib.suppress(ValidationError):
        stored = _comparable(StudySpec.model_validate(stored))
    return sorted(k for k, v in _comparable(spec).items() if stored.get(k) != v)


def open_study(spec: StudySpec, storage: str | None = None, out_dir: Path | None = None) -> StudyHandle:
    """Create the study, or load it when it exists and was made from the same study file."""
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
        stored = StudyRecord.from_study(study).spec
        if stored is None:  # the provenance is the first worker's, with the device it resolved
            set_study_attrs(study, spec=_comparable(spec))
        elif changed := _differences(stored, spec):
            raise ConfigError(
                f"study {spec.name!r} in {mask(url)} was made from a different study file "
                f"({', '.join(changed)} differ); give it another name, or another --out or --storage"
            )
    # The default SQLite file is found beside study.yaml, so the folder can be moved or copied whole.
    shown_url = None if url == default_storage(out_dir) else _without_password(url)
    shown = spec.model_dump(mode="json") | {"storage": shown_url}
    (out_dir / "study.yaml").write_text(yaml.safe_dump(shown, sort_keys=False), encoding="utf-8")
    return StudyHandle(spec, study, url, out_dir, rdb)


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
