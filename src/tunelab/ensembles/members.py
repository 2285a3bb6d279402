"""The networks of an ensemble: the best trials of several studies, and their class probabilities.

:func:`load_members` takes the top trials of each study (the first seed's saved run of each);
:func:`predict_members` computes every member's class probabilities on validation and test once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from optuna.trial import FrozenTrial
from torch import nn

from tunelab.config import RunConfig, load_run_config
from tunelab.config.data import SPLIT_FIELDS
from tunelab.errors import ConfigError
from tunelab.search.record import TrialRecord
from tunelab.search.strategies import ranked
from tunelab.search.study import StudyHandle
from tunelab.train.evaluation import eval_batch_size

if TYPE_CHECKING:
    from tunelab.data import Splits


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
