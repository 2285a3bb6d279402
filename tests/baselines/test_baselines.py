from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
import typer
from sklearn.metrics import f1_score
from sklearn.neighbors import KNeighborsClassifier
from threadpoolctl import threadpool_limits
from typer.testing import CliRunner

from tunelab.baselines import BASELINES, BaselineResults, resolve_models, run_baselines
from tunelab.baselines.cli import baselines
from tunelab.cli import user_errors
from tunelab.config import DataConfig
from tunelab.data import load_splits
from tunelab.errors import ConfigError

DIGITS = DataConfig(name="digits")
MIN_TEST_ACCURACY = {
    "svm-rbf": 0.97,
    "svm-poly": 0.97,
    "svm-linear": 0.93,
    "knn": 0.95,
    "random-forest": 0.93,
    "sgd": 0.90,
    "logreg": 0.93,
}


@pytest.fixture(scope="module", autouse=True)
def _one_blas_thread():
    # These fits are tiny: on a busy machine, BLAS/OpenMP threads spin-waiting for a core make lbfgs
    # on digits ~70× slower (2.5 s instead of 0.04 s). One thread keeps the file within seconds.
    with threadpool_limits(1):
        yield


@pytest.fixture(scope="module")
def defaults() -> BaselineResults:
    """Every baseline with its defaults on digits (fitted once for the whole file)."""
    return run_baselines(DIGITS, "all")


def flat(x) -> np.ndarray:
    return x.numpy().reshape(len(x), -1)


def test_each_default_reaches_a_sensible_test_accuracy(defaults):
    assert [r.model for r in defaults.results] == list(BASELINES) == list(MIN_TEST_ACCURACY)
    assert (defaults.n_train_available, defaults.n_val, defaults.n_test) == (1212, 135, 450)
    for result in defaults.results:
        assert result.test.accuracy >= MIN_TEST_ACCURACY[result.model], result.model
        assert result.val.accuracy >= MIN_TEST_ACCURACY[result.model] - 0.05, result.model
        assert result.n_train == 1212 and result.search == []
        assert result.params == BASELINES[result.model].default_params()
        assert np.asarray(result.test.confusion).shape == (10, 10) and result.test.n == 450
        assert result.fit_time_s > 0 and result.predict_time_s > 0
    assert defaults["svm-rbf"].params == {"C": 10.0, "gamma": "scale"}
    assert defaults["knn"].params == {"n_neighbors": 5}
    # A log-loss where the model has probabilities, NaN where it has none.
    assert math.isnan(defaults["svm-rbf"].test.loss) and math.isnan(defaults["sgd"].test.loss)
    assert 0 < defaults["logreg"].test.loss < 1 and 0 < defaults["random-forest"].test.loss < 1


def test_metrics_match_a_manual_fit(defaults):
    splits = load_splits(DIGITS)
    knn = KNeighborsClassifier(n_neighbors=5).fit(flat(splits.x_train), splits.y_train.numpy())
    predicted = knn.predict(flat(splits.x_test))
    y = splits.y_test.numpy()
    result = defaults["knn"]
    assert result.test.accuracy == pytest.approx((predicted == y).mean())
    assert result.test.f1 == pytest.approx(f1_score(y, predicted, average="macro"))
    assert np.trace(result.test.confusion) == (predicted == y).sum()


def test_table_has_one_row_per_model(defaults):
    table = defaults.table()
    assert list(table["model"]) == list(BASELINES)
    expected = ["model", "params", "val_accuracy", "test_accuracy", "test_f1", "test_precision"]
    assert list(table.columns[:6]) == expected
    assert {"test_recall", "fit_time_s", "n_train"} <= set(table.columns)
    assert table.set_index("model").loc["knn", "params"] == "n_neighbors=5"


def test_search_keeps_the_best_validation_accuracy():
    results = run_baselines(DIGITS, ["knn"], search=True)
    result = results["knn"]
    splits = load_splits(DIGITS)
    x, y = flat(splits.x_train), splits.y_train.numpy()
    x_val, y_val = flat(splits.x_val), splits.y_val.numpy()
    grid = BASELINES["knn"].grid["n_neighbors"]
    scores = [(KNeighborsClassifier(n_neighbors=k).fit(x, y).predict(x_val) == y_val).mean() for k in grid]
    best = grid[int(np.argmax(scores))]  # argmax: the first of equal scores, as the search does
    assert result.params == {"n_neighbors": best}
    assert result.val.accuracy == pytest.approx(max(scores))
    assert [t["params"]["n_neighbors"] for t in result.search] == list(grid)
    assert [t["val_accuracy"] for t in result.search] == pytest.approx(scores)
    assert results.search is True


def test_search_scales_where_the_model_needs_it():
    assert [name for name, spec in BASELINES.items() if spec.standardize] == ["sgd", "logreg"]
    for spec in BASELINES.values():
        for params in spec.candidates():  # every grid point is a valid setting of its estimator
            pipeline = spec.build(seed=3, params=params)
            assert [name for name, _ in pipeline.steps][-1] == "model"
            assert len(pipeline.steps) == 1 + spec.standardize


def test_max_train_is_a_seeded_stratified_subset():
    first = run_baselines(DIGITS, ["knn"], max_train=300, seed=1)
    again = run_baselines(DIGITS, ["knn"], max_train=300, seed=1)
    assert first["knn"].n_train == 300 and first.max_train == 300 and first.n_train_available == 1212
    assert first["knn"].test.confusion == again["knn"].test.confusion
    assert first.n_val == 135 and first.n_test == 450  # validation and test stay whole
    assert run_baselines(DIGITS, ["knn"], max_train=5000)["knn"].n_train == 1212
    with pytest.raises(ConfigError, match="max_train"):
        run_baselines(DIGITS, ["knn"], max_train=5)
    with pytest.raises(ConfigError, match="max_train: 0"):
        run_baselines(DIGITS, ["knn"], max_train=0)


def test_save_and_load_round_trip(defaults, tmp_path):
    folder = defaults.save(tmp_path / "b")
    loaded = BaselineResults.load(folder)
    assert loaded.to_json() == defaults.to_json()  # NaN != NaN, so compare the serialised form
    assert loaded["svm-rbf"].test.confusion == defaults["svm-rbf"].test.confusion
    assert loaded.provenance["sklearn"] and loaded.provenance["dataset_sha256"]
    pd.testing.assert_frame_equal(pd.read_csv(folder / "baselines.csv"), defaults.table(), check_dtype=False)
    assert BaselineResults.from_json(defaults.to_json(indent=None)).to_json() == defaults.to_json()


def test_load_rejects_other_folders(tmp_path):
    with pytest.raises(ConfigError, match=r"no results\.json"):
        BaselineResults.load(tmp_path)
    (tmp_path / "results.json").write_text(json.dumps({"summary": {}}))
    with pytest.raises(ConfigError, match="tunelab-baselines"):
        BaselineResults.load(tmp_path)


def test_unknown_model_is_a_config_error():
    with pytest.raises(ConfigError, match=r"unknown baseline 'cnn'; expected one of svm-rbf, svm-poly"):
        run_baselines(DIGITS, ["svm-rbf", "cnn"])
    with pytest.raises(ConfigError, match="none given"):
        resolve_models(" , ")
    assert resolve_models("knn, svm-rbf,knn") == ["knn", "svm-rbf"]
    assert resolve_models("all") == list(BASELINES)


app = typer.Typer()
app.command()(user_errors(baselines))
runner = CliRunner()


def test_cli_writes_the_folder_and_json(tmp_path):
    out = tmp_path / "b"
    result = runner.invoke(
        app, ["--dataset", "digits", "--models", "knn,svm-rbf", "--out", str(out), "--json"]
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["out"] == str(out) and [r["model"] for r in summary["results"]] == ["knn", "svm-rbf"]
    assert summary["results"][1]["test_loss"] is None  # no NaN in the JSON on stdout
    assert summary["results"][1]["params"] == {"C": 10.0, "gamma": "scale"}
    assert (out / "results.json").is_file() and (out / "baselines.csv").is_file()
    assert BaselineResults.load(out)["knn"].test.accuracy == summary["results"][0]["test_accuracy"]
    assert "test acc" in result.stderr and "written to" in result.stderr


def test_cli_default_folder_and_max_train(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["--dataset", "digits", "-m", "knn", "--max-train", "200"])
    assert result.exit_code == 0, result.output
    loaded = BaselineResults.load(tmp_path / "runs" / "baselines-digits")
    assert loaded["knn"].n_train == 200 and "stratified subset" in result.stderr


def test_cli_fits_a_users_npz_named_by_path(tmp_path):
    rng = np.random.default_rng(0)
    centres = rng.normal(0, 40, (3, 8, 8))  # three well-separated classes of 8×8 grey images
    y = np.arange(90) % 3
    x = np.clip(128 + centres[y] + rng.normal(0, 5, (90, 8, 8)), 0, 255).astype(np.uint8)
    np.savez(tmp_path / "mine.npz", x_train=x, y_train=y)
    out = tmp_path / "b"
    args = ["--dataset", "arrays", "--path", str(tmp_path / "mine.npz"), "-m", "knn", "--out", str(out)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    results = BaselineResults.load(out)
    assert results["knn"].test.accuracy == 1.0
    assert results.n_train_available + results.n_val + results.n_test == 90


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--models", "knn,svm"], "unknown baseline 'svm'"),
        (["--dataset", "cifar100"], "--dataset: unknown dataset 'cifar100'"),
        (["--val-fraction", "1.5"], "--val-fraction: Input should be less than 1"),
        (["--dataset", "arrays"], "--path:"),
    ],
)
def test_cli_bad_input_exits_2(tmp_path, args, expected):
    result = runner.invoke(app, ["--dataset", "digits", *args, "--out", str(tmp_path / "b")])
    assert result.exit_code == 2, result.output
    assert expected in result.output and "Traceback" not in result.output
    assert not (tmp_path / "b").exists()
