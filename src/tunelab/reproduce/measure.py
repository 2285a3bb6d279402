"""Read tunelab's side of each paper number from what the parts left, and their provenance.

A study number is every seed of the completed trials whose resolved configuration matches the
number's ``where`` (see :class:`~tunelab.reproduce.spec.Source`); a baseline, ensemble or probe
number is one value. Nothing here trains: it reads the output folders of :mod:`tunelab.reproduce.run`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from tunelab.reproduce.compare import Row, compare_row
from tunelab.reproduce.run import Layout
from tunelab.reproduce.spec import Number, Reproduction, Source

TOLERANCE = 1e-9


@dataclass
class Measured:
    """The rows and what they were read from: per part, its kind, a short description and provenance;
    ``checksums``: the SHA-256 of every data file the parts read, keyed ``<dataset>/<file>``."""

    rows: list[Row]
    parts: list[dict[str, Any]] = field(default_factory=list)
    checksums: dict[str, str] = field(default_factory=dict)


def measure(repro: Reproduction, layout: Layout, data_dir: Path | None = None) -> Measured:
    reader = _Reader(layout)
    rows = []
    for number in repro.numbers:
        values, note = reader.values(number.tunelab)
        rows.append(_row(number, values, "; ".join(filter(None, [number.note, note]))))
    parts = reader.parts(repro)
    return Measured(rows, parts, data_checksums(reader.datasets, data_dir or reader.data_dir))


def data_checksums(names: set[str], data_dir: Path | None) -> dict[str, str]:
    """Each dataset's files and their SHA-256, read again here: a study's own record keys them by file
    name, so two datasets with the same file names (MNIST and Fashion-MNIST) would share one entry."""
    from tunelab.config import DataConfig
    from tunelab.data import load_splits
    from tunelab.errors import TunelabError

    out: dict[str, str] = {}
    for name in sorted(names):
        try:
            splits = load_splits(DataConfig.model_validate({"name": name}), device="cpu", data_dir=data_dir)
        except TunelabError:  # not here (a report written elsewhere): the parts' own records remain
            continue
        out |= {f"{name}/{file}": sha for file, sha in splits.checksums.items()}
    return out


def _row(number: Number, values: list[float], note: str) -> Row:
    src = number.tunelab
    metric, split = (f"probe {src.column}", "-") if src.probe is not None else (src.metric, src.split)
    return compare_row(
        number.id, number.table, number.row, metric, split, src.part, number.paper, values, note
    )


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """``{"train": {"optimizer": {"lr": 0.1}}}`` → ``{"train.optimizer.lr": 0.1}`` (lists kept whole)."""
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for key, item in value.items():
            out |= flatten(item, f"{prefix}{key}.")
        return out
    return {prefix[:-1]: value}


def matches(where: Mapping[str, Any], settings: Mapping[str, Any]) -> bool:
    """Whether every ``where`` key is in ``settings`` with an equal value (numbers to 1e-9 relative)."""
    for key, wanted in where.items():
        if key not in settings:
            return False
        got = settings[key]
        if isinstance(wanted, bool) or isinstance(got, bool) or not isinstance(wanted, int | float):
            if str(got) != str(wanted):
                return False
        elif not isinstance(got, int | float) or not math.isclose(got, wanted, rel_tol=TOLERANCE):
            return False
    return True


class _Reader:
    def __init__(self, layout: Layout) -> None:
        self.layout = layout
        self.datasets: set[str] = set()  # every dataset a part read
        self.data_dir: Path | None = None  # where the studies read theirs

    @cache  # noqa: B019 - one reader per report; the handles are read once
    def handle(self, part: str) -> Any:
        from tunelab.search import load_study

        return load_study(self.layout.study(part))

    def values(self, src: Source) -> tuple[list[float], str]:
        try:
            if src.study is not None:
                return self._study(src)
            if src.baseline is not None:
                return self._baseline(src)
            if src.ensemble is not None:
                return self._ensemble(src)
            return self._probe(src)
        except (FileNotFoundError, OSError, KeyError) as exc:
            return [], f"not measured ({exc.__class__.__name__}: {exc})"
        except Exception as exc:  # a part that did not run: the row says so, the report is still written
            from tunelab.errors import TunelabError

            if isinstance(exc, TunelabError):
                return [], f"not measured ({exc})"
            raise

    def _study(self, src: Source) -> tuple[list[float], str]:
        from optuna.trial import TrialState

        from tunelab.search.record import TrialRecord

        handle = self.handle(src.study)
        spec = handle.spec
        chosen = []
        for trial in handle.study.get_trials(deepcopy=False):
            if trial.state != TrialState.COMPLETE:
                continue
            record = TrialRecord.from_trial(trial)
            if record.external or not record.runs:
                continue
            in_stage = record.stage_name == src.stage if src.stage else not record.final
            if not in_stage:
                continue
            settings = flatten(spec.run_config(record.overrides).model_dump(mode="json"))
            settings |= {str(k): v for k, v in trial.params.items()}
            if matches(src.where, settings):
                chosen.append((trial, record))
        if not chosen:
            return [], "no completed trial matches"
        note = ""
        if src.select == "best":
            sign = 1 if spec.objective.goal == "maximize" else -1
            trial, record = max(chosen, key=lambda tr: sign * (tr[0].value or -math.inf * sign))
            chosen = [(trial, record)]
            note = f"trial {trial.number}"
        values = [
            float(run[src.metric]) for _, r in chosen for run in r.runs if run.get(src.metric) is not None
        ]
        if len(chosen) > 1:
            note = f"{len(chosen)} trials pooled"
        return values, note

    def _baseline(self, src: Source) -> tuple[list[float], str]:
        from tunelab.baselines import BaselineResults

        results = BaselineResults.load(self.layout.baseline(src.baseline))  # type: ignore[arg-type]
        for result in results.results:
            if result.model == src.model:
                split, _, name = src.metric.partition("_")
                return [float(getattr(getattr(result, split), name))], f"fitted on {result.n_train:,} images"
        return [], f"model {src.model} not in the baselines"

    def _ensemble(self, src: Source) -> tuple[list[float], str]:
        from tunelab.ensembles import EnsembleResult

        result = EnsembleResult.load(self.layout.ensemble(src.ensemble))  # type: ignore[arg-type]
        split, _, name = src.metric.partition("_")
        weights = ", ".join(f"{m.study} {w:.2f}" for m, w in zip(result.members, result.weights, strict=True))
        return [float(getattr(getattr(result, split), name))], f"weights {weights}"

    def _probe(self, src: Source) -> tuple[list[float], str]:
        import pandas as pd

        folder = self.layout.probe(src.probe)  # type: ignore[arg-type]
        tables = sorted(folder.glob("*.csv"))
        if not tables:
            raise FileNotFoundError(f"no probe table in {folder}")
        csv = tables[0]
        table = pd.read_csv(csv)
        mask = pd.Series(True, index=table.index)
        for key, wanted in src.where.items():
            mask &= table[key].astype(str) == str(wanted)
        picked = table.loc[mask, src.column]
        if picked.empty:
            return [], "no probe row matches"
        rows = f"the mean of {len(picked)} rows of {csv.name}" if len(picked) > 1 else f"from {csv.name}"
        return [float(picked.mean())], rows

    def parts(self, repro: Reproduction) -> list[dict[str, Any]]:
        """Each part's kind, id, what it ran and its provenance (with every data file's SHA-256)."""
        from tunelab.search.record import StudyRecord

        out = []
        for part in repro.parts.studies:
            entry: dict[str, Any] = {"kind": "study", "id": part.id, "file": part.file}
            try:
                handle = self.handle(part.id)
                record = StudyRecord.from_study(handle.study)
                trials = handle.study.get_trials(deepcopy=False)
                entry |= {"name": handle.spec.name, "provenance": record.provenance, "trials": len(trials)}
                self.data_dir = self.data_dir or handle.data_dir
                self.datasets |= {handle.spec.data.name} | _trial_datasets(handle, trials)
            except Exception as exc:
                entry["missing"] = str(exc)
            out.append(entry)
        for kind, group, where in (
            ("baselines", repro.parts.baselines, self.layout.baseline),
            ("ensemble", repro.parts.ensembles, self.layout.ensemble),
            ("probe", repro.parts.probes, self.layout.probe),
        ):
            for item in group:
                entry = {"kind": kind, "id": item.id}
                folder = where(item.id)
                entry["ran"] = folder.is_dir()
                if kind == "baselines" and (folder / "results.json").is_file():
                    from tunelab.baselines import BaselineResults

                    loaded = BaselineResults.load(folder)
                    entry["provenance"] = loaded.provenance
                    self.datasets.add(loaded.dataset)
                out.append(entry)
        return out


def _trial_datasets(handle: Any, trials: list[Any]) -> set[str]:
    """The datasets a study's trials read (a listed configuration may set ``data.name``)."""
    from tunelab.search.record import TrialRecord

    names = set()
    for trial in trials:
        overrides = TrialRecord.from_trial(trial).overrides
        if "data.name" in overrides:
            names.add(str(overrides["data.name"]))
    return names
