"""Weighted soft voting over the best trials of several studies (paper 002's MLP + CNN + LCNN ensemble).

Steps: :func:`load_members` takes the top trials of each study (the first seed's saved run of each),
:func:`predict_members` computes every member's class probabilities on validation and test once,
:class:`WeightedVote` searches the weights on validation only, and :func:`run_ensemble` does all three
and measures the result. The paper drew its weights from hand-set intervals chosen after looking at the
test accuracies; here every weight vector on the simplex can be drawn, and the test split is only
measured, never used to choose.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from optuna.trial import FrozenTrial
from torch import nn

from tunelab.config import RunConfig, load_run_config
from tunelab.errors import ConfigError
from tunelab.resultfiles import load_result
from tunelab.search.record import TrialRecord
from tunelab.search.strategies import ranked
from tunelab.search.study import StudyHandle, load_study
from tunelab.train.loop import eval_batch_size
from tunelab.train.metrics import Metrics, metrics_from_confusion

if TYPE_CHECKING:
    import pandas as pd

    from tunelab.data import Splits

KIND = "tunelab-ensemble"
FORMAT = 1
RESULTS_FILE, TABLE_FILE = "results.json", "members.csv"
# What decides which images are validation and test: members must agree on these. The scaling
# (data.normalize) may differ, since each member sees the images as its own config prepares them.
SPLIT_FIELDS = ("name", "val_fraction", "split_seed", "train_subset")
EPS = 1e-12  # floor of a probability inside a log: a confidently wrong member has a finite loss


# -------------------------------------------------------------------------------------------- members
@dataclass(frozen=True)
class Member:
    """One network of the ensemble: a study's trial, as the first seed's run saved it."""

    name: str  # "<study>#<trial>"
    study: str
    trial: int
    folder: Path  # the run folder: config.yaml, model.pt
    config: RunConfig

    @property
    def kind(self) -> str:
        return self.config.model.kind

    def load_model(self, input_shape: tuple[int, int, int], n_classes: int, device: str = "cpu") -> nn.Module:
        """The trained network, in eval mode on ``device``."""
        from tunelab.models import build_model

        # Building initialises weights from the global RNG; fork it so loading leaves callers' seeds alone.
        with torch.random.fork_rng(devices=[]):
            model = build_model(self.config.model, input_shape, n_classes)
        path = self.folder / "model.pt"
        state = torch.load(path, map_location=device, weights_only=True)
        try:
            model.load_state_dict(state)
        except RuntimeError as exc:
            first = str(exc).splitlines()[1].strip() if len(str(exc).splitlines()) > 1 else str(exc)
            raise ConfigError(
                f"{path}: the weights do not fit the network of its config.yaml ({first})"
            ) from None
        return model.to(device).eval()


def load_members(studies: Sequence[StudyHandle], top: int = 1) -> list[Member]:
    """The ``top`` best completed trials of each study (fewer where a study has fewer), best first.

    Each trial contributes its first seed's run. Raises ConfigError for a study without a completed
    trial, a trial without saved files, the same study given twice or members on different splits.
    """
    if top < 1:
        raise ConfigError(f"top must be at least 1 (got {top}): it is the number of trials taken per study")
    members: list[Member] = []
    seen: set[str] = set()
    for handle in studies:
        name = handle.spec.name
        if name in seen:
            raise ConfigError(f"two of the studies are named {name!r}; give each study once")
        seen.add(name)
        best = ranked(handle.study.get_trials(deepcopy=False), handle.spec)
        if not best:
            raise ConfigError(f"study {name!r} has no completed trial; run it first with tunelab run")
        members += [_member(handle, trial) for trial in best[:top]]
    check_same_split(members)
    return members


def _member(handle: StudyHandle, trial: FrozenTrial) -> Member:
    name = f"{handle.spec.name}#{trial.number}"
    runs = [r for r in TrialRecord.from_trial(trial).runs if r.get("folder")]
    if not runs:
        raise ConfigError(f"{name}: the trial saved no run folder, so there is no model to load")
    folder = handle.out_dir / runs[0]["folder"]
    for file in ("config.yaml", "model.pt"):
        if not (folder / file).is_file():
            raise ConfigError(
                f"{name}: {folder / file} is missing; give the study's output folder (its --out), "
                "where the trials' files are, rather than its study file"
            )
    config = load_run_config(folder / "config.yaml")
    return Member(name, handle.spec.name, trial.number, folder, config)


def check_same_split(members: Sequence[Member]) -> None:
    """Raise ConfigError unless every member was validated and tested on the same images."""
    if not members:
        return
    first = members[0]
    for member in members[1:]:
        for key in SPLIT_FIELDS:
            mine, theirs = getattr(first.config.data, key), getattr(member.config.data, key)
            if mine != theirs:
                raise ConfigError(
                    f"{first.name} and {member.name} use different splits (data.{key} is {mine!r} and "
                    f"{theirs!r}); an ensemble's members must share data.{', data.'.join(SPLIT_FIELDS)}"
                )


@dataclass(frozen=True, eq=False)
class Probabilities:
    """Every member's softmax output: ``val`` and ``test`` are (n_members, n_images, n_classes)."""

    names: list[str]
    val: np.ndarray
    test: np.ndarray
    y_val: np.ndarray
    y_test: np.ndarray


def predict_members(
    members: Sequence[Member], data_dir: str | Path | None = None, device: str = "cpu"
) -> Probabilities:
    """Class probabilities of each member on validation and test, computed once, in batches, without grad.

    Each member sees the data as its own config scales it; splits are loaded once per distinct data config.
    """
    from tunelab.data import load_splits

    if not members:
        raise ConfigError("no members to predict with")
    check_same_split(members)
    splits: dict[Any, Splits] = {}
    val, test = [], []
    for member in members:
        data = member.config.data
        if data not in splits:
            splits[data] = load_splits(data, device=device, data_dir=data_dir)
        current = splits[data]
        model = member.load_model(current.input_shape, current.n_classes, device)
        batch = eval_batch_size(model, current.x_val, member.config.train.eval_batch_size)
        val.append(_softmax(model, current.x_val, batch))
        test.append(_softmax(model, current.x_test, batch))
    reference, *others = splits.values()
    for other in others:  # same split settings give the same images; a cheap check that they did
        if not (torch.equal(reference.y_val, other.y_val) and torch.equal(reference.y_test, other.y_test)):
            raise ConfigError("the members' data configs give different validation or test labels")
    return Probabilities(
        names=[m.name for m in members],
        val=np.stack(val),
        test=np.stack(test),
        y_val=reference.y_val.cpu().numpy(),
        y_test=reference.y_test.cpu().numpy(),
    )


def _softmax(model: nn.Module, x: torch.Tensor, batch_size: int) -> np.ndarray:
    with torch.inference_mode():
        parts = [
            torch.softmax(model(x[start : start + batch_size]).double(), dim=1).cpu()
            for start in range(0, len(x), batch_size)
        ]
    return torch.cat(parts).numpy()


# --------------------------------------------------------------------------------------------- voting
class WeightedVote:
    """Weighted soft voting: ``p(class) = Σ_m w_m p_m(class)`` with ``w`` on the simplex.

    ``fit`` scores, on the probabilities it is given (the validation split), each one-hot weight vector
    (every member alone), the uniform weights and ``n_trials`` draws from Dirichlet(1, …, 1) (uniform on
    the simplex), and keeps the most accurate; ties go to the lower log-loss, then to the earlier
    candidate. As the members alone are candidates, the ensemble is never less accurate on the fitting
    split than its best member.
    """

    def __init__(self, n_trials: int = 100, seed: int = 0) -> None:
        self.n_trials = n_trials
        self.seed = seed

    def fit(self, probs: np.ndarray | Sequence[np.ndarray], y: np.ndarray | Sequence[int]) -> WeightedVote:
        """Search the weights; ``probs`` is (n_members, n_images, n_classes), ``y`` the true classes."""
        probs, y = _check_probs(probs), np.asarray(y)
        if y.shape != probs.shape[1:2]:
            raise ValueError(f"y has shape {y.shape}, expected ({probs.shape[1]},) to match probs")
        if not isinstance(self.n_trials, int | np.integer) or self.n_trials < 0:
            raise ValueError(f"n_trials must be an integer >= 0, got {self.n_trials!r}")
        n_members = probs.shape[0]
        rng = np.random.default_rng(self.seed)
        candidates = np.vstack(
            [
                np.eye(n_members),
                np.full((1, n_members), 1.0 / n_members),
                rng.dirichlet(np.ones(n_members), size=self.n_trials),
            ]
        )
        scores, losses = _score(candidates, probs, y)
        best = int(np.lexsort((np.arange(len(candidates)), losses, -scores))[0])
        self.candidates_, self.scores_, self.losses_ = candidates, scores, losses
        self.weights_ = candidates[best]
        self.best_score_, self.best_loss_ = float(scores[best]), float(losses[best])
        self.n_members_ = n_members
        return self

    def predict_proba(self, probs: np.ndarray | Sequence[np.ndarray]) -> np.ndarray:
        """The weighted mean of the members' probabilities: (n_images, n_classes)."""
        if not hasattr(self, "weights_"):
            from sklearn.exceptions import NotFittedError

            raise NotFittedError("this WeightedVote is not fitted yet; call fit first")
        probs = _check_probs(probs)
        if probs.shape[0] != self.n_members_:
            raise ValueError(f"probs has {probs.shape[0]} members, the vote was fitted on {self.n_members_}")
        return np.tensordot(self.weights_, probs, axes=1)

    def predict(self, probs: np.ndarray | Sequence[np.ndarray]) -> np.ndarray:
        """The class of highest weighted probability."""
        return self.predict_proba(probs).argmax(axis=1)

    def __repr__(self) -> str:
        return f"WeightedVote(n_trials={self.n_trials}, seed={self.seed})"


def _check_probs(probs: np.ndarray | Sequence[np.ndarray]) -> np.ndarray:
    array = np.asarray(probs, dtype=np.float64)
    if array.ndim != 3 or 0 in array.shape:
        raise ValueError(f"probs must be (n_members, n_images, n_classes) and non-empty, got {array.shape}")
    return array


def _score(
    weights: np.ndarray, probs: np.ndarray, y: np.ndarray, chunk: int = 64
) -> tuple[np.ndarray, np.ndarray]:
    """Accuracy and mean log-loss of each weight vector; in chunks, to bound memory on large splits."""
    accuracy, loss = np.empty(len(weights)), np.empty(len(weights))
    rows = np.arange(len(y))
    for start in range(0, len(weights), chunk):
        mixed = np.einsum("km,mnc->knc", weights[start : start + chunk], probs)
        accuracy[start : start + chunk] = (mixed.argmax(axis=2) == y).mean(axis=1)
        loss[start : start + chunk] = -np.log(np.maximum(mixed[:, rows, y], EPS)).mean(axis=1)
    return accuracy, loss


def measure(probs: np.ndarray, y: np.ndarray) -> Metrics:
    """Accuracy, macro F1, confusion… of (n_images, n_classes) probabilities; loss is the mean log-loss."""
    n_classes = probs.shape[1]
    predicted = probs.argmax(axis=1)
    confusion = np.bincount(y * n_classes + predicted, minlength=n_classes * n_classes)
    loss = float(-np.log(np.maximum(probs[np.arange(len(y)), y], EPS)).mean())
    return metrics_from_confusion(confusion.reshape(n_classes, n_classes), loss)


# -------------------------------------------------------------------------------------------- results
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

    ``data`` holds the split all members share (``SPLIT_FIELDS``); ``n_trials`` is the number of random
    weight vectors tried besides the uniform and one-hot ones.
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


def run_ensemble(
    studies: Sequence[StudyHandle | str | Path],
    *,
    top: int = 1,
    n_trials: int = 100,
    seed: int = 0,
    storage: str | None = None,
    data_dir: str | Path | None = None,
    device: str = "cpu",
) -> EnsembleResult:
    """Combine the ``top`` best trials of each study by weighted soft voting, weights fitted on validation.

    ``studies`` are open handles, study files or output folders (opened with ``storage``).
    """
    if n_trials < 0:
        raise ConfigError(
            f"n_trials must be 0 or more (got {n_trials}): it is the number of random weight vectors"
        )
    handles = [s if isinstance(s, StudyHandle) else load_study(s, storage) for s in studies]
    if not handles:
        raise ConfigError("no study given; name at least one study file or output folder")
    members = load_members(handles, top)
    probs = predict_members(members, data_dir, device)
    vote = WeightedVote(n_trials, seed).fit(probs.val, probs.y_val)
    results = []
    for member, val, test in zip(members, probs.val, probs.test, strict=True):
        tested = measure(test, probs.y_test)
        results.append(
            MemberResult(
                name=member.name,
                study=member.study,
                trial=member.trial,
                kind=member.kind,
                folder=str(member.folder),
                val_accuracy=measure(val, probs.y_val).accuracy,
                test_accuracy=tested.accuracy,
                test_f1=tested.f1,
            )
        )
    data = members[0].config.data
    return EnsembleResult(
        members=results,
        weights=[float(w) for w in vote.weights_],
        val=measure(vote.predict_proba(probs.val), probs.y_val),
        test=measure(vote.predict_proba(probs.test), probs.y_test),
        n_trials=n_trials,
        seed=seed,
        top=top,
        data={key: getattr(data, key) for key in SPLIT_FIELDS},
        n_val=len(probs.y_val),
        n_test=len(probs.y_test),
        studies=[h.spec.name for h in handles],
    )
