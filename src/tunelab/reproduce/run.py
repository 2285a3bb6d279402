"""Run every part of a reproduction with tunelab's own runners, resumably.

The output folder holds one folder per part: ``studies/<id>`` (a study's output folder: a rerun
resumes it, as ``tunelab run`` does), ``baselines/<id>``, ``probes/<id>`` and ``ensembles/<id>``
(each skipped on a rerun when its results are there and were made with the same settings, which
``part.json`` records). ``timings.json`` adds up each part's wall time over the runs that did work.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from tunelab.errors import ConfigError
from tunelab.reproduce.spec import BaselinePart, Budget, EnsemblePart, ProbePart, Reproduction, StudyPart

Log = Callable[[str], None]
TIMINGS = "timings.json"


@dataclass(frozen=True)
class Layout:
    """Where each part of a reproduction writes."""

    root: Path

    def study(self, part: str) -> Path:
        return self.root / "studies" / part

    def baseline(self, part: str) -> Path:
        return self.root / "baselines" / part

    def probe(self, part: str) -> Path:
        return self.root / "probes" / part

    def ensemble(self, part: str) -> Path:
        return self.root / "ensembles" / part

    @property
    def report(self) -> Path:
        return self.root / "report"


def study_overrides(repro: Reproduction, part: StudyPart, budget: Budget) -> list[str]:
    """The ``--set`` overrides a study runs with: its own, then (quick) the budget's and its quick ones."""
    quick = [*repro.budget.quick.set, *part.quick_set] if budget == "quick" else []
    return [*part.set, *quick]


def study_file(part: StudyPart, source: Path) -> Path:
    path = (source.parent / part.file).resolve()
    if not path.is_file():
        raise ConfigError(f"{source}: parts.studies {part.id!r}: no study file {part.file} next to it")
    return path


def check_studies(repro: Reproduction, source: Path, budget: Budget) -> None:
    """Validate every study file with its overrides before anything runs (a typo writes nothing)."""
    from tunelab.search import load_study_spec

    for part in repro.parts.studies:
        load_study_spec(study_file(part, source), study_overrides(repro, part, budget))


def run_reproduction(
    repro: Reproduction,
    source: Path,
    out: Path,
    budget: Budget,
    data_dir: Path | None = None,
    log: Log | None = None,
    progress: Any = False,
    problems: list[str] | None = None,
) -> dict[str, float]:
    """Run (or resume) every part in order: studies, baselines, probes, ensembles.

    Returns the wall seconds of each part, summed over this and earlier runs into ``out``. A study
    that ends short of its plan does not stop the others; ``problems`` (when given) hears of it.
    """
    say = log or (lambda line: None)
    layout = Layout(out)
    check_studies(repro, source, budget)
    out.mkdir(parents=True, exist_ok=True)
    timings = read_timings(out)
    steps: list[tuple[str, Callable[[], bool]]] = []
    for s in repro.parts.studies:
        steps.append((s.id, partial(_study, repro, s, source, layout, budget, data_dir, progress)))
    for b in repro.parts.baselines:
        steps.append((b.id, partial(_baseline, repro, b, layout, budget, data_dir, say)))
    for p in repro.parts.probes:
        steps.append((p.id, partial(_probe, repro, p, layout, budget, data_dir)))
    for e in repro.parts.ensembles:
        steps.append((e.id, partial(_ensemble, repro, e, layout, budget, data_dir)))
    for name, step in steps:
        say(f"{name}: running")
        start = time.monotonic()
        try:
            worked = step()
        except Shortfall as exc:
            worked = True
            if problems is not None:
                problems.append(str(exc))
        elapsed = time.monotonic() - start
        if worked:
            timings[name] = timings.get(name, 0.0) + elapsed
            _write_timings(out, timings)
        say(f"{name}: done in {elapsed:.0f} s" if worked else f"{name}: already done, kept")
    return timings


def _study(
    repro: Reproduction,
    part: StudyPart,
    source: Path,
    layout: Layout,
    budget: Budget,
    data_dir: Path | None,
    progress: Any,
) -> bool:
    """Run or resume a study; True: it trained something (a finished study costs a second)."""
    from tunelab.search import run_study
    from tunelab.search.plan import shortfall

    folder = layout.study(part.id)
    before = _trial_count(folder)
    result = run_study(
        study_file(part, source),
        out=folder,
        overrides=study_overrides(repro, part, budget),
        data_dir=data_dir,
        progress=progress,
    )
    short = shortfall(result.study, finished=True)
    if short:  # the other parts still run, and the report marks what is missing; the command exits 3
        raise Shortfall(f"study {part.id}: {short.message()}; run the same command again to resume")
    return _trial_count(folder) != before


class Shortfall(Exception):
    """A study ended with planned points failed or unfinished (``tunelab run`` exits 3 for it)."""


def _trial_count(folder: Path) -> int | None:
    if not (folder / "study.db").is_file():
        return None
    from tunelab.search import load_study
    from tunelab.search.study import done_trials

    return len(done_trials(load_study(folder).study.get_trials(deepcopy=False)))


def _settled(folder: Path, settings: dict[str, Any], result_file: str) -> bool:
    """Whether ``folder`` already holds a result made with ``settings`` (then a rerun keeps it)."""
    record = folder / "part.json"
    if not (folder / result_file).is_file() or not record.is_file():
        return False
    return json.loads(record.read_text(encoding="utf-8")) == settings


def _record(folder: Path, settings: dict[str, Any]) -> None:
    (folder / "part.json").write_text(json.dumps(settings, indent=1, sort_keys=True), encoding="utf-8")


def _baseline(
    repro: Reproduction, part: BaselinePart, layout: Layout, budget: Budget, data_dir: Path | None, say: Log
) -> bool:
    from tunelab.baselines.runner import run_baselines
    from tunelab.config import DataConfig
    from tunelab.search import load_study

    max_train = part.max_train
    if budget == "quick" and repro.budget.quick.baseline_max_train is not None:
        max_train = min(
            max_train or repro.budget.quick.baseline_max_train, repro.budget.quick.baseline_max_train
        )
    settings = {
        "models": part.models,
        "dataset": part.dataset,
        "val_fraction": part.val_fraction,
        "max_train": max_train,
    }
    folder = layout.baseline(part.id)
    if _settled(folder, settings, "results.json"):
        return False
    handle = load_study(layout.study(part.study))
    raw = handle.spec.data.model_dump(mode="json")
    if part.val_fraction is not None:
        raw["val_fraction"] = part.val_fraction
    if part.dataset is not None:
        raw["name"] = part.dataset
    data = DataConfig.model_validate(raw)
    results = run_baselines(
        data, part.models, data_dir=data_dir or handle.data_dir, max_train=max_train, log=say
    )
    results.save(folder)
    _record(folder, settings)
    return True


def _probe(
    repro: Reproduction, part: ProbePart, layout: Layout, budget: Budget, data_dir: Path | None
) -> bool:
    from tunelab.probes import run_probe

    epochs = part.epochs
    if budget == "quick" and repro.budget.quick.probe_epochs is not None:
        epochs = repro.budget.quick.probe_epochs
    settings = {"probe": part.probe, "epochs": epochs, "set": part.set}
    folder = layout.probe(part.id)
    if _settled(folder, settings, f"{part.probe}.csv"):
        return False
    run_probe(
        part.probe,
        layout.study(part.study),
        folder,
        data_dir=data_dir,
        epochs=epochs,
        overrides=tuple(part.set),
    )
    _record(folder, settings)
    return True


def _ensemble(
    repro: Reproduction, part: EnsemblePart, layout: Layout, budget: Budget, data_dir: Path | None
) -> bool:
    from tunelab.ensembles.voting import run_ensemble

    n_trials = part.n_trials
    if budget == "quick" and repro.budget.quick.ensemble_trials is not None:
        n_trials = repro.budget.quick.ensemble_trials
    settings = {"studies": part.studies, "top": part.top, "n_trials": n_trials}
    folder = layout.ensemble(part.id)
    if _settled(folder, settings, "results.json"):
        return False
    handles = [layout.study(s) for s in part.studies]
    result = run_ensemble(handles, top=part.top, n_trials=n_trials, data_dir=data_dir)
    result.save(folder)
    _record(folder, settings)
    return True


def read_timings(out: Path) -> dict[str, float]:
    path = out / TIMINGS
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


def _write_timings(out: Path, timings: dict[str, float]) -> None:
    (out / TIMINGS).write_text(json.dumps(timings, indent=1), encoding="utf-8")
