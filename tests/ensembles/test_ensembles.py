"""Weighted soft voting: the weight search on synthetic probabilities, then real studies on digits."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import typer
from sklearn.exceptions import NotFittedError
from typer.testing import CliRunner

from tunelab.cli import user_errors
from tunelab.config.data import SPLIT_FIELDS
from tunelab.ensembles import EnsembleResult, WeightedVote, load_members, predict_members, run_ensemble
from tunelab.ensembles.cli import ensemble
from tunelab.errors import ConfigError
from tunelab.search import load_study, open_study, run_study, validate_study_spec


# ------------------------------------------------------------------------------------ synthetic
def synthetic(seed: int, n: int = 300, n_classes: int = 5, skills=(0.9, 0.6, 0.3)):
    """Members that put extra mass on the true class with probability ``skill``, else on a random one."""
    rng = np.random.default_rng(seed)
    y = rng.integers(n_classes, size=n)
    probs = []
    for skill in skills:
        p = rng.dirichlet(np.ones(n_classes), size=n)
        hit = np.where(rng.random(n) < skill, y, rng.integers(n_classes, size=n))
        p[np.arange(n), hit] += 1.5
        probs.append(p / p.sum(axis=1, keepdims=True))
    return np.stack(probs), y


def accuracy(probs: np.ndarray, y: np.ndarray) -> float:
    return float((probs.argmax(axis=-1) == y).mean())


@pytest.mark.parametrize("seed", range(5))
def test_weights_lie_on_the_simplex_and_never_lose_to_the_best_member(seed):
    probs, y = synthetic(seed)
    vote = WeightedVote(n_trials=50, seed=seed).fit(probs, y)
    assert vote.weights_.shape == (3,) and (vote.weights_ >= 0).all()
    assert vote.weights_.sum() == pytest.approx(1.0)
    assert np.allclose(vote.candidates_.sum(axis=1), 1.0) and (vote.candidates_ >= 0).all()
    assert len(vote.candidates_) == 3 + 1 + 50  # each member alone, equal weights, the draws
    best_member = max(accuracy(p, y) for p in probs)
    assert vote.best_score_ >= best_member
    assert accuracy(vote.predict_proba(probs), y) == vote.best_score_ == vote.scores_.max()
    assert (vote.predict(probs) == vote.predict_proba(probs).argmax(axis=1)).all()
    assert vote.predict_proba(probs).sum(axis=1) == pytest.approx(np.ones(len(y)))


def test_a_perfect_confident_member_gets_all_the_weight():
    probs, y = synthetic(0, skills=(0.3, 1.0, 0.3))
    probs[1] = np.full_like(probs[1], 0.01)
    probs[1][np.arange(len(y)), y] = 1 - 0.01 * (probs.shape[2] - 1)
    vote = WeightedVote(n_trials=100).fit(probs, y)
    assert vote.weights_.tolist() == [0.0, 1.0, 0.0]  # any mix is as accurate but has a higher log-loss
    assert np.array_equal(vote.predict_proba(probs), probs[1])  # a one-hot vote is that member
    assert vote.best_score_ == 1.0


def test_the_search_is_deterministic_given_the_seed():
    probs, y = synthetic(3)
    first, again = WeightedVote(40, seed=7).fit(probs, y), WeightedVote(40, seed=7).fit(probs, y)
    assert np.array_equal(first.candidates_, again.candidates_)
    assert np.array_equal(first.weights_, again.weights_)
    other = WeightedVote(40, seed=8).fit(probs, y)
    assert not np.array_equal(first.candidates_[4:], other.candidates_[4:])
    assert np.array_equal(first.candidates_[:4], other.candidates_[:4])  # vertices and equal weights


def test_no_draws_still_tries_each_member_and_equal_weights():
    probs, y = synthetic(1)
    vote = WeightedVote(n_trials=0).fit(list(probs), list(y))
    assert np.allclose(vote.candidates_, np.vstack([np.eye(3), np.full((1, 3), 1 / 3)]))
    single = WeightedVote(n_trials=5).fit(probs[:1], y)
    assert single.weights_.tolist() == [1.0]


def test_bad_input_to_the_vote():
    probs, y = synthetic(0)
    with pytest.raises(NotFittedError):
        WeightedVote().predict_proba(probs)
    with pytest.raises(ValueError, match="n_members, n_images, n_classes"):
        WeightedVote().fit(probs[0], y)
    with pytest.raises(ValueError, match="y has shape"):
        WeightedVote().fit(probs, y[:-1])
    with pytest.raises(ValueError, match="n_trials"):
        WeightedVote(n_trials=-1).fit(probs, y)
    with pytest.raises(ValueError, match="fitted on 3"):
        WeightedVote().fit(probs, y).predict_proba(probs[:2])


# --------------------------------------------------------------------------------------- digits
TRAIN = {"epochs": 3, "batch_size": 32, "device": "cpu", "track_gradients": False}
DIGITS = {"name": "digits", "val_fraction": 0.2}
MLP = {
    "name": "ens-mlp",
    "data": DIGITS,
    "model": {"kind": "mlp", "hidden": [32]},
    "train": TRAIN,
    "space": {"train.optimizer.lr": [0.003, 0.01]},
    "strategy": "grid",
}
CNN = {
    "name": "ens-cnn",
    # Another scaling than the MLP's: each member must be fed the images as its own config scales them.
    "data": DIGITS | {"normalize": "symmetric"},
    "model": {
        "kind": "cnn",
        "blocks": [{"filters": 8, "kernel": 3, "padding": "same", "pool": "max"}],
        "dense": [32],
    },
    "train": TRAIN,
    "space": {"train.optimizer.lr": [0.003, 0.01]},
    "strategy": "grid",
}
OTHER_SPLIT = MLP | {
    "name": "ens-val10",
    "data": DIGITS | {"val_fraction": 0.1},
    "train": TRAIN | {"epochs": 1},
}


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    """Three small real studies, run once for the file: an MLP, a CNN, and an MLP on another split."""
    root = tmp_path_factory.mktemp("studies")
    for spec in (MLP, CNN, OTHER_SPLIT):
        run_study(spec, out=root / spec["name"])
    return {spec["name"]: root / spec["name"] for spec in (MLP, CNN, OTHER_SPLIT)}


@pytest.fixture(scope="module")
def result(folders) -> EnsembleResult:
    return run_ensemble([folders["ens-mlp"], folders["ens-cnn"]], n_trials=50)


def test_ensemble_of_an_mlp_and_a_cnn(result, folders):
    best = {name: load_study(folders[name]).best().number for name in ("ens-mlp", "ens-cnn")}
    assert [m.name for m in result.members] == [f"ens-mlp#{best['ens-mlp']}", f"ens-cnn#{best['ens-cnn']}"]
    assert [m.kind for m in result.members] == ["mlp", "cnn"]
    assert len(result.weights) == 2 and sum(result.weights) == pytest.approx(1.0)
    assert min(result.weights) >= 0
    assert result.val_accuracy >= max(m.val_accuracy for m in result.members)
    assert result.val_accuracy > 0.8 and result.test_accuracy > 0.8
    assert (result.n_val, result.n_test, result.studies) == (270, 450, ["ens-mlp", "ens-cnn"])
    split = {"name": "digits", "val_fraction": 0.2, "split_seed": 0}
    assert result.data == dict.fromkeys(SPLIT_FIELDS) | split
    assert np.asarray(result.test.confusion).shape == (10, 10) and np.trace(result.test.confusion) == round(
        result.test_accuracy * 450
    )
    assert 0 < result.test.f1 <= 1


def test_members_are_measured_as_training_measured_them(result):
    """Rebuilt networks fed their own scaling reproduce the accuracies the runs recorded."""
    for member in result.members:
        recorded = json.loads((Path(member.folder) / "metrics.json").read_text())
        assert member.val_accuracy == pytest.approx(recorded["val"]["accuracy"])
        assert member.test_accuracy == pytest.approx(recorded["test"]["accuracy"])


def test_top_two_takes_the_two_best_trials_of_each_study(folders):
    handles = [load_study(folders["ens-mlp"]), load_study(folders["ens-cnn"])]
    members = load_members(handles, top=2)
    assert [m.study for m in members] == ["ens-mlp", "ens-mlp", "ens-cnn", "ens-cnn"]
    values = {t.number: t.value for t in handles[0].study.get_trials()}
    assert values[members[0].trial] >= values[members[1].trial]
    probs = predict_members(members)
    assert probs.val.shape == (4, 270, 10) and probs.test.shape == (4, 450, 10)
    assert np.allclose(probs.val.sum(axis=2), 1.0)
    # More trials than a study has: all of them, no error.
    assert len(load_members(handles, top=5)) == 4


def test_save_and_load_round_trip(result, tmp_path):
    folder = result.save(tmp_path / "e")
    assert EnsembleResult.load(folder) == result
    table = (folder / "members.csv").read_text().splitlines()
    assert table[0].startswith("name,study,trial,kind,weight,val_accuracy") and len(table) == 3
    assert table[1].startswith(f"{result.members[0].name},ens-mlp,{result.members[0].trial},mlp,")
    assert list(result.table()["name"])[-1] == "ensemble"
    with pytest.raises(ConfigError, match=r"no results\.json"):
        EnsembleResult.load(tmp_path)


def test_bad_studies_are_config_errors(folders, tmp_path):
    with pytest.raises(ConfigError, match=r"use different splits \(data.val_fraction is 0.2 and 0.1\)"):
        run_ensemble([folders["ens-mlp"], folders["ens-val10"]])
    with pytest.raises(ConfigError, match="top must be at least 1"):
        run_ensemble([folders["ens-mlp"]], top=0)
    with pytest.raises(ConfigError, match="named 'ens-mlp'; give each study once"):
        run_ensemble([folders["ens-mlp"], folders["ens-mlp"]])
    empty = open_study(validate_study_spec(MLP | {"name": "ens-empty"}), out_dir=tmp_path / "empty")
    with pytest.raises(ConfigError, match="'ens-empty' has no completed trial"):
        load_members([empty])
    # The study file instead of its output folder: the storage is found, the models are not.
    mlp = load_study(folders["ens-mlp"])
    spec_file = tmp_path / "ens-mlp.yaml"
    spec_file.write_text((folders["ens-mlp"] / "study.yaml").read_text())
    away = load_study(spec_file, storage=mlp.url)
    with pytest.raises(ConfigError, match=r"config\.yaml is missing; give the study's output folder"):
        load_members([away])


# ------------------------------------------------------------------------------------------ cli
app = typer.Typer()
app.command()(user_errors(ensemble))
runner = CliRunner()


def test_cli_prints_the_table_and_writes_the_folder(folders, tmp_path):
    out = tmp_path / "e"
    args = [str(folders["ens-mlp"]), str(folders["ens-cnn"]), "--out", str(out), "--n-trials", "20"]
    done = runner.invoke(app, args)
    assert done.exit_code == 0, done.output
    assert "ensemble" in done.stdout and "ens-cnn#" in done.stdout and "written to" in done.stderr
    loaded = EnsembleResult.load(out)
    assert loaded.n_trials == 20 and (out / "members.csv").is_file()


def test_cli_json_and_default_folder(folders, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    done = runner.invoke(app, [str(folders["ens-mlp"]), str(folders["ens-cnn"]), "--top", "2", "--json"])
    assert done.exit_code == 0, done.output
    summary = json.loads(done.stdout)
    folder = tmp_path / "runs" / "ensemble-ens-mlp+ens-cnn"
    assert summary["out"] == str(folder.relative_to(tmp_path)) and len(summary["members"]) == 4
    assert EnsembleResult.load(folder).weights == summary["weights"]


def test_cli_ensembles_a_study_on_a_users_npz(tmp_path):
    rng = np.random.default_rng(0)
    y = np.arange(120) % 3
    x = np.clip(128 + rng.normal(0, 40, (3, 8, 8))[y] + rng.normal(0, 5, (120, 8, 8)), 0, 255)
    np.savez(tmp_path / "mine.npz", x_train=x.astype(np.uint8), y_train=y)
    study = MLP | {"name": "own-npz", "data": {"name": "arrays", "path": str(tmp_path / "mine.npz")}}
    run_study(study | {"train": TRAIN | {"epochs": 1}}, out=tmp_path / "study")
    done = runner.invoke(app, [str(tmp_path / "study"), "--top", "2", "--out", str(tmp_path / "e")])
    assert done.exit_code == 0, done.output
    assert "split: arrays, validation 10% of train (split seed 0), as the study own-npz" in done.stderr
    assert EnsembleResult.load(tmp_path / "e").data["path"] == str(tmp_path / "mine.npz")


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        (["ens-val10"], "use different splits (data.val_fraction is 0.2 and 0.1)"),
        (["--top", "0"], "--top: expected 1 or more, got '0'"),
        (["--n-trials", "-1"], "--n-trials: expected 0 or more, got '-1'"),
    ],
)
def test_cli_bad_input_exits_2_with_one_line(folders, tmp_path, extra, expected):
    from tunelab.cli import app as tunelab_app  # its own one-line answer to a value out of range

    args = [str(folders.get(a, a)) for a in ["ens-mlp", *extra]] + ["--out", str(tmp_path / "e")]
    done = runner.invoke(tunelab_app, ["ensemble", *args])
    assert done.exit_code == 2, done.output
    assert expected in done.stderr and len(done.stderr.strip().splitlines()) == 1
    assert "Traceback" not in done.output and not (tmp_path / "e").exists()


def test_importing_the_command_does_not_import_torch():
    code = "import sys, tunelab.ensembles.cli; print('torch' in sys.modules)"
    assert (
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip() == "False"
    )


def test_the_ensemble_appears_in_the_study_report(folders, result, tmp_path):
    from tunelab.analysis.report import build_report
    from tunelab.search import load_study

    saved = result.save(tmp_path / "vote")
    page = build_report(load_study(folders["ens-mlp"]), tmp_path / "report", ensembles=[saved])
    html = page.read_text()
    assert "Ensembles" in html and f"{result.test_accuracy:.4f}" in html
    table = (tmp_path / "report" / "tables" / "ensemble_1.csv").read_text()
    assert "ensemble" in table and (tmp_path / "report" / "tables" / "ensemble_1.tex").is_file()
