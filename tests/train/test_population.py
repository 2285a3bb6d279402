"""A population trains each member as if it were trained alone."""

from __future__ import annotations

import sys

import pytest
import torch

from tunelab.config import validate_run_config
from tunelab.data import load_splits
from tunelab.train import train
from tunelab.train.checkpoint import FileCheckpointer
from tunelab.train.engines import population
from tunelab.train.population import population_key, train_population


def config(**train_settings):
    train_cfg = {"epochs": 3, "batch_size": 64} | train_settings
    return validate_run_config(
        {"data": {"name": "digits"}, "model": {"kind": "mlp", "hidden": [32, 16]}, "train": train_cfg}
    )


MEMBERS = {
    "sgd": [
        config(optimizer={"name": "sgd", "lr": 0.05, "momentum": 0.9}, seed=0),
        config(optimizer={"name": "sgd", "lr": 0.01, "momentum": 0.5, "nesterov": True}, seed=1),
        config(optimizer={"name": "sgd", "lr": 0.1, "weight_decay": 1e-3}, seed=2, schedule="cosine"),
    ],
    "adam": [
        config(optimizer={"name": "adam", "lr": 1e-3}, seed=0),
        config(optimizer={"name": "adam", "lr": 3e-3, "weight_decay": 1e-4}, seed=5, schedule="cosine"),
    ],
    "adamw": [
        config(optimizer={"name": "adamw", "lr": 1e-3, "weight_decay": 0.01}, seed=0),
        config(optimizer={"name": "adamw", "lr": 2e-3, "weight_decay": 0.1}, seed=3),
    ],
    "rmsprop": [
        config(optimizer={"name": "rmsprop", "lr": 1e-3}, seed=0),
        config(optimizer={"name": "rmsprop", "lr": 1e-3, "momentum": 0.9}, seed=1),
    ],
}


@pytest.mark.parametrize("optimizer", list(MEMBERS))
def test_members_match_one_by_one_training(optimizer):
    configs = MEMBERS[optimizer]
    splits = load_splits(configs[0].data)
    together = train_population(configs, splits)
    for cfg, member in zip(configs, together, strict=True):
        alone = train(cfg, splits)
        assert member.status == alone.status
        for a, b in zip(alone.history, member.history, strict=True):
            assert b["train_loss"] == pytest.approx(a["train_loss"], rel=1e-4, abs=1e-5)
            assert b["val_accuracy"] == pytest.approx(a["val_accuracy"], abs=2 / len(splits.y_val))
            assert b["lr"] == pytest.approx(a["lr"])
            assert b["grad_dense1"] == pytest.approx(a["grad_dense1"], rel=1e-2)
        for key, value in alone.model.state_dict().items():
            torch.testing.assert_close(member.model.state_dict()[key], value, rtol=1e-2, atol=1e-3)
        assert member.test.accuracy == pytest.approx(alone.test.accuracy, abs=2 / len(splits.y_test))


def test_each_member_stops_on_its_own():
    early = config(
        optimizer="adam", epochs=8, early_stopping={"monitor": "val_loss", "patience": 1, "min_delta": 10.0}
    )
    full = config(optimizer="adam", epochs=8, seed=1)
    diverging = config(optimizer={"name": "adam", "lr": 1.0e12}, epochs=8, seed=2)
    calls = []

    def prune_after_2(epoch, record):
        calls.append(epoch)
        return epoch == 2

    pruned = config(optimizer="adam", epochs=8, seed=3)
    splits = load_splits(full.data)
    results = train_population(
        [early, full, diverging, pruned], splits, callbacks=[[], [], [], [prune_after_2]]
    )
    assert [r.status for r in results] == ["early_stopped", "completed", "diverged", "stopped"]
    assert [len(r.history) for r in results][:2] == [2, 8]
    assert len(results[3].history) == 2 and calls == [1, 2]
    assert "became nan" in results[2].reason or "became inf" in results[2].reason
    # the others stopping early does not disturb the member that trains on
    assert results[1].test.accuracy == pytest.approx(train(full, splits).test.accuracy, abs=0.01)


def test_only_same_shape_configurations_share_a_key():
    assert population_key(MEMBERS["sgd"][0]) == population_key(MEMBERS["sgd"][1])
    assert population_key(MEMBERS["sgd"][0]) != population_key(MEMBERS["adam"][0])
    wider = validate_run_config({"data": {"name": "digits"}, "model": {"kind": "mlp", "hidden": [64, 16]}})
    assert population_key(wider) != population_key(config())
    with_bn = validate_run_config({"data": {"name": "digits"}, "model": {"kind": "mlp", "batch_norm": True}})
    assert population_key(with_bn) != population_key(validate_run_config({"data": {"name": "digits"}}))
    bf16 = config(precision="bf16")
    assert population_key(bf16) != population_key(config())


def mlp(model, **train_settings):
    train_cfg = {"epochs": 3, "batch_size": 64, "optimizer": "adam"} | train_settings
    return validate_run_config(
        {"data": {"name": "digits"}, "model": {"kind": "mlp"} | model, "train": train_cfg}
    )


def test_padding_lets_other_mlp_architectures_share_a_key():
    base = mlp({"hidden": [32, 16]})
    rates = mlp({"hidden": [32, 16], "activation": ["tanh", "relu"], "dropout": 0.2})
    deeper = mlp({"hidden": [64, 16, 8]})
    assert len({population_key(c) for c in (base, rates, deeper)}) == 3
    assert population_key(base, "free") == population_key(rates, "free") != population_key(deeper, "free")
    assert population_key(base, "any") == population_key(deeper, "any")
    assert population_key(mlp({"hidden": [8], "batch_norm": True}), "any") != population_key(base, "any")
    cnn = validate_run_config(
        {"data": {"name": "digits"}, "model": {"kind": "cnn", "blocks": [{"filters": 4}]}}
    )
    wide_cnn = validate_run_config(
        {"data": {"name": "digits"}, "model": {"kind": "cnn", "blocks": [{"filters": 8}]}}
    )
    assert population_key(cnn, "any") != population_key(wide_cnn, "any")  # only MLPs are padded


def assert_matches_alone(configs, splits, exact_state=True):
    """Each member's per-epoch losses, gradients and (unless ``exact_state``) weights match a lone run."""
    for cfg, member in zip(configs, train_population(configs, splits), strict=True):
        alone = train(cfg, splits)
        assert member.status == alone.status
        assert [k for k in member.history[0] if k.startswith("grad_")] == [
            k for k in alone.history[0] if k.startswith("grad_")
        ]
        for a, b in zip(alone.history, member.history, strict=True):
            assert b["train_loss"] == pytest.approx(a["train_loss"], rel=1e-4, abs=1e-5)
            assert b["val_accuracy"] == pytest.approx(a["val_accuracy"], abs=2 / len(splits.y_val))
            for key in a:
                if key.startswith("grad_"):
                    assert b[key] == pytest.approx(a[key], rel=1e-2), key
        assert member.n_parameters == alone.n_parameters
        for key, value in alone.model.state_dict().items():
            # Before batch norm a dense layer's bias has no gradient but float noise, which Adam
            # scales up to full steps: both runs move it (and the running mean) arbitrarily.
            if exact_state or not (
                key.endswith("running_mean") or (key.startswith("dense") and "bias" in key)
            ):
                torch.testing.assert_close(
                    member.model.state_dict()[key], value, rtol=1e-2, atol=1e-3, msg=key
                )
        assert member.test.accuracy == pytest.approx(alone.test.accuracy, abs=3 / len(splits.y_test))


def test_members_with_the_same_settings_and_learning_rate_step_in_one_call(monkeypatch):
    halving = {"name": "step", "step_size": 1, "gamma": 0.5}  # its lr parts from the others' at epoch 2
    configs = [
        config(optimizer="adam", seed=0),
        config(optimizer="adam", seed=1),
        config(optimizer="adam", seed=2, schedule=halving),
        config(optimizer={"name": "adam", "weight_decay": 1e-4}, seed=3),
    ]
    splits = load_splits(configs[0].data)
    calls = []
    adam = sys.modules["torch.optim.adam"]
    real = adam.adam

    def counted(params, *args, **kwargs):
        calls.append(len(params))
        return real(params, *args, **kwargs)

    monkeypatch.setattr(adam, "adam", counted)
    train_population(configs, splits)
    monkeypatch.undo()
    tensors = 6  # weights and biases of the 32-16 MLP's three layers, per member
    steps = len(calls) // (2 + 3 + 3)  # per epoch: two calls a step in epoch 1, then three
    assert calls[: 2 * steps] == [3 * tensors, tensors] * steps  # members 0-2 in one call, then 3
    assert calls[2 * steps :] == [2 * tensors, tensors, tensors] * 2 * steps  # 0-1, 2, 3
    assert_matches_alone(configs, splits)


def test_a_captured_step_trains_as_the_uncaptured_one(monkeypatch):
    """``compile: reduce-overhead`` replays one captured step per full batch on a GPU; on a CPU the
    same step runs through the graph's own tensors, which is what this checks: batch rows and
    learning rates copied in, sums added up, and a new graph once a member has left."""
    stop = {"monitor": "val_loss", "patience": 1, "min_delta": 10.0}
    plateau = {"name": "plateau", "monitor": "val_loss", "factor": 0.5, "patience": 0, "min_delta": 10.0}
    members = [
        {"optimizer": {"name": "adam", "lr": 1e-3}, "seed": 0, "schedule": plateau},
        {"optimizer": {"name": "adam", "lr": 3e-3}, "seed": 1, "early_stopping": stop, "grad_clip": 0.5},
        {"optimizer": {"name": "adam", "lr": 1e-3}, "seed": 2, "schedule": "cosine"},
    ]
    # crops and flips drawn into tensors the graph reads, for the members that stay and the one that leaves
    for member in members[1:]:
        member["augment"] = {"crop_padding": 1, "flip": True}
    splits = load_splits(config().data)
    assert len(splits.y_train) % 64  # a shorter last batch, which runs uncaptured
    graphs, replays = [], []
    real_init, real_call = population._StepGraph.__init__, population._StepGraph.__call__

    def init(self, *args, **kwargs):
        graphs.append(self)
        real_init(self, *args, **kwargs)

    def call(self, index, at):
        replays.append(len(index))
        real_call(self, index, at)

    monkeypatch.setattr(population._StepGraph, "__init__", init)
    monkeypatch.setattr(population._StepGraph, "__call__", call)
    eager = train_population([config(epochs=4, **m) for m in members], splits)
    assert graphs == []
    captured = train_population([config(epochs=4, compile="reduce-overhead", **m) for m in members], splits)
    full = len(splits.y_train) // 64
    assert len(graphs) == 2 and replays == [3] * 2 * full + [2] * 2 * full  # member 1 leaves after 2
    for a, b in zip(eager, captured, strict=True):
        assert b.status == a.status and len(b.history) == len(a.history)
        for x, y in zip(a.history, b.history, strict=True):
            assert y["lr"] == pytest.approx(x["lr"])
            assert y["train_loss"] == pytest.approx(x["train_loss"], rel=1e-5)
            assert y["grad_dense1"] == pytest.approx(x["grad_dense1"], rel=1e-4)
        # on a CPU the same arithmetic to the bit (a double learning rate, as the uncaptured step's);
        # a CUDA graph reads a float32 one, which fused CUDA optimizers take
        exact = a.device == "cpu"
        for key, value in a.model.state_dict().items():
            tolerance = {"rtol": 0.0, "atol": 0.0} if exact else {"rtol": 1e-4, "atol": 1e-6}
            torch.testing.assert_close(b.model.state_dict()[key], value, **tolerance)
    assert [r.status for r in captured] == ["completed", "early_stopped", "completed"]
    assert captured[0].history[-1]["lr"] < 1e-3  # the plateau halved it: a new rate reached the step


def test_batch_norm_members_match_one_by_one_training():
    configs = [mlp({"hidden": [32, 16], "batch_norm": True}, seed=s) for s in range(3)]
    assert_matches_alone(configs, load_splits(configs[0].data), exact_state=False)


def test_each_member_clips_its_own_gradients():
    configs = [
        config(optimizer={"name": "sgd", "lr": 0.5}, grad_clip=0.1, seed=0),
        config(optimizer={"name": "sgd", "lr": 0.5}, seed=1),
        config(optimizer={"name": "sgd", "lr": 0.2}, grad_clip=1.0, seed=2),
    ]
    assert_matches_alone(configs, load_splits(configs[0].data))


def test_mlps_of_other_widths_depths_and_activations_train_padded_as_if_alone():
    configs = [
        mlp({"hidden": [32, 16], "activation": ["relu", "tanh"]}, seed=0),
        mlp({"hidden": [48], "activation": "sigmoid"}, seed=1),
        mlp(
            {"hidden": [16, 40, 24], "activation": ["tanh", "silu", "relu"], "init": "xavier_uniform"}, seed=2
        ),
    ]
    assert_matches_alone(configs, load_splits(configs[0].data))


def test_padded_batch_norm_mlps_with_early_stopping_match_one_by_one():
    stop = {"monitor": "val_loss", "patience": 1, "min_delta": 10.0, "restore_best": True}
    configs = [
        mlp({"hidden": [24, 24], "batch_norm": True}, seed=0, epochs=4, early_stopping=stop),
        mlp({"hidden": [40], "batch_norm": True, "activation": "tanh"}, seed=1, epochs=4),
    ]
    assert_matches_alone(configs, load_splits(configs[0].data), exact_state=False)


class Interrupt(Exception):
    pass


def interrupt_at(epoch):
    def callback(e, record):
        if e == epoch:
            raise Interrupt
        return False

    return callback


RESUMABLE = [
    mlp({"hidden": [32, 16]}, seed=0, epochs=4, schedule={"name": "plateau", "patience": 1}),
    mlp({"hidden": [48], "activation": "tanh"}, seed=1, epochs=4, early_stopping={"patience": 3}),
    mlp({"hidden": [16, 24, 8]}, seed=2, epochs=4, schedule="cosine"),
]


def assert_same_histories(resumed, uninterrupted, rel=1e-5):
    assert len(resumed) == len(uninterrupted)
    for a, b in zip(uninterrupted, resumed, strict=True):
        for key in ("train_loss", "val_loss", "val_accuracy", "lr"):
            assert b[key] == pytest.approx(a[key], rel=rel, abs=1e-7), key


@pytest.mark.parametrize("padded", [False, True], ids=["one-shape", "padded"])
def test_an_interrupted_population_resumes_from_its_members_checkpoints(tmp_path, padded):
    configs = RESUMABLE if padded else [RESUMABLE[0], RESUMABLE[0].model_copy(deep=True)]
    if not padded:  # the same shape with another seed
        configs[1] = validate_run_config(
            configs[0].model_dump() | {"train": configs[0].train.model_dump() | {"seed": 7}}
        )
    splits = load_splits(configs[0].data)
    uninterrupted = train_population(configs, splits)
    checkpoints = [FileCheckpointer(tmp_path / f"{i}.pt") for i in range(len(configs))]
    with pytest.raises(Interrupt):  # after epoch 3's records, before its checkpoints
        train_population(
            configs, splits, [[interrupt_at(3)]] + [[]] * (len(configs) - 1), checkpoints=checkpoints
        )
    resumed = train_population(configs, splits, checkpoints=checkpoints)
    for a, b in zip(uninterrupted, resumed, strict=True):
        assert b.resumed_from == 2 and b.history[2].get("resumed") == 1.0
        assert_same_histories(b.history, a.history)
        assert b.status == a.status and b.best_epoch == a.best_epoch
        assert b.test.accuracy == pytest.approx(a.test.accuracy, abs=1 / len(splits.y_test))


def test_a_member_resumes_alone_and_a_lone_run_resumes_in_a_population(tmp_path):
    configs = RESUMABLE
    splits = load_splits(configs[0].data)
    # a padded population's checkpoints, each resumed by train() alone
    checkpoints = [FileCheckpointer(tmp_path / f"member-{i}.pt") for i in range(len(configs))]
    with pytest.raises(Interrupt):
        train_population(configs, splits, [[interrupt_at(3)], [], []], checkpoints=checkpoints)
    for config, checkpoint in zip(configs, checkpoints, strict=True):
        alone = train(config, splits, checkpoint=checkpoint)
        assert alone.resumed_from == 2
        assert_same_histories(alone.history, train(config, splits).history, rel=1e-4)
    # lone runs' checkpoints, resumed together as one padded population
    checkpoints = [FileCheckpointer(tmp_path / f"alone-{i}.pt") for i in range(len(configs))]
    for config, checkpoint in zip(configs, checkpoints, strict=True):
        with pytest.raises(Interrupt):
            train(config, splits, callbacks=[interrupt_at(3)], checkpoint=checkpoint)
    together = train_population(configs, splits, checkpoints=checkpoints)
    for config, member in zip(configs, together, strict=True):
        assert member.resumed_from == 2
        assert_same_histories(member.history, train(config, splits).history, rel=1e-4)


class _Item(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.out = torch.nn.Linear(4, 3)

    def forward(self, x):
        return self.out(x.flatten(1)) * (1.0 if x.sum().item() >= 0 else -1.0)


class _Tied(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.a = torch.nn.Linear(4, 4)
        self.b = torch.nn.Linear(4, 4)
        self.b.weight = self.a.weight

    def forward(self, x):
        return self.b(self.a(x.flatten(1)))


def test_stacking_problem_says_which_networks_a_population_cannot_train():
    flat = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 3), torch.nn.BatchNorm1d(3))
    assert population.stacking_problem(flat, (1, 2, 2)) is None
    assert population.stacking_problem(_Item(), (1, 2, 2)).startswith("RuntimeError: vmap")
    assert population.stacking_problem(_Tied(), (1, 2, 2)) == (
        "its state dict names 'b.weight', a tensor shared with another layer"
    )
