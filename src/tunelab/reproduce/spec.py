"""Reproduction files: one per seed paper, listing what tunelab runs and the paper's own numbers.

A reproduction file (``studies/papers/<id>.yaml``) names the paper's studies, baselines, probes and
ensembles (the *parts*), and every number the paper reports, each keyed to what tunelab measures: a
part, a metric, a configuration (``where``) and a split. ``budget.quick`` states the reduced budget
of ``tunelab reproduce --budget quick``, so that a report can say what it ran. Study files are given
relative to the reproduction file.

Validated like study files: frozen pydantic models that refuse unknown keys, and any mistake is one
sentence naming the file and the field (a :class:`~tunelab.errors.ConfigError`).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from tunelab.config import read_yaml
from tunelab.config.validation import describe_validation_error
from tunelab.errors import ConfigError

Budget = Literal["full", "quick"]
BUDGETS: tuple[Budget, ...] = ("full", "quick")
Name = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_.-]*$")]
Scalar = str | int | float | bool


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class StudyPart(_Frozen):
    """A study file run as ``tunelab run FILE --set ...``; ``quick_set`` is added under the quick budget."""

    id: Name
    file: str
    set: list[str] = Field(default_factory=list)
    quick_set: list[str] = Field(default_factory=list)


class BaselinePart(_Frozen):
    """``tunelab baselines --study STUDY -m MODELS``: the classical models on that study's split
    (``dataset`` swaps its dataset, the split settings kept)."""

    id: Name
    study: Name
    models: list[str] = Field(min_length=1)
    dataset: str | None = None
    val_fraction: float | None = Field(default=None, gt=0.0, lt=1.0)
    max_train: int | None = Field(default=None, gt=0)


class ProbePart(_Frozen):
    """``tunelab probe PROBE STUDY --epochs N``: one of paper 002's diagnostics on a study's best."""

    id: Name
    probe: str
    study: Name
    epochs: int | None = Field(default=None, gt=0)
    set: list[str] = Field(default_factory=list)


class EnsemblePart(_Frozen):
    """``tunelab ensemble STUDIES --top K --n-trials N``: weighted soft voting of the studies' best."""

    id: Name
    studies: list[Name] = Field(min_length=1)
    top: int = Field(default=1, gt=0)
    n_trials: int = Field(default=100, ge=0)


class Parts(_Frozen):
    studies: list[StudyPart] = Field(min_length=1)
    baselines: list[BaselinePart] = Field(default_factory=list)
    probes: list[ProbePart] = Field(default_factory=list)
    ensembles: list[EnsemblePart] = Field(default_factory=list)


class QuickBudget(_Frozen):
    """The reduced budget: ``set`` goes to every study (keys a study lacks are its own to refuse, so
    give them per study in ``quick_set``), ``probe_epochs`` to every probe, ``baseline_max_train`` to
    every baseline, ``ensemble_trials`` to every ensemble."""

    description: str
    set: list[str] = Field(default_factory=list)
    probe_epochs: int | None = Field(default=None, gt=0)
    baseline_max_train: int | None = Field(default=None, gt=0)
    ensemble_trials: int | None = Field(default=None, ge=0)


class BudgetSpec(_Frozen):
    full: str = "the paper's budget, as the study files state it"
    quick: QuickBudget


class Source(_Frozen):
    """Where tunelab's number comes from: exactly one of ``study``, ``baseline``, ``probe``, ``ensemble``.

    For a study: the completed trials whose configuration matches ``where`` (dotted run settings,
    ``train.optimizer.lr: 0.001``, or the study's own parameters, such as a named configuration
    ``config: table-1``), in ``stage`` if given (else any stage but ``final``); every seed of
    every matching trial is one value, unless ``select: best`` keeps the best matching trial only.
    For a baseline: ``model``. For a probe: the mean of ``column`` over the table rows matching
    ``where``. ``metric`` is one of the split metrics (``test_accuracy``, ``val_loss``, ``test_f1``...).
    """

    study: Name | None = None
    baseline: Name | None = None
    probe: Name | None = None
    ensemble: Name | None = None
    metric: str = "test_accuracy"
    stage: str | None = None
    where: dict[str, Scalar] = Field(default_factory=dict)
    select: Literal["all", "best"] = "all"
    model: str | None = None
    column: str | None = None

    @model_validator(mode="after")
    def _one_part(self) -> Source:
        given = [k for k in ("study", "baseline", "probe", "ensemble") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(
                f"expected exactly one of study, baseline, probe, ensemble; got {given or 'none'}"
            )
        if self.baseline is not None and self.model is None:
            raise ValueError("a baseline source needs model (e.g. svm-rbf)")
        if self.probe is not None and self.column is None:
            raise ValueError("a probe source needs column (a column of the probe's table, e.g. grad)")
        return self

    @property
    def part(self) -> str:
        return next(v for v in (self.study, self.baseline, self.probe, self.ensemble) if v is not None)

    @property
    def split(self) -> str:
        return self.metric.split("_", 1)[0] if self.metric.startswith(("val_", "test_")) else "-"


class Number(_Frozen):
    """One number the paper reports, with the table and row it is in and where tunelab measures it."""

    id: Name
    table: str
    row: str
    paper: float
    tunelab: Source
    note: str = ""


class Ranking(_Frozen):
    """An order the paper draws: ``order`` lists number ids from the highest to the lowest value."""

    id: Name
    table: str
    claim: str
    order: list[Name] = Field(min_length=2)
    higher_is_better: bool = True


class Reproduction(_Frozen):
    """A paper's reproduction file."""

    paper: Annotated[str, Field(pattern=r"^\d{3}$")]
    title: str
    seed: str
    parts: Parts
    budget: BudgetSpec
    numbers: list[Number] = Field(min_length=1)
    rankings: list[Ranking] = Field(default_factory=list)
    deviations: list[str] = Field(default_factory=list)
    schema_gaps: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _references(self) -> Reproduction:
        studies = {s.id for s in self.parts.studies}
        kinds = {
            "study": studies,
            "baseline": {b.id for b in self.parts.baselines},
            "probe": {p.id for p in self.parts.probes},
            "ensemble": {e.id for e in self.parts.ensembles},
        }
        ids = [
            p.id
            for group in (self.parts.studies, self.parts.baselines, self.parts.probes, self.parts.ensembles)
            for p in group
        ]
        _unique(ids, "part id")
        _unique([n.id for n in self.numbers], "number id")
        followers: list[tuple[str, int, str]] = [
            ("baselines", i, b.study) for i, b in enumerate(self.parts.baselines)
        ] + [("probes", i, p.study) for i, p in enumerate(self.parts.probes)]
        for group, i, study in followers:
            if study not in studies:
                raise ValueError(f"parts.{group}[{i}].study: {study!r} is not the id of one of parts.studies")
        for i, ens in enumerate(self.parts.ensembles):
            for study in ens.studies:
                if study not in studies:
                    raise ValueError(
                        f"parts.ensembles[{i}].studies: {study!r} is not the id of one of parts.studies"
                    )
        plural = {"study": "studies", "baseline": "baselines", "probe": "probes", "ensemble": "ensembles"}
        for i, number in enumerate(self.numbers):
            kind = next(k for k in kinds if getattr(number.tunelab, k) is not None)
            if number.tunelab.part not in kinds[kind]:
                raise ValueError(
                    f"numbers[{i}].tunelab.{kind}: {number.tunelab.part!r} is not the id of one of "
                    f"parts.{plural[kind]}"
                )
        known = {n.id for n in self.numbers}
        for i, ranking in enumerate(self.rankings):
            for item in ranking.order:
                if item not in known:
                    raise ValueError(
                        f"rankings[{i}].order: ranking {ranking.id!r} names number {item!r}, "
                        "which is not the id of one of numbers"
                    )
        return self

    def study(self, part_id: str) -> StudyPart:
        return next(s for s in self.parts.studies if s.id == part_id)


def _unique(ids: list[str], what: str) -> None:
    seen: set[str] = set()
    for item in ids:
        if item in seen:
            raise ValueError(f"the {what} {item!r} is given twice")
        seen.add(item)


PAPERS_DIR = Path("studies") / "papers"


def papers_dir() -> Path:
    """Where the bundled reproduction files are: ``studies/papers`` here, else in tunelab's checkout."""
    here = PAPERS_DIR
    if here.is_dir():
        return here
    import tunelab

    return Path(tunelab.__file__).resolve().parents[2] / PAPERS_DIR


def known_papers(folder: Path | None = None) -> list[str]:
    folder = folder or papers_dir()
    return sorted(p.stem for p in folder.glob("*.yaml") if re.fullmatch(r"\d{3}", p.stem))


def find_reproduction(paper: str) -> Path:
    """The reproduction file of ``paper``: a paper id (``001``) or a path to a reproduction file."""
    path = Path(paper)
    if path.suffix in (".yaml", ".yml"):
        if not path.is_file():
            raise ConfigError(f"{paper}: no such reproduction file")
        return path
    if re.fullmatch(r"\d{3}", paper):
        found = papers_dir() / f"{paper}.yaml"
        if found.is_file():
            return found
    known = ", ".join(known_papers()) or "none"
    raise ConfigError(
        f"paper {paper!r}: no reproduction file for it; expected a paper id ({known}) or a .yaml file"
    )


def load_reproduction(paper: str | Path) -> tuple[Reproduction, Path]:
    """Read and validate a reproduction file (a paper id or a path); returns it and its path."""
    path = find_reproduction(str(paper))
    raw = read_yaml(path)
    return validate_reproduction(raw, str(path)), path


def validate_reproduction(raw: dict[str, Any], source: str = "reproduction") -> Reproduction:
    try:
        return Reproduction.model_validate(raw)
    except ValidationError as exc:
        # a cross-check of the whole file names its field itself
        message = describe_validation_error(exc, source).replace(": (top level): ", ": ", 1)
        raise ConfigError(message) from None
