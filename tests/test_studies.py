"""The study files under studies/: every one validates, each paper study holds the paper's numbers, and
each runs for real (on a 500-image subset of the real data, one epoch, a few trials) to the outcomes
its strategy promises."""

from __future__ import annotations

import math
import os
from pathlib import Path

import pytest
from optuna.trial import TrialState

from tunelab.config import read_yaml
from tunelab.search import load_study, load_study_spec, run_study, validate_study_spec
from tunelab.search.space import Space
from tunelab.search.strategies import is_final

REPO = Path(__file__).resolve().parents[1]
STUDIES = REPO / "studies"
# studies/papers/ holds reproduction files (tests/reproduce), not study files
ALL = sorted(p for p in STUDIES.rglob("*.yaml") if "papers" not in p.relative_to(STUDIES).parts)
PAPER = sorted(p for p in ALL if "examples" not in p.relative_to(STUDIES).parts)


def shared_data() -> Path | None:
    """As tests/conftest.py's shared_data() (imported by name, 'conftest' may be tests/data's)."""
    for candidate in (os.environ.get("TUNELAB_SHARED_DATA"), REPO.parent / "shared" / "data"):
        if candidate and Path(candidate, "mnist").is_dir():
            return Path(candidate)
    return None


DATA = shared_data()
needs_data = pytest.mark.skipif(
    DATA is None, reason="the real datasets are not here (set TUNELAB_SHARED_DATA or use ../shared/data)"
)


def spec(name: str):
    return load_study_spec(STUDIES / name)


def paper_of(path: Path) -> str:
    return path.read_text(encoding="utf-8").splitlines()[0]


# ----------------------------------------------------------------------------------------- validity
@pytest.mark.parametrize("path", ALL, ids=lambda p: str(p.relative_to(STUDIES)))
def test_every_study_file_validates(path):
    loaded = load_study_spec(path)
    assert validate_study_spec(read_yaml(path), str(path)) == loaded
    assert loaded.name == path.stem  # its results land in runs/<file name>


def test_the_sampler_examples_differ_from_each_other_from_the_first_draw():
    # the same space, each its own seed, and a model-based one has trials beyond its random start
    examples = {
        name: spec(f"examples/digits-{name}.yaml") for name in ("random", "tpe", "gp", "cmaes", "qmc")
    }
    assert len({s.seed for s in examples.values()}) == len(examples)
    assert len({repr(s.space) for s in examples.values()}) == 1
    for name in ("tpe", "gp", "cmaes"):
        startup = examples[name].strategy.n_startup_trials
        assert examples[name].budget.n_trials >= startup + 10, name


def test_each_paper_has_studies_and_each_file_names_its_paper():
    papers = {paper_of(p)[: len("# Paper 000")] for p in PAPER}
    assert papers == {f"# Paper 00{i}" for i in range(5)}
    for path in PAPER:
        head = path.read_text(encoding="utf-8").split("\nname:")[0]
        assert "Mirrors" in head and "Deviation" in head, path.name


# ------------------------------------------------------------------------------ the papers' numbers
def test_000_random_search_is_the_papers():
    s = spec("mnist-mlp-random-search.yaml")
    assert (s.strategy.name, s.budget.n_trials, s.repeats) == ("random", 25, 1)
    assert (s.train.batch_size, s.train.epochs) == (32, 37)
    assert (s.data.name, s.data.val_fraction) == ("mnist", 0.2)  # the notebook's train_test_split
    assert (s.space["n_layers"].low, s.space["n_layers"].high) == (3, 5)
    units = s.space["model.hidden"]
    assert (units.low, units.high, units.step, units.per_layer) == (128, 512, 64, "n_layers")
    assert s.space["model.activation"].choices == ["relu", "tanh", "silu"]
    dropout = s.space["model.dropout"]
    assert (dropout.low, dropout.high, dropout.step, dropout.per_layer) == (0.1, 0.3, 0.05, "n_layers")
    assert s.space["train.optimizer.lr"].choices == [0.001, 0.0001]
    assert s.train.early_stopping.monitor == "val_accuracy" and s.train.early_stopping.patience == 10
    plateau = s.train.schedule
    assert (plateau.name, plateau.monitor, plateau.factor, plateau.patience, plateau.min_lr) == (
        "plateau",
        "val_accuracy",
        0.5,
        3,
        1e-6,
    )
    assert s.model.batch_norm and s.model.init.scheme == "xavier_uniform"
    assert (s.final.top, s.final.seeds) == (1, 3)  # beyond the paper: the winner on 3 fresh seeds


def test_000_final_is_table_1_and_the_notebooks_model():
    s = spec("mnist-mlp-000-final.yaml")
    assert (s.strategy.name, s.repeats, s.train.epochs, s.train.batch_size) == ("listed", 3, 37, 32)
    assert s.data.val_fraction == 0.1 and s.train.early_stopping is None
    table_1, notebook = (s.run_config(c.set) for c in s.strategy.configs)
    assert table_1.model.hidden == [448, 192, 320, 128, 384]
    assert table_1.model.activations() == ["silu", "relu", "relu", "silu", "relu"]
    assert table_1.model.dropouts() == [0.15, 0.15, 0.25, 0.10, 0.25]
    assert notebook.model.hidden == [448, 192, 320] and notebook.model.batch_norm


def test_001_grid_is_the_papers():
    s = spec("mnist-mlp-grid.yaml")
    assert s.strategy.name == "grid" and len(Space(s.space).grid()) == 8
    assert {k: p.choices for k, p in s.space.items()} == {
        "train.optimizer.lr": [0.001, 0.01],
        "train.batch_size": [32, 64],
        "model.dropout": [0.2, 0.3],
    }
    assert s.model.hidden == [128, 128] and s.model.activation == "relu"
    assert (s.train.optimizer.name, s.train.epochs, s.train.early_stopping.monitor) == ("adam", 5, "val_loss")


@pytest.mark.parametrize("kind", ["mlp", "cnn", "lcnn"])
def test_002_coarse_to_fine_is_the_papers(kind):
    s = spec(f"usps-{kind}-coarse-to-fine.yaml")
    strategy = s.strategy
    assert (strategy.coarse_trials, strategy.fine_trials, strategy.top_fraction) == (30, 20, 0.2)
    assert (s.data.name, s.data.val_fraction, s.data.normalize) == ("usps", 0.2, "symmetric")
    assert (s.train.optimizer.name, s.train.epochs, s.model.init.scheme) == ("sgd", 20, "xavier_uniform")
    lr = s.space["train.optimizer.lr"]
    assert (lr.low, lr.high) == (1e-7, 0.1)
    assert s.space["train.batch_size"].choices == [16, 32, 64, 128]
    assert (s.space["train.optimizer.momentum"].low, s.space["train.optimizer.momentum"].high) == (0.5, 0.99)
    assert (s.space["model.dropout"].low, s.space["model.dropout"].high) == (0.1, 0.7)
    assert s.model.kind == kind and s.model.activations()[-1] in ("relu", "tanh")


def test_002_architectures():
    mlp = spec("usps-mlp-coarse-to-fine.yaml").model
    assert mlp.hidden == [128, 64, 32] and mlp.activations() == ["relu", "sigmoid", "relu"]
    cnn = spec("usps-cnn-coarse-to-fine.yaml").model
    assert [(b.filters, b.kernel, b.padding, b.pool) for b in cnn.blocks] == [
        (32, 3, "same", "max"),
        (64, 3, "same", "max"),
    ]
    lcnn = spec("usps-lcnn-coarse-to-fine.yaml").model
    assert [(b.filters, b.kernel, b.stride, b.padding, b.pool, b.bias) for b in lcnn.blocks] == [
        (8, 3, 1, "valid", None, False),
        (16, 3, 2, "valid", "max", False),
    ]
    assert cnn.dense == lcnn.dense == [128] and cnn.dense_activation == lcnn.dense_activation == "tanh"


def test_003_models_are_the_papers():
    nn_models = spec("mnist-nn-models.yaml")
    hidden = {c.name: nn_models.run_config(c.set).model.hidden for c in nn_models.strategy.configs}
    assert hidden == {
        "NN model 1": [128],
        "NN model 1.1": [256, 128],
        "NN model 1.2": [64],
        "NN model 2": [512, 256],
    }
    cnn = spec("mnist-cnn-models.yaml")
    filters = {c.name: [b.filters for b in cnn.run_config(c.set).model.blocks] for c in cnn.strategy.configs}
    assert filters == {
        "CNN model 1": [32, 32],
        "CNN model 1.1": [64, 64],
        "CNN model 1.2": [64, 64, 128, 128, 256, 256],
        "CNN model 2": [32, 64, 128],
    }
    assert cnn.run_config(cnn.strategy.configs[1].set).model.dense == [1024, 512]
    sgd = nn_models.train  # the notebook's compile(optimizer='sgd'): Keras' defaults
    assert (sgd.epochs, sgd.batch_size, sgd.optimizer.name, sgd.optimizer.lr) == (10, 32, "sgd", 0.01)
    assert sgd.optimizer.momentum == 0.0 and sgd.schedule.name == "constant"
    train = cnn.train  # Table 9's CNN defaults: SGD(lr=0.002, momentum=0.7, decay=lr/epochs)
    assert (train.epochs, train.batch_size, train.optimizer.name, train.optimizer.momentum) == (
        5,
        60,
        "sgd",
        0.7,
    )
    assert train.optimizer.lr == 0.002 and math.isclose(train.schedule.decay, 0.002 / 5)
    assert nn_models.objective.metric == cnn.objective.metric == "test_accuracy"


def test_003_staged_is_tables_7_and_8():
    s = spec("mnist-cnn-staged.yaml")
    first, second = s.strategy.stages
    optimizers = [s.run_config(c.set).train.optimizer for c in first.configs]
    assert [(o.name, o.lr, o.momentum) for o in optimizers] == [
        (name, lr, 0.7 if name == "sgd" else 0.0)
        for name in ("sgd", "adam")
        for lr in (0.001, 0.002, 0.005, 0.01)
    ]
    for config in first.configs:  # Keras' decay lr/epochs for SGD, none for Adam
        run = s.run_config(config.set)
        decay = run.train.schedule.decay if run.train.schedule.name == "time" else 0.0
        assert math.isclose(decay, run.train.optimizer.lr / 5 if run.train.optimizer.name == "sgd" else 0.0)
    assert {k: p.choices for k, p in second.space.items()} == {
        "train.batch_size": [30, 60, 120],
        "train.epochs": [5, 10],
    }


@pytest.mark.parametrize("name", ["fashion-mnist-fcn-staged.yaml", "mnist-fcn-staged.yaml"])
def test_004_staged_is_the_papers(name):
    s = spec(name)
    assert (s.data.val_fraction, s.train.batch_size, s.train.epochs) == (0.1, 512, 50)
    assert s.data.normalize == "symmetric"  # the SGD baseline reproduces with [-1, 1], not [0, 1]
    assert (s.train.optimizer.name, s.train.optimizer.lr, s.model.hidden) == ("sgd", 0.01, [512, 256])
    stages = s.strategy.stages
    assert [st.name for st in stages] == ["optimizer_lr", "dropout", "init", "batch_norm", "table-4"]
    assert len(Space(stages[0].space).grid()) == 9
    varied = {
        "dropout": ("dropout", [0.0, 0.2, 0.5]),
        "init": ("init", ["default", "kaiming_uniform", "xavier_normal", "normal"]),
        "batch_norm": ("batch_norm", [False, True]),
    }
    for stage in stages[1:4]:
        field, values = varied[stage.name]
        runs = [s.run_config(c.set) for c in stage.configs]
        got = [getattr(r.model, field) for r in runs]
        assert [g.scheme if field == "init" else g for g in got] == values
        for run in runs:  # every other group stays at the baseline
            assert (run.train.optimizer.name, run.train.optimizer.lr) == ("sgd", 0.01)
            assert run.model.dropout == 0.0 or field == "dropout"
            assert run.model.init.scheme == "default" or field == "init"
            assert run.model.batch_norm is False or field == "batch_norm"
    final = s.run_config(stages[-1].configs[0].set)
    assert (final.train.optimizer.name, final.train.optimizer.lr, final.model.dropout) == ("adam", 0.001, 0.2)
    assert final.model.init.scheme == "kaiming_uniform" and not final.model.batch_norm
    assert (s.final.top, s.final.seeds) == (1, 3)


def test_004_final_is_table_4_on_both_datasets():
    s = spec("fashion-mnist-fcn-final.yaml")
    runs = {c.name: s.run_config(c.set) for c in s.strategy.configs}
    assert {name: run.data.name for name, run in runs.items()} == {
        "fashion-mnist": "fashion-mnist",
        "mnist": "mnist",
    }
    for run in runs.values():
        assert (run.train.optimizer.name, run.train.optimizer.lr, run.model.dropout) == ("adam", 0.001, 0.2)
        assert (run.model.hidden, run.model.init.scheme, run.model.batch_norm) == (
            [512, 256],
            "kaiming_uniform",
            False,
        )
        assert (run.train.epochs, run.train.batch_size, run.data.val_fraction) == (50, 512, 0.1)
        assert run.data.normalize == "symmetric"
    assert s.repeats == 3


# ------------------------------------------------------------------------------------- real runs
TINY = ["data.train_subset=500", "data.val_fraction=0.2", "train.epochs=1"]
SMALL_CNN = ["model.blocks=[{filters: 2, kernel: 3, stride: 2, pool: max}]", "model.dense=[16]"]
# A 10,000-image test evaluation of the papers' CNNs takes seconds each on a CPU: the run tests shrink
# them (their layer counts are checked above, their parameter counts in tests/models).
SMALL_LISTED_CNNS = [f"strategy.configs.{i}.set.{SMALL_CNN[0]}" for i in range(4)]

# file: (extra overrides, n_trials, the stage of each trial in order)
C2F = ["strategy.coarse_trials=3", "strategy.fine_trials=1"]
RUNS = {
    "mnist-mlp-random-search.yaml": ([], 2, ["random"] * 2 + ["final"]),
    "mnist-mlp-000-final.yaml": (["repeats=1"], None, ["listed"] * 2),
    "mnist-mlp-grid.yaml": ([], None, ["grid"] * 8 + ["final"]),
    "usps-mlp-coarse-to-fine.yaml": (C2F, None, ["coarse"] * 3 + ["fine", "final"]),
    "usps-cnn-coarse-to-fine.yaml": (C2F, None, ["coarse"] * 3 + ["fine", "final"]),
    "usps-lcnn-coarse-to-fine.yaml": (C2F, None, ["coarse"] * 3 + ["fine", "final"]),
    "mnist-nn-models.yaml": (["repeats=1"], None, ["listed"] * 4),
    "mnist-cnn-models.yaml": (["repeats=1", *SMALL_LISTED_CNNS], None, ["listed"] * 4),
    "mnist-cnn-staged.yaml": (
        [*SMALL_CNN, "strategy.stages.1.space.train.epochs=[1, 2]"],  # the paper's 5 and 10: too slow here
        None,
        ["optimizer_lr"] * 8 + ["batch_epochs"] * 5 + ["final"],  # its incumbent's point: reused
    ),
    "fashion-mnist-fcn-staged.yaml": (
        [],
        None,
        # the baseline (sgd 0.01) of each later stage is trained once, in the first: reused after
        ["optimizer_lr"] * 9 + ["dropout"] * 2 + ["init"] * 3 + ["batch_norm"] + ["table-4", "final"],
    ),
    "mnist-fcn-staged.yaml": ([], 9, ["optimizer_lr"] * 9),  # the same stages as on Fashion-MNIST
    "fashion-mnist-fcn-final.yaml": (["repeats=1"], None, ["listed"] * 2),
}


def test_every_paper_study_has_a_run():
    assert set(RUNS) == {p.name for p in PAPER}


@needs_data
@pytest.mark.parametrize("name", sorted(RUNS))
def test_paper_study_runs_on_real_data(name, tmp_path):
    extra, n_trials, stages = RUNS[name]
    result = run_study(
        STUDIES / name, out=tmp_path, overrides=TINY + extra, n_trials=n_trials, data_dir=DATA, device="cpu"
    )
    trials = sorted(result.study.get_trials(), key=lambda t: t.number)
    ran = [t for t in trials if t.state != TrialState.WAITING]  # a planned stage queues all its points
    assert [t.state for t in ran] == [TrialState.COMPLETE] * len(stages)
    assert [t.user_attrs["tunelab.stage_name"] for t in ran] == stages
    for trial in ran:
        metrics = trial.user_attrs["tunelab.metrics"]
        assert 0.0 <= metrics["val_accuracy"] <= 1.0 and 0.0 <= metrics["test_accuracy"] <= 1.0
        assert metrics["epochs"] == trial.user_attrs["tunelab.overrides"].get("train.epochs", 1)
    finals = [t for t in ran if is_final(t)]  # once there is a final stage, the answer comes from it
    assert result.best is not None and result.best.value == max(t.value for t in finals or ran)
    assert [len(t.user_attrs["tunelab.seeds"]) for t in finals] == [3] * len(finals)
    if stages[-1] == "fine":  # coarse_to_fine: the fine stage searched inside the bounds it stored
        bounds = load_study(tmp_path).stages()[1].info["bounds"]
        fine = ran[-1].user_attrs["tunelab.overrides"]
        lr = bounds["train.optimizer.lr"]
        assert lr.get("low", lr.get("value")) <= fine["train.optimizer.lr"] <= lr.get("high", lr.get("value"))
        assert fine["train.batch_size"] == bounds["train.batch_size"]["value"]
