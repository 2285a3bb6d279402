"""Paper 002's diagnostics on the bundled digits: each probe's table, its figures and what it shows."""

from __future__ import annotations

import math

import pandas as pd
import pytest
import typer
import yaml
from typer.testing import CliRunner

from tunelab.config import DataConfig, MLPConfig, OptimizerConfig, RunConfig, TrainConfig
from tunelab.errors import ConfigError
from tunelab.probes import PROBES, run_probe
from tunelab.probes.cli import NAMES, probe
from tunelab.probes.init_scale import DEFAULT_RANGES, default_ranges
from tunelab.search import run_study

BASE = RunConfig(
    name="digits-probe",
    data=DataConfig(name="digits", val_fraction=0.2, normalize="standardize"),
    model=MLPConfig(hidden=[32, 16]),
    train=TrainConfig(
        epochs=3, batch_size=64, optimizer=OptimizerConfig(name="sgd", lr=0.05, momentum=0.5), device="cpu"
    ),
)
LAYERS = ["grad_dense1", "grad_dense2", "grad_out"]
STUDY = {
    "name": "probe-study",
    "data": {"name": "digits", "val_fraction": 0.2, "normalize": "standardize"},
    "model": {"kind": "mlp", "hidden": [32]},
    "train": {"epochs": 2, "batch_size": 64, "optimizer": {"name": "sgd", "momentum": 0.5}, "device": "cpu"},
    "space": {
        "train.optimizer.lr": {"low": 1.0e-4, "high": 0.3, "log": True},
        "train.optimizer.momentum": {"low": 0.5, "high": 0.95},
        "model.dropout": {"low": 0.0, "high": 0.5},
        "train.batch_size": [32, 64],
    },
    "strategy": {"name": "coarse_to_fine", "coarse_trials": 6, "fine_trials": 1},
}


def by(table: pd.DataFrame, column: str) -> dict:
    return {key: frame for key, frame in table.groupby(column, sort=False)}


@pytest.fixture(scope="module")
def study_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("study")
    run_study(STUDY, out=out)
    return out


def test_registry_holds_the_six_probes_and_the_cli_names_them():
    assert list(PROBES) == list(NAMES)
    assert all(p.title and callable(p.compute) and callable(p.summarize) for p in PROBES.values())
    with pytest.raises(ConfigError, match="unknown probe 'nope'"):
        run_probe("nope", BASE, "unused")


def test_init_scale_larger_range_gives_larger_gradients(tmp_path):
    ranges = {
        "small": {"scheme": "uniform", "low": -0.001, "high": 0.001},
        "medium": {"scheme": "uniform", "low": -0.05, "high": 0.05},
        "large": {"scheme": "uniform", "low": -0.5, "high": 0.5},
    }
    result = run_probe("init_scale", BASE, tmp_path, ranges=ranges, epochs=2)
    table = result.table
    assert len(table) == 3 * 3 and list(table["init"].unique()) == ["small", "medium", "large"]
    assert set(table["layer"]) == {"dense1", "dense2", "out"}
    assert {"scheme", "low", "high", "grad", "grad_first", "status"} <= set(table.columns)
    grads = result.summary.set_index("init")["grad"]
    assert 0 < grads["small"] < grads["medium"] < grads["large"]
    for layer, frame in table.groupby("layer"):  # and layer by layer
        assert frame["grad"].is_monotonic_increasing, layer


def test_init_scale_defaults_are_the_papers_slow_effective_fast():
    assert DEFAULT_RANGES["slow"] == {"scheme": "uniform", "low": -0.001, "high": 0.001}
    assert DEFAULT_RANGES["effective"] == {"scheme": "xavier_uniform"}
    assert DEFAULT_RANGES["fast"] == {"scheme": "uniform", "low": 10.0, "high": 20.0}
    assert default_ranges("mlp") == DEFAULT_RANGES
    for kind in ("cnn", "lcnn"):  # the paper's CNN and LCNN "fast" range is (10,000, 20,000)
        assert default_ranges(kind)["fast"] == {"scheme": "uniform", "low": 10_000.0, "high": 20_000.0}
        assert default_ranges(kind)["slow"] == DEFAULT_RANGES["slow"]


def test_lr_scale_small_factor_barely_learns(tmp_path):
    result = run_probe("lr_scale", BASE, tmp_path)
    table = result.table
    assert list(table["factor"].unique()) == [0.01, 1.0, 10.0, 100.0]
    columns = {"initial_lr", "lr", "epoch", "train_loss", "val_accuracy", "status", *LAYERS}
    assert columns <= set(table.columns)
    runs = by(table, "factor")
    assert len(runs[1.0]) == len(runs[0.01]) == 3  # completed runs span every epoch
    assert runs[0.01]["initial_lr"].iloc[0] == pytest.approx(0.0005)
    assert runs[100.0]["initial_lr"].iloc[0] == pytest.approx(5.0)
    drop = {f: runs[f]["train_loss"].iloc[0] - runs[f]["train_loss"].iloc[-1] for f in (0.01, 1.0)}
    assert drop[1.0] > 5 * abs(drop[0.01])
    assert runs[1.0]["train_loss"].iloc[-1] < runs[0.01]["train_loss"].iloc[-1]
    assert set(result.summary.columns) >= {"factor", "first_loss", "last_loss", "status"}


def test_batch_size_probe_tracks_gradients_every_epoch(tmp_path):
    result = run_probe("batch_size", BASE, tmp_path, epochs=2)
    table = result.table
    assert list(table["batch_size"].unique()) == [8, 32] and len(table) == 4
    assert (table[LAYERS].to_numpy() > 0).all()
    assert (table["grad_mean"] == table[LAYERS].mean(axis=1)).all()
    assert list(result.summary["batch_size"]) == [8, 32]


def test_momentum_near_one_gives_larger_gradients(tmp_path):
    result = run_probe("momentum", BASE, tmp_path, epochs=2)
    assert list(result.table["momentum"].unique()) == [0.5, 0.6, 0.7, 0.8, 0.9, 0.99]
    assert len(result.table) == 6 * 2
    grads = result.summary.set_index("momentum")["grad"]
    assert grads[0.99] > grads[0.5]


def test_momentum_needs_an_optimizer_with_momentum(tmp_path):
    with pytest.raises(ConfigError, match="has no momentum"):
        run_probe("momentum", BASE, tmp_path, overrides=["train.optimizer={name: adam}"])


def test_dropout_099_impedes_training(tmp_path):
    result = run_probe("dropout", BASE, tmp_path)
    runs = by(result.table, "dropout")
    assert list(runs) == ["tuned (0)", "0.99"]
    assert runs["0.99"]["train_loss"].iloc[-1] > runs["tuned (0)"]["train_loss"].iloc[-1] + 0.5
    assert runs["0.99"]["val_accuracy"].iloc[-1] < runs["tuned (0)"]["val_accuracy"].iloc[-1]


def test_correlation_reads_the_coarse_stage(study_dir, tmp_path):
    result = run_probe("correlation", study_dir, tmp_path)
    table = result.table
    assert result.options == {"stage": ["coarse"], "trials": 6}
    assert set(table["parameter"]) == {
        "train.optimizer.lr",
        "train.optimizer.momentum",
        "model.dropout",
        "train.batch_size",
    }
    assert (table["n"] == 6).all()
    finite = table.dropna(subset=["spearman"])
    assert not finite.empty and finite["spearman"].between(-1, 1).all()
    assert finite["p_value"].between(0, 1).all()
    by_strength = result.summary["spearman"].abs().dropna()
    assert by_strength.is_monotonic_decreasing
    fine = run_probe("correlation", study_dir, tmp_path / "fine", stage="fine")
    assert fine.options == {"stage": ["fine"], "trials": 1} and fine.table["spearman"].isna().all()
    with pytest.raises(ConfigError, match="no stage 'middle'"):
        run_probe("correlation", study_dir, tmp_path, stage="middle")
    with pytest.raises(ConfigError, match="reads a study"):
        run_probe("correlation", BASE, tmp_path)


def test_a_study_base_is_its_best_trial(study_dir, tmp_path):
    from tunelab.search import load_study

    best = load_study(study_dir).best()
    result = run_probe("lr_scale", study_dir, tmp_path, factors=[1.0], epochs=1)
    tuned = best.user_attrs["tunelab.overrides"]["train.optimizer.lr"]
    assert result.options["tuned_lr"] == pytest.approx(tuned)
    assert f"best trial #{best.number}" in result.base
    assert len(result.table) == 1  # epochs=1 overrides the study's 2


def test_files_and_index(tmp_path):
    run_probe("dropout", BASE, tmp_path, epochs=1)
    result = run_probe("batch_size", BASE, tmp_path, epochs=1, sizes=[16, 64])
    for name in ("dropout", "batch_size"):
        assert (tmp_path / f"{name}.png").stat().st_size > 1000
        assert (tmp_path / f"{name}.svg").read_text().lstrip().startswith("<?xml")
        table = pd.read_csv(tmp_path / f"{name}.csv")
        assert len(table) == 2 and table["epoch"].tolist() == [1, 1]
    index = (tmp_path / "index.md").read_text()
    assert PROBES["dropout"].title in index and PROBES["batch_size"].title in index
    assert "![" in index and "(batch_size.png)" in index and "| batch_size |" in index
    assert result.paths["index"] == tmp_path / "index.md"


def test_diverged_runs_are_kept_and_plotted(tmp_path):
    result = run_probe("lr_scale", BASE, tmp_path, factors=[1.0, 1e6], epochs=2)
    runs = by(result.table, "factor")
    assert runs[1e6]["status"].iloc[0] == "diverged"
    assert not math.isfinite(runs[1e6]["train_loss"].iloc[-1]) or runs[1e6]["train_loss"].iloc[-1] > 10
    assert (tmp_path / "lr_scale.png").is_file()


def test_cli_probe_command(tmp_path):
    app = typer.Typer()
    app.command()(probe)
    app.command("other", hidden=True)(lambda: None)  # more than one command: the name is an argument
    run_file = tmp_path / "run.yaml"
    run_file.write_text(yaml.safe_dump(BASE.model_dump(mode="json")))
    out = tmp_path / "out"
    args = [
        "probe",
        "dropout",
        str(run_file),
        "--out",
        str(out),
        "--epochs",
        "1",
        "--set",
        "model.dropout=0.1",
    ]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    table = pd.read_csv(out / "dropout.csv")
    assert list(table["dropout"]) == ["tuned (0.1)", "0.99"]
    assert (out / "index.md").is_file() and (out / "dropout.svg").is_file()
    bad = CliRunner().invoke(app, ["probe", "nope", str(run_file)])
    assert isinstance(bad.exception, ConfigError)


def test_report_shows_a_probe_folders_figures_and_tables(study_dir, tmp_path):
    from tunelab.analysis.report import build_report
    from tunelab.search import load_study

    probes = tmp_path / "probes"
    run_probe("dropout", study_dir, probes, epochs=1)
    run_probe("correlation", study_dir, probes)
    page = build_report(load_study(study_dir), tmp_path / "report", probes=[probes]).read_text()
    assert ">Probes<" in page
    for name in ("dropout", "correlation"):
        assert (tmp_path / "report" / "figures" / f"probe_{name}.png").is_file()
        summary = pd.read_csv(tmp_path / "report" / "tables" / f"probe_{name}.csv")
        assert len(summary) >= 1
    with pytest.raises(ConfigError, match="no probe tables here"):
        build_report(load_study(study_dir), tmp_path / "again", probes=[tmp_path / "report"])
