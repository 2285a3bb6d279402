"""What every engine must do, run by one subclass per engine (as Optuna's sampler contract tests).

Every test trains through the one loop (:func:`tunelab.train.loop.train_members`) with the engine
of the subclass. Member 0 is the run under test; the population's subclass trains it beside a
companion, which must train on undisturbed.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import pytest
import torch
from torch import nn

from tunelab.config import RunConfig, validate_run_config
from tunelab.data import Splits, load_splits
from tunelab.models import register
from tunelab.train.checkpoint import from_bytes, to_bytes
from tunelab.train.engines import PlainEngine, PopulationEngine
from tunelab.train.loop import EngineFactory, train_members
from tunelab.train.state import RunState, TrainResult

CPU = torch.device("cpu")


MLP = {"kind": "mlp", "hidden": [16]}  # no dropout: a population's masks are its own


def config(model: dict[str, Any] = MLP, **train: Any) -> RunConfig:
    base = {"epochs": 4, "batch_size": 128, "device": "cpu", "optimizer": "adam"}
    return validate_run_config(
        {"data": {"name": "digits", "train_subset": 600}, "model": model, "train": base | train}
    )


class ConvNet(nn.Module):
    """A user's network, as a model factory builds it: a lazy layer, a buffer in its state dict and
    one kept out of it (neither trained)."""

    def __init__(self, input_shape: tuple[int, int, int], n_classes: int, width: int = 4) -> None:
        super().__init__()
        self.conv = nn.Conv2d(input_shape[0], width, 3, padding=1)
        self.head = nn.Sequential(nn.ReLU(), nn.Flatten(), nn.LazyLinear(n_classes))
        self.register_buffer("shift", torch.full((1,), 0.5))
        self.register_buffer("scale", torch.full((1,), 2.0), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.conv((x - self.shift) * self.scale))


@pytest.fixture(scope="module")
def splits() -> Splits:
    return load_splits(config().data)


class AlwaysDue:
    """A checkpoint kept in memory, saved after every epoch (as bytes: what a real one stores)."""

    def __init__(self) -> None:
        self.data: bytes | None = None
        self.epochs: list[int] = []

    def load(self) -> dict[str, Any] | None:
        return from_bytes(self.data) if self.data is not None else None

    def due(self) -> bool:
        return True

    def save(self, state: dict[str, Any]) -> None:
        self.data = to_bytes(state)
        self.epochs.append(state["epoch"])


def stop_at(epoch: int):
    return lambda e, record: e == epoch


def without_times(history: list[dict[str, float]]) -> list[dict[str, float]]:
    return [{k: v for k, v in r.items() if k not in ("time_s", "resumed")} for r in history]


def assert_same_weights(a: TrainResult, b: TrainResult) -> None:
    for key, value in a.model.state_dict().items():
        assert torch.equal(value, b.model.state_dict()[key]), key


def assert_same_state(a: Any, b: Any) -> None:
    if isinstance(a, dict):
        assert set(a) == set(b)
        for key in a:
            assert_same_state(a[key], b[key])
    else:
        assert torch.equal(a, b)


def one_epoch(engine: Any, members: int, splits: Splits, batch: int, lr: float) -> list[Any]:
    """One epoch of ``engine`` over a fixed batch order; its sums and validation, as the loop reads them."""
    n = len(splits.y_train)
    order = torch.randperm(n, generator=torch.Generator().manual_seed(0)).expand(members, n)
    engine.begin_epoch([[lr] * members] * math.ceil(n / batch))
    for at, begin in enumerate(range(0, n, batch)):
        engine.step(order[:, begin : begin + batch], at)
    return [engine.sums(), engine.evaluate()]


class EngineContract:
    engine: ClassVar[EngineFactory]
    other: ClassVar[EngineFactory]  # the other engine, for checkpoints that cross over
    companions: ClassVar[int]  # members trained beside member 0
    model: ClassVar[dict[str, Any]] = MLP

    def config(self, **train: Any) -> RunConfig:
        return config(type(self).model, **train)

    def run(
        self, cfg: RunConfig, splits: Splits, callback: Any = None, checkpoint: Any = None
    ) -> list[TrainResult]:
        companion = cfg.model_copy(update={"train": cfg.train.model_copy(update={"seed": 1})})
        configs = [cfg] + [companion] * self.companions
        callbacks = [[callback] if callback else []] + [[]] * self.companions
        checkpoints = [checkpoint] + [None] * self.companions
        return train_members(type(self).engine, configs, splits, callbacks, CPU, checkpoints)

    def assert_companions_completed(self, results: list[TrainResult], epochs: int) -> None:
        for companion in results[1:]:
            assert companion.status == "completed" and len(companion.history) == epochs

    def test_resuming_mid_training_matches_an_uninterrupted_run(self, splits):
        cfg = self.config(
            epochs=5,
            schedule={"name": "plateau", "patience": 1, "factor": 0.5},
            early_stopping={"monitor": "val_loss", "patience": 10, "restore_best": True},
        )
        whole = self.run(cfg, splits)[0]
        checkpoint = AlwaysDue()
        interrupted = self.run(cfg, splits, stop_at(3), checkpoint)[0]
        assert interrupted.status == "stopped" and checkpoint.epochs == [1, 2]  # epoch 3 stopped unsaved
        resumed = self.run(cfg, splits, checkpoint=checkpoint)[0]
        assert resumed.resumed_from == 2 and resumed.history[2]["resumed"] == 1.0
        assert without_times(resumed.history) == without_times(whole.history)
        assert resumed.status == whole.status and resumed.best_epoch == whole.best_epoch
        assert_same_weights(whole, resumed)
        assert checkpoint.epochs == [1, 2, 3, 4]  # no checkpoint after the last epoch

    def test_augmentation_is_seeded_and_resumes_exactly(self, splits):
        cfg = config(epochs=4, augment={"crop_padding": 2, "flip": True})
        whole = self.run(cfg, splits)[0]
        assert without_times(self.run(cfg, splits)[0].history) == without_times(whole.history)
        assert (
            whole.history[0]["train_loss"] != self.run(config(epochs=4), splits)[0].history[0]["train_loss"]
        )
        checkpoint = AlwaysDue()
        self.run(cfg, splits, stop_at(2), checkpoint)
        resumed = self.run(cfg, splits, checkpoint=checkpoint)[0]
        assert resumed.resumed_from == 1
        assert without_times(resumed.history) == without_times(whole.history)
        assert_same_weights(whole, resumed)

    def test_early_stopping_ends_the_run_with_its_best_weights(self, splits):
        stop = {"monitor": "val_loss", "patience": 1, "min_delta": 10.0, "restore_best": True}
        results = self.run(self.config(epochs=6, early_stopping=stop), splits)
        result = results[0]
        assert result.status == "early_stopped" and "val_loss" in result.reason
        assert result.best_epoch == 1 and len(result.history) == 2
        after_one = self.run(self.config(epochs=1), splits)[0]  # the same first epoch, nothing after it
        assert without_times(after_one.history) == without_times(result.history[:1])
        assert_same_weights(after_one, result)
        assert result.val.loss == pytest.approx(result.history[0]["val_loss"], rel=1e-5)

    def test_a_diverging_run_is_recorded_not_raised(self, splits):
        diverging = self.config(optimizer={"name": "sgd", "lr": 1e12, "momentum": 0.9})
        companion = self.config(optimizer={"name": "sgd", "lr": 0.05}, seed=1)
        configs = [diverging] + [companion] * self.companions
        results = train_members(type(self).engine, configs, splits, device=CPU)
        result = results[0]
        assert result.status == "diverged" and "became" in result.reason and "epoch 1" in result.reason
        assert len(result.history) == 1 and result.val is None and result.test is None
        self.assert_companions_completed(results, 4)

    def test_a_callback_returning_true_stops_the_run(self, splits):
        seen = []

        def prune_after_2(epoch, record):
            seen.append(epoch)
            return epoch == 2

        results = self.run(self.config(), splits, prune_after_2)
        assert results[0].status == "stopped" and "callback" in results[0].reason
        assert len(results[0].history) == 2 and seen == [1, 2] and results[0].test is not None
        self.assert_companions_completed(results, 4)

    def test_a_members_state_crosses_to_the_other_engine_and_back_unchanged(self, splits):
        cfg = self.config(optimizer={"name": "adam", "lr": 1e-3})

        def build(factory: EngineFactory, members: int) -> Any:
            states = [RunState.start(cfg, splits, CPU) for _ in range(members)]
            return factory(states, splits, CPU)

        members = 1 + self.companions
        engine = build(type(self).engine, members)
        one_epoch(engine, members, splits, 128, 1e-3)
        model, optimizer = engine.model_state(0), engine.optimizer_state(0)
        other = build(type(self).other, 1)
        other.load(0, model, optimizer)
        assert_same_state(other.model_state(0), model)
        assert_same_state(other.optimizer_state(0)["state"], optimizer["state"])
        # back into a fresh engine of this kind: it continues exactly as the original does
        fresh = build(type(self).engine, members)
        for row in range(members):
            fresh.load(row, other.model_state(0), other.optimizer_state(0))
        assert one_epoch(fresh, members, splits, 128, 1e-3) == one_epoch(engine, members, splits, 128, 1e-3)
        assert_same_state(fresh.model_state(0), engine.model_state(0))


class TestPlainEngine(EngineContract):
    engine = PlainEngine
    other = PopulationEngine
    companions = 0


class TestPopulationEngine(EngineContract):
    engine = PopulationEngine
    other = PlainEngine
    companions = 1


class FactoryModel:
    """The contract again for a model factory's network (registered for each test)."""

    model: ClassVar[dict[str, Any]] = {"kind": "contract-conv", "params": {"width": 3}}

    @pytest.fixture(autouse=True)
    def _factory(self):
        register("contract-conv", ConvNet)


class TestPlainEngineWithAFactoryModel(FactoryModel, TestPlainEngine):
    pass


class TestPopulationEngineWithAFactoryModel(FactoryModel, TestPopulationEngine):
    pass
