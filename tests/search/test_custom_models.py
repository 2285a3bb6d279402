"""Studies of a user's model factory: every strategy, pruning, repeats, populations, resume, report."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
import yaml
from optuna.trial import TrialState
from torch import nn
from typer.testing import CliRunner

from tunelab.config import MLPConfig
from tunelab.errors import ConfigError
from tunelab.models import MODELS, build_mlp
from tunelab.search import execution, load_study, run_study
from tunelab.search.record import TrialRecord

EXAMPLES = Path(__file__).resolve().parents[2] / "studies" / "examples"
STUDIES = sorted(p.stem.removeprefix("digits-") for p in EXAMPLES.glob("digits-*.yaml"))
FAST = {"grid", "random", "asha", "listed"}


def mlp_factory(input_shape, n_classes, hidden=(128,), activation="relu", dropout=0.0, batch_norm=False):
    """The built-in MLP, as a user's factory: the same network from the same seed."""
    cfg = MLPConfig(hidden=list(hidden), activation=activation, dropout=dropout, batch_norm=batch_norm)
    return build_mlp(cfg, input_shape, n_classes)


class Branchy(nn.Module):
    """A network vmap cannot run (it reads a value with .item()): it trains one run at a time."""

    def __init__(self, input_shape, n_classes, width=16):
        super().__init__()
        c, h, w = input_shape
        self.body = nn.Sequential(
            nn.Flatten(), nn.Linear(c * h * w, width), nn.ReLU(), nn.Linear(width, n_classes)
        )

    def forward(self, x):
        return self.body(x) if x.abs().sum().item() >= 0 else -self.body(x)


def as_factory_study(path: Path, **changes: Any) -> dict[str, Any]:
    """An example study with its MLP given by ``mlp_factory``: ``model.<x>`` becomes ``model.params.<x>``."""
    raw = yaml.safe_load(path.read_text())

    def moved(key: str) -> str:
        head = key.split(".")[1] if key.startswith("model.") else None
        return key.replace("model.", "model.params.", 1) if head not in (None, "init", "kind") else key

    def space(section: dict[str, Any]) -> dict[str, Any]:
        return {moved(k): v for k, v in section.items()}

    model = raw.get("model", {})
    raw["model"] = {"kind": "mlp-factory", "init": model.get("init", "default")}
    raw["model"]["params"] = {k: v for k, v in model.items() if k not in ("kind", "init")}
    raw["space"] = space(raw.get("space", {}))
    strategy = raw.get("strategy")
    if isinstance(strategy, dict):
        for stage in strategy.get("stages", []):
            stage["space"] = space(stage.get("space", {}))
            for named in stage.get("configs", []):
                named["set"] = space(named["set"])
        for named in strategy.get("configs", []):
            named["set"] = space(named["set"])
    return raw | changes


@pytest.fixture(autouse=True)
def _register():
    from tunelab.models import register

    register("mlp-factory", mlp_factory)
    register("branchy", Branchy)


@pytest.mark.parametrize(
    "name", [pytest.param(n, marks=() if n in FAST else pytest.mark.slow) for n in STUDIES]
)
def test_every_strategy_runs_a_factory_study(tmp_path, name):
    raw = as_factory_study(EXAMPLES / f"digits-{name}.yaml")
    raw["train"] = raw["train"] | {"epochs": 2}
    if raw.get("budget", {}).get("n_trials"):
        raw["budget"] = {"n_trials": 4}
    if name == "coarse-to-fine":
        raw["strategy"] |= {"coarse_trials": 4, "fine_trials": 2}
    result = run_study(raw, out=tmp_path)
    trials = result.study.get_trials()
    assert trials and all(t.state in (TrialState.COMPLETE, TrialState.PRUNED) for t in trials)
    assert result.best is not None and result.best.value > 0.1
    for trial in trials:
        overrides = TrialRecord.from_trial(trial).overrides
        for key, value in trial.params.items():
            if key.startswith("model.params."):  # a searched setting reached the factory's params
                head, _, layer = key.rpartition(".")
                per_layer = layer.isdigit() and head in overrides  # model.params.hidden.0 of a list
                assert (overrides[head][int(layer)] if per_layer else overrides[key]) == value
    if name == "listed":
        assert all(len(TrialRecord.from_trial(t).runs) == 3 for t in trials)  # repeats: 3 seeds


@pytest.mark.slow
def test_a_factory_study_gives_the_built_in_studys_results(tmp_path):
    """The built-in MLP and the same network from a factory train the same, trial by trial."""
    grid = yaml.safe_load((EXAMPLES / "digits-grid.yaml").read_text())
    changes = {"population": 1, "train": grid["train"] | {"epochs": 2}}
    built_in = run_study(grid | changes, out=tmp_path / "built-in")
    factory = run_study(as_factory_study(EXAMPLES / "digits-grid.yaml", **changes), out=tmp_path / "factory")

    def by_point(result, prefix):  # grid points are queued population by population: by point, not number
        trials = result.study.get_trials()
        return {
            tuple(sorted((k.replace(prefix, "model."), v) for k, v in t.params.items())): t.value
            for t in trials
        }

    values = by_point(built_in, "model.")
    assert by_point(factory, "model.params.") == values and len(values) == 8


def test_same_setting_trials_train_as_one_population_and_unvmappable_ones_alone(tmp_path, monkeypatch):
    sizes: list[int] = []
    real = execution.train_population

    def spy(configs, *args, **kwargs):
        sizes.append(len(configs))
        return real(configs, *args, **kwargs)

    monkeypatch.setattr(execution, "train_population", spy)
    study = {
        "name": "populations",
        "data": {"name": "digits", "val_fraction": 0.2},
        "train": {"epochs": 1, "batch_size": 64},
        "space": {"train.optimizer.lr": [0.001, 0.003, 0.01]},
        "strategy": "grid",
        "repeats": 2,
    }
    vmapped = run_study(
        study | {"model": {"kind": "mlp-factory", "params": {"hidden": [16]}}}, out=tmp_path / "a"
    )
    assert sizes == [6]  # three trials × two seeds, one population
    runs = [r for t in vmapped.study.get_trials() for r in TrialRecord.from_trial(t).runs]
    assert [r["population"] for r in runs] == [6] * 6
    sizes.clear()
    alone = run_study(study | {"name": "alone", "model": {"kind": "branchy"}}, out=tmp_path / "b")
    assert sizes == []
    records = [TrialRecord.from_trial(t) for t in alone.study.get_trials()]
    assert [r.outcome for r in records] == ["completed"] * 3 and all(len(r.runs) == 2 for r in records)
    assert all("population" not in run for r in records for run in r.runs)


def test_a_trial_whose_settings_the_factory_refuses_fails_alone_saying_why(tmp_path):
    def picky(input_shape, n_classes, width=8):
        if width > 8:
            raise ValueError(f"width {width} is too wide")
        return mlp_factory(input_shape, n_classes, hidden=[width])

    from tunelab.models import register

    register("picky", picky)
    study = {
        "name": "picky",
        "data": {"name": "digits"},
        "model": {"kind": "picky"},
        "train": {"epochs": 1, "batch_size": 64},
        "space": {"model.params.width": [4, 16]},
        "strategy": "grid",
        "population": 1,
    }
    records = [TrialRecord.from_trial(t) for t in run_study(study, out=tmp_path).study.get_trials()]
    by_width = {r.overrides["model.params.width"]: r for r in records}
    assert by_width[4].outcome == "completed"
    assert by_width[16].outcome == "error"
    assert by_width[16].reason == (
        "model 'picky': its factory raised ValueError: width 16 is too wide (model.params: {'width': 16})"
    )


def test_a_factory_that_fails_on_the_study_files_settings_stops_before_any_trial(tmp_path):
    from tunelab.models import register

    register("seven", lambda shape, n: nn.Sequential(nn.Flatten(), nn.LazyLinear(7)))
    study = {
        "name": "seven",
        "model": {"kind": "seven"},
        "space": {"train.optimizer.lr": [0.001, 0.01]},
        "strategy": "grid",
    }
    with pytest.raises(
        ConfigError, match=r"^model 'seven' returns shape \(N, 7\) for 1×8×8 images, expected \(N, 10\)"
    ):
        run_study(study, out=tmp_path)
    assert load_study(tmp_path).study.get_trials() == []


def test_a_factory_study_resumes_without_rerunning_a_trial(tmp_path):
    raw = as_factory_study(EXAMPLES / "digits-random.yaml")
    raw["train"] |= {"epochs": 1}
    first = run_study(raw, out=tmp_path, n_trials=2)
    numbers = {t.number: t.params for t in first.study.get_trials()}
    again = run_study(raw, out=tmp_path, n_trials=4)
    trials = again.study.get_trials()
    assert len(trials) == 4 and {t.number: t.params for t in trials[:2]} == numbers
    assert all(t.state == TrialState.COMPLETE for t in trials)


@pytest.mark.slow
def test_status_and_the_report_read_a_factory_study_where_the_factory_is_not_registered(tmp_path):
    from tunelab.cli import app

    study = {
        "name": "report-me",
        "data": {"name": "digits"},
        "model": {"kind": "mlp-factory", "params": {"hidden": [16]}},
        "train": {"epochs": 2, "batch_size": 64},
        "space": {"model.params.hidden.0": [8, 16], "train.optimizer.lr": [0.003, 0.01]},
        "strategy": "grid",
    }
    run_study(study, out=tmp_path / "study")
    del MODELS["mlp-factory"]  # as in another process: `tunelab report` in a shell
    runner = CliRunner()
    status = runner.invoke(app, ["status", str(tmp_path / "study")])
    assert status.exit_code == 0, status.output
    report = runner.invoke(app, ["report", str(tmp_path / "study"), "--out", str(tmp_path / "report")])
    assert report.exit_code == 0, report.output
    html = (tmp_path / "report" / "report.html").read_text()
    assert "mlp-factory" in html and "model.params.hidden.0" in html
    # what builds the network again names the missing factory
    again = runner.invoke(
        app, ["run", str(tmp_path / "study" / "study.yaml"), "--out", str(tmp_path / "study")]
    )
    assert again.exit_code == 2 and "unknown model 'mlp-factory'" in again.output


def test_a_population_of_factory_networks_matches_their_lone_runs():
    from tunelab.config import validate_run_config
    from tunelab.data import load_splits
    from tunelab.train import train
    from tunelab.train.population import train_population

    def cfg(seed, lr):
        return validate_run_config(
            {
                "data": {"name": "digits", "train_subset": 600},
                "model": {"kind": "mlp-factory", "params": {"hidden": [16, 8]}},
                "train": {
                    "epochs": 3,
                    "batch_size": 64,
                    "seed": seed,
                    "optimizer": {"name": "adam", "lr": lr},
                },
            }
        )

    configs = [cfg(0, 1e-3), cfg(1, 3e-3), cfg(2, 1e-2)]
    splits = load_splits(configs[0].data)
    for config, member in zip(configs, train_population(configs, splits), strict=True):
        alone = train(config, splits)
        for a, b in zip(alone.history, member.history, strict=True):
            assert b["train_loss"] == pytest.approx(a["train_loss"], rel=1e-4, abs=1e-5)
            assert b["grad_dense1"] == pytest.approx(a["grad_dense1"], rel=1e-2)
        for key, value in alone.model.state_dict().items():
            torch.testing.assert_close(member.model.state_dict()[key], value, rtol=1e-2, atol=1e-3)
