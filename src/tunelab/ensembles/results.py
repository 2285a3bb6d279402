"""What an ensemble run leaves: its members, their weights and accuracies, saved to and read from a folder."""

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

KIND = "tunelab-ensemble"
FORMAT = 1
RESULTS_FILE, TABLE_FILE = "results.json", "members.csv"


@dataclass(frozen=True)
class MemberResult:
    """One member as the ensemble saw it: which trial, and its accuracy alone."""

    name: str
    study: str
    trial: int
    kind: str
    folder: str
    val_accuracy: float
    test_accuracy: float
    test_f1: float


@dataclass(frozen=True)
class EnsembleResult:
    """The members, their weights (aligned with ``members``, summing to 1) and the ensemble's metrics.

    ``data`` holds the split all members share (``members.SPLIT_FIELDS``); ``n_trials`` is the number of
    random weight vectors tried besides the uniform and one-hot ones. ``same_models`` groups members
    whose class probabilities are identical on validation and test: one model counted twice.
    """

    members: list[MemberResult]
    weights: list[float]
    val: Metrics
    test: Metrics
    n_trials: int
    seed: int
    top: int
    data: dict[str, Any]
    n_val: int
    n_test: int
    studies: list[str] = field(default_factory=list)
    same_models: list[list[str]] = field(default_factory=list)  # members that predict alike, grouped

    @property
    def val_accuracy(self) -> float:
        return self.val.accuracy

    @property
    def test_accuracy(self) -> float:
        return self.test.accuracy

    def table(self) -> pd.DataFrame:
        """One row per member, with its weight, then a last row for the ensemble."""
        import pandas as pd

        rows = [asdict(m) | {"weight": w} for m, w in zip(self.members, self.weights, strict=True)]
        rows.append(
            {
                "name": "ensemble",
                "kind": "vote",
                "weight": float(sum(self.weights)),
                "val_accuracy": self.val.accuracy,
                "test_accuracy": self.test.accuracy,
                "test_f1": self.test.f1,
            }
        )
        columns = ["name", "study", "trial", "kind", "weight", "val_accuracy", "test_accuracy", "test_f1"]
        frame = pd.DataFrame(rows, columns=[*columns, "folder"])
        frame["trial"] = frame["trial"].astype("Int64")  # the ensemble row has none: keep numbers integers
        return frame

    def to_dict(self) -> dict[str, Any]:
        return {"kind": KIND, "format": FORMAT, **asdict(self)}

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> EnsembleResult:
        if raw.get("kind") != KIND:
            raise ConfigError(f"expected a {KIND} result (kind={KIND!r}), got kind={raw.get('kind')!r}")
        values = {k: v for k, v in raw.items() if k not in ("kind", "format")}
        values["members"] = [MemberResult(**m) for m in values["members"]]
        values["val"], values["test"] = Metrics(**values["val"]), Metrics(**values["test"])
        return cls(**values)

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent)

    @classmethod
    def from_json(cls, text: str) -> EnsembleResult:
        return cls.from_dict(json.loads(text))

    def save(self, folder: str | Path) -> Path:
        """Write ``results.json`` (everything) and ``members.csv`` (members and weights) into ``folder``."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / RESULTS_FILE).write_text(self.to_json() + "\n", encoding="utf-8")
        self.table().iloc[:-1].to_csv(folder / TABLE_FILE, index=False)
        return folder

    @classmethod
    def load(cls, folder: str | Path) -> EnsembleResult:
        """Read a folder written by :meth:`save`; a missing or foreign file is a ConfigError."""
        return load_result(folder, RESULTS_FILE, "ensemble", cls.from_json)
