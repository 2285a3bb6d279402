from __future__ import annotations

import math

import pytest
import torch

from tunelab.config import RunConfig, validate_run_config
from tunelab.data import load_splits
from tunelab.errors import ConfigError
from tunelab.train import evaluate, train


def config(**train) -> RunConfig:
    base = {"epochs": 3, "batch_size": 64, "device": "cpu"}
    return RunConfig.model_validate(
        {
            "data": {"name": "digits", "normalize": "standardize"},
            "model": {"kind": "mlp", "hidden": [64, 32], "dropout": 0.1},
            "train": base | train,
        }
    )


@pytest.fixture(scope="module")
def splits():
    return load_splits(config().data)


def test_learns_digits(splits):
    result = train(config(epochs=8), splits)
    assert result.status == "completed" and result.reason is None
    assert len(result.history) == 8
    assert result.test.accuracy > 0.9
    assert result.history[-1]["train_loss"] < result.history[0]["train_loss"]
    assert result.test.n == len(splits.y_test) and result.val.n == len(splits.y_val)
    assert set(result.history[0]) >= {
        "epoch",
        "train_loss",
        "train_accuracy",
        "val_loss",
        "val_accuracy",
        "lr",
        "time_s",
        "grad_dense1",
        "grad_dense2",
        "grad_out",
    }
    assert all(result.history[0][f"grad_{n}"] > 0 for n in ("dense1", "dense2", "out"))
    assert result.checksums  # the bundled digits file is recorded


def test_same_seed_same_result_other_seed_differs(splits):
    a, b, c = train(config(seed=1), splits), train(config(seed=1), splits), train(config(seed=2), splits)
    strip = [{k: v for k, v in r.items() if k != "time_s"} for r in a.history]
    assert strip == [{k: v for k, v in r.items() if k != "time_s"} for r in b.history]
    for key, value in a.model.state_dict().items():
        assert torch.equal(value, b.model.state_dict()[key])
    assert a.history[-1]["train_loss"] != c.history[-1]["train_loss"]


def test_diverging_run_is_recorded_not_raised(splits):
    result = train(config(optimizer={"name": "sgd", "lr": 1e12}), splits)
    assert result.status == "diverged"
    assert "became" in result.reason and "epoch 1" in result.reason
    assert result.test is None and len(result.history) == 1


def test_early_stopping_restores_best_weights(splits):
    result = train(
        config(
            epochs=60,
            optimizer={"name": "adam", "lr": 0.01},
            early_stopping={"monitor": "val_loss", "patience": 2},
        ),
        splits,
    )
    assert result.status == "early_stopped" and "val_loss" in result.reason
    assert len(result.history) < 60
    best = min(result.history, key=lambda r: r["val_loss"])
    assert result.best_epoch == best["epoch"]
    assert len(result.history) == result.best_epoch + 2
    assert result.val.loss == pytest.approx(best["val_loss"], rel=1e-5)


def test_callback_can_stop_the_run(splits):
    seen = []

    def stop_after_two(epoch, record):
        seen.append(record["val_accuracy"])
        return epoch == 2

    result = train(config(epochs=5), splits, callbacks=[stop_after_two])
    assert result.status == "stopped" and len(result.history) == 2 and len(seen) == 2
    assert result.test is not None


def test_gradient_clipping_bounds_the_recorded_gradients(splits):
    result = train(config(epochs=1, grad_clip=1e-6), splits)
    assert all(0 < result.history[0][f"grad_{n}"] < 1e-6 for n in ("dense1", "dense2", "out"))


def test_history_lr_follows_schedule_and_plateau(splits):
    stepped = train(config(epochs=4, schedule={"name": "step", "step_size": 2, "gamma": 0.1}), splits)
    assert [r["lr"] for r in stepped.history] == pytest.approx([1e-3, 1e-3, 1e-4, 1e-4])
    plateau = train(
        config(
            epochs=6,
            optimizer={"name": "sgd", "lr": 1e-9},
            schedule={"name": "plateau", "patience": 1, "factor": 0.5, "min_delta": 1.0},
        ),
        splits,
    )
    lrs = [r["lr"] for r in plateau.history]
    assert lrs[0] == 1e-9 and lrs[-1] < lrs[0]


@pytest.mark.parametrize(
    "optimizer",
    [
        {"name": "sgd", "lr": 0.05, "momentum": 0.9, "nesterov": True, "weight_decay": 1e-4},
        {"name": "adamw", "lr": 1e-3, "weight_decay": 0.01},
        {"name": "rmsprop", "lr": 1e-3, "momentum": 0.5},
    ],
)
def test_optimizers_train(splits, optimizer):
    result = train(config(epochs=4, optimizer=optimizer), splits)
    assert result.status == "completed"
    assert result.test.accuracy > 0.8


@pytest.mark.parametrize(
    "model",
    [
        {
            "kind": "mlp",
            "hidden": [32, 32],
            "batch_norm": True,
            "activation": ["gelu", "tanh"],
            "init": "kaiming_uniform",
        },
        {
            "kind": "cnn",
            "blocks": [{"filters": 8, "pool": "max"}, {"filters": 16, "pool": "avg"}],
            "dense": [32],
            "init": "xavier_uniform",
        },
        {
            "kind": "lcnn",
            "blocks": [{"filters": 4, "padding": "valid"}],
            "dense": [32],
            "dense_activation": "tanh",
        },
    ],
)
def test_every_model_family_trains(splits, model):
    cfg = config(epochs=3).model_copy(update={"model": RunConfig.model_validate({"model": model}).model})
    result = train(cfg, splits)
    assert result.status == "completed"
    assert result.test.accuracy > 0.5
    assert math.isfinite(result.test.loss)


def test_evaluate_reports_confusion_consistent_with_accuracy(splits):
    result = train(config(epochs=2), splits)
    metrics = evaluate(result.model, splits.x_test, splits.y_test, splits.n_classes, batch_size=37)
    confusion = torch.tensor(metrics.confusion)
    assert confusion.sum() == len(splits.y_test)
    assert metrics.accuracy == pytest.approx(confusion.diag().sum().item() / len(splits.y_test))
    assert metrics.accuracy == pytest.approx(result.test.accuracy)
    assert metrics.loss == pytest.approx(result.test.loss, rel=1e-5)


def test_a_cpu_evaluation_batch_keeps_the_layer_outputs_near_128_mb(splits):
    from torch import nn

    from tunelab.train.evaluation import EVAL_BYTES, eval_batch_size

    x = torch.zeros(4, 1, 28, 28)
    cnn = nn.Sequential(nn.Conv2d(1, 64, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(64 * 28 * 28, 10))
    per_image = (3 * 64 * 28 * 28 + 10) * 4  # the outputs of its four layers, float32
    batch = eval_batch_size(cnn, x)
    assert batch == 128 and batch * per_image <= EVAL_BYTES < 2 * batch * per_image
    assert cnn.training  # the probe leaves the model as it was
    assert eval_batch_size(cnn, x, members=4) == 32  # a population evaluates its members at once
    assert eval_batch_size(cnn, x, members=16) == 32  # at least 32
    assert eval_batch_size(cnn, x, configured=7) == 7
    assert eval_batch_size(cnn.to("meta"), x.to("meta")) == 4096  # off a CPU: large batches
    mlp = train(config(epochs=1), splits).model
    assert eval_batch_size(mlp, splits.x_val) == 4096  # a few KB an image


def test_a_run_resumed_from_a_checkpoint_matches_an_uninterrupted_one(tmp_path):
    from tunelab.train.checkpoint import FileCheckpointer

    config = validate_run_config(
        {
            "data": {"name": "digits"},
            "model": {"kind": "mlp", "hidden": [32], "dropout": 0.2},
            "train": {
                "epochs": 6,
                "optimizer": "adam",
                "schedule": {"name": "plateau", "patience": 1},
                "early_stopping": {"monitor": "val_loss", "patience": 10, "restore_best": True},
            },
        }
    )
    splits = load_splits(config.data)
    whole = train(config, splits)

    def crash_after_epoch_3(epoch, record):
        if epoch == 3:
            raise KeyboardInterrupt  # the process dies before epoch 3's checkpoint is written
        return False

    checkpoint = FileCheckpointer(tmp_path / "ckpt.pt")
    with pytest.raises(KeyboardInterrupt):
        train(config, splits, callbacks=[crash_after_epoch_3], checkpoint=checkpoint)
    assert checkpoint.load()["epoch"] == 2
    resumed = train(config, splits, checkpoint=checkpoint)
    assert resumed.resumed_from == 2
    assert [r.get("resumed", 0.0) for r in resumed.history] == [0, 0, 1, 0, 0, 0]
    drop = ("time_s", "resumed")
    assert [{k: v for k, v in r.items() if k not in drop} for r in resumed.history] == [
        {k: v for k, v in r.items() if k not in drop} for r in whole.history
    ]
    for key, value in whole.model.state_dict().items():
        assert torch.equal(value, resumed.model.state_dict()[key])


def test_bf16_autocast_trains_to_a_similar_accuracy():
    def cfg(precision):
        return validate_run_config(
            {
                "data": {"name": "digits", "normalize": "standardize"},
                "model": {"kind": "mlp", "hidden": [64]},
                "train": {"epochs": 5, "optimizer": "adam", "precision": precision},
            }
        )

    splits = load_splits(cfg("fp32").data)
    fp32, bf16 = train(cfg("fp32"), splits), train(cfg("bf16"), splits)
    assert bf16.status == "completed"
    assert bf16.test.accuracy == pytest.approx(fp32.test.accuracy, abs=0.03)


def compile_config(compile):
    return validate_run_config(
        {
            "data": {"name": "digits", "normalize": "standardize"},
            "model": {"kind": "mlp", "hidden": [32]},  # no dropout: compiled code draws other masks
            "train": {"epochs": 1, "optimizer": "adam", "device": "cpu", "compile": compile},
        }
    )


def test_a_compiled_run_trains_like_an_uncompiled_one():  # inductor compiles C++ (gcc) on a CPU: slowish
    eager_config, compiled_config = compile_config(False), compile_config("default")
    splits = load_splits(eager_config.data)
    eager, compiled = train(eager_config, splits), train(compiled_config, splits)
    assert compiled.status == "completed"
    assert compiled.history[0]["train_loss"] == pytest.approx(eager.history[0]["train_loss"], rel=1e-3)
    assert compiled.test.accuracy == pytest.approx(eager.test.accuracy, abs=0.02)


def test_the_loop_passes_the_compile_mode_to_torch_compile(monkeypatch, splits):
    modes = []

    def fake_compile(model, mode=None):
        modes.append(mode)
        return model

    monkeypatch.setattr(torch, "compile", fake_compile)
    train(compile_config(False), splits)
    assert modes == []
    for value in (True, "reduce-overhead", "max-autotune"):
        train(compile_config(value), splits)
    assert modes == ["default", "reduce-overhead", "max-autotune"]


@pytest.mark.parametrize(
    ("value", "mode"),
    [
        (False, None),
        (True, "default"),
        ("default", "default"),
        ("reduce-overhead", "reduce-overhead"),
        ("max-autotune", "max-autotune"),
    ],
)
def test_compile_accepts_a_bool_or_a_torch_compile_mode(value, mode):
    assert compile_config(value).train.compile_mode() == mode


@pytest.mark.parametrize("value", ["fast", "reduce_overhead", None, 1])
def test_an_unknown_compile_mode_is_one_sentence_naming_the_field(value):
    with pytest.raises(ConfigError) as info:
        compile_config(value)
    message = str(info.value)
    assert message.startswith("config: train.compile: must be false, true or a torch.compile mode")
    assert "reduce-overhead" in message and len(message.splitlines()) == 1


def test_a_watcher_sees_every_epoch_and_how_the_run_ended(splits):
    seen = []
    cfg = config(epochs=6, early_stopping={"monitor": "val_loss", "patience": 1})
    result = train(
        cfg, splits, watch=lambda epoch, record, ended: seen.append((epoch, record["epoch"], ended))
    )
    assert [(e, int(r)) for e, r, _ in seen] == [(e, e) for e in range(1, len(result.history) + 1)]
    assert seen[-1][2] == result.status and all(ended is None for *_, ended in seen[:-1])


def test_population_watchers_see_a_member_end_while_the_others_go_on(splits):
    from tunelab.train.population import train_population

    seen = []
    configs = [config(epochs=2), config(epochs=3, seed=1)]
    watchers = [lambda e, r, ended, i=i: seen.append((i, e, ended)) for i in range(2)]
    train_population(configs, splits, device="cpu", watchers=watchers)
    assert seen == [(0, 1, None), (1, 1, None), (0, 2, "completed"), (1, 2, None), (1, 3, "completed")]


def test_gradient_magnitudes_are_mean_abs_gradients_and_do_not_touch_training(splits):
    """One step an epoch (the whole split a batch): each ``grad_<layer>`` is that step's mean |g| of
    the layer's weight, as float64 computes it; and tracking them changes nothing else."""
    n = len(splits.y_train)
    cfg = config(epochs=1, batch_size=n, seed=3)
    cfg = cfg.model_copy(update={"model": cfg.model.model_copy(update={"dropout": 0.0})})
    tracked = train(cfg, splits)
    untracked = train(
        cfg.model_copy(update={"train": cfg.train.model_copy(update={"track_gradients": False})}), splits
    )
    for key, value in tracked.model.state_dict().items():
        assert torch.equal(value, untracked.model.state_dict()[key])
    assert not any(k.startswith("grad_") for k in untracked.history[0])

    from tunelab.models import build_model

    torch.manual_seed(3)
    model = build_model(cfg.model, splits.input_shape, splits.n_classes)
    torch.nn.functional.cross_entropy(model(splits.x_train), splits.y_train).backward()
    for name in ("dense1", "dense2", "out"):
        weight = getattr(model, name).weight
        expected = weight.grad.double().abs().mean().item()
        assert tracked.history[0][f"grad_{name}"] == pytest.approx(expected, rel=1e-5)
