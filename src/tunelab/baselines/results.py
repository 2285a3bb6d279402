"""Results of a baselines run, and their folder: ``results.json`` (everything) + ``baselines.csv`` (table).

``results.json`` is what a later report reads back with :meth:`BaselineResults.load`; the CSV is the
one-row-per-model summary for people and spreadsheets.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tunelab.errors import ConfigError
from tunelab.resultfiles import load_result
from tunelab.train.metrics import Metrics

if TYPE_CHECKING:
    import pandas as pd

KIND = "tunelab-baselines"
FORMAT = 1
RESULTS_FILE, TABLE_FILE = "results.json", "baselines.csv"
TABLE_COLUMNS = (
    "model",
    "params",
    "val_accuracy",
    "test_accuracy",
    "test_f1",
    "test_precision",
    "test_recall",
    "fit_time_s",
    "n_train",
    "test_loss",
    "predict_time_s",
)


@dataclass(frozen=True)
class BaselineResult:
    """One model: the chosen parameters and its validation and test metrics.

    ``fit_time_s`` is the final (chosen) fit only; ``predict_time_s`` predicts the test split, with
    class probabilities where the model has them (their log-loss is ``test.loss``; NaN otherwise).
    ``search`` lists every grid point tried (params, val_accuracy, fit_time_s); empty without search.
    """

    model: str
    params: dict[str, Any]
    val: Metrics
    test: Metrics
    fit_time_s: float
    predict_time_s: float
    n_train: int
    search: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def row(self) -> dict[str, Any]:
        """The model's row of :meth:`BaselineResults.table`."""
        return {
            "model": self.model,
            "params": format_params(self.params),
            "val_accuracy": self.val.accuracy,
            "test_accuracy": self.test.accuracy,
            "test_f1": self.test.f1,
            "test_precision": self.test.precision,
            "test_recall": self.test.recall,
            "fit_time_s": self.fit_time_s,
            "n_train": self.n_train,
            "test_loss": self.test.loss,
            "predict_time_s": self.predict_time_s,
        }

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> BaselineResult:
        values = dict(raw)
        values["val"], values["test"] = Metrics(**values["val"]), Metrics(**values["test"])
        return cls(**values)


@dataclass(frozen=True)
class BaselineResults:
    """Every model of one run, with what they were trained on.

    ``n_train_available`` is the size of the train split; each result's ``n_train`` is smaller when
    ``max_train`` subsampled it. Validation and test splits are always the full ones.
    """

    dataset: str
    data: dict[str, Any]
    seed: int
    search: bool
    max_train: int | None
    n_train_available: int
    n_val: int
    n_test: int
    results: list[BaselineResult]
    provenance: dict[str, Any] = field(default_factory=dict)

    def __getitem__(self, model: str) -> BaselineResult:
        for result in self.results:
            if result.model == model:
                return result
        raise KeyError(model)

    def table(self) -> pd.DataFrame:
        """One row per model: params, validation and test metrics, fit time, train size."""
        import pandas as pd

        return pd.DataFrame([r.row() for r in self.results], columns=list(TABLE_COLUMNS))

    def to_dict(self) -> dict[str, Any]:
        return {"kind": KIND, "format": FORMAT, **asdict(self)}

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> BaselineResults:
        if raw.get("kind") != KIND:
            raise ConfigError(f"expected a {KIND} result (kind={KIND!r}), got kind={raw.get('kind')!r}")
        values = {k: v for k, v in raw.items() if k not in ("kind", "format")}
        values["results"] = [BaselineResult.from_dict(r) for r in values["results"]]
        return cls(**values)

    def to_json(self, indent: int | None = 2) -> str:
        # NaN (the log-loss of a model without probabilities) is written as NaN, which json reads back.
        return json.dumps(self.to_dict(), indent=indent, allow_nan=True)

    @classmethod
    def from_json(cls, text: str) -> BaselineResults:
        return cls.from_dict(json.loads(text))

    def save(self, folder: str | Path) -> Path:
        """Write ``results.json`` and ``baselines.csv`` into ``folder`` (created if needed)."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / RESULTS_FILE).write_text(self.to_json() + "\n", encoding="utf-8")
        self.table().to_csv(folder / TABLE_FILE, index=False)
        return folder

    @classmethod
    def load(cls, folder: str | Path) -> BaselineResults:
        """Read a folder written by :meth:`save`; a missing or foreign file is a ConfigError."""
        return load_result(folder, RESULTS_FILE, "baselines", cls.from_json)


def format_params(params: dict[str, Any]) -> str:
    """``C=10.0 gamma=scale``: compact, one line, in the grid's order."""
    return " ".join(f"{key}={value}" for key, value in params.items())
