"""Plug-ins: models and datasets that installed packages register as entry points, named by study files."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tunelab.cli import app
from tunelab.config import validate_run_config
from tunelab.errors import ConfigError
from tunelab.search import run_study

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "tunelab-plugin-example"

MODULE = """
import numpy as np
from torch import nn

from tunelab.data import DatasetInfo, RawData


def flat(input_shape, n_classes, width=8):
    c, h, w = input_shape
    return nn.Sequential(nn.Flatten(), nn.Linear(c * h * w, width), nn.ReLU(), nn.Linear(width, n_classes))


def _read(folder):
    rng = np.random.default_rng(0)
    y = np.arange(120) % 3
    x = (rng.uniform(0, 0.2, (120, 2, 5, 7)) + y[:, None, None, None] / 3).astype(np.float32)
    return RawData(x[:90], y[:90], x[90:], y[90:], {"generated": "0"})


BLOBS = DatasetInfo("blobs", "three blobs", (2, 5, 7), 3, 90, 30, (), (), _read)
LATER = lambda: BLOBS  # noqa: E731  a function returning the info is enough too
NOT_A_MODEL = 3
"""


def install(site: Path, entries: str, module: str = MODULE) -> None:
    """What pip leaves in site-packages: the module and a dist-info naming its entry points."""
    site.mkdir(exist_ok=True)
    (site / "fake_plugin.py").write_text(module)
    dist = site / "fake_plugin-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: fake-plugin\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text(textwrap.dedent(entries))


@pytest.fixture
def plugin(tmp_path, monkeypatch):
    site = tmp_path / "site"
    install(
        site,
        """
        [tunelab.models]
        flat = fake_plugin:flat
        broken = no_such_module:f
        three = fake_plugin:NOT_A_MODEL

        [tunelab.datasets]
        blobs = fake_plugin:BLOBS
        blobs-later = fake_plugin:LATER
        not-data = fake_plugin:NOT_A_MODEL
        """,
    )
    monkeypatch.syspath_prepend(str(site))
    return site


STUDY = {
    "name": "plugins",
    "data": {"name": "blobs", "val_fraction": 0.2},
    "model": {"kind": "flat"},
    "train": {"epochs": 5, "batch_size": 16, "optimizer": {"name": "adam", "lr": 0.03}},
    "space": {"model.params.width": [4, 8]},
    "strategy": "grid",
}


def test_a_study_names_an_installed_model_and_dataset_and_trains(plugin, tmp_path):
    result = run_study(STUDY, out=tmp_path / "out")
    frame = result.trials_dataframe()
    assert list(frame["state"]) == ["COMPLETE", "COMPLETE"] and frame["val_accuracy"].max() > 0.6
    data = validate_run_config({"data": {"name": "blobs-later"}}).data
    assert data.name == "blobs-later"


def test_the_datasets_command_lists_installed_plugins(plugin):
    result = CliRunner().invoke(app, ["datasets"])
    assert result.exit_code == 0, result.output
    assert "blobs-later" in result.output and "5×7×2" in result.output


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (
            {"model": {"kind": "broken"}},
            "model.kind: the tunelab.models plug-in 'broken' (no_such_module:f, from fake-plugin 0.1) "
            "cannot be loaded: ModuleNotFoundError: No module named 'no_such_module'",
        ),
        (
            {"model": {"kind": "three"}},
            "model.kind: the tunelab.models plug-in 'three' (fake_plugin:NOT_A_MODEL, from fake-plugin 0.1) "
            "is a int, not a model factory",
        ),
        (
            {"data": {"name": "not-data"}},
            "data.name: the tunelab.datasets plug-in 'not-data' (fake_plugin:NOT_A_MODEL, from fake-plugin "
            "0.1) is a int, not a tunelab.data.DatasetInfo",
        ),
        (
            {"model": {"kind": "flatt"}},
            "model.kind: unknown model 'flatt'; expected mlp, cnn or lcnn, a factory registered with "
            "tunelab.models.register (none) or an installed tunelab.models plug-in (broken, flat, three)",
        ),
        (
            {"data": {"name": "blob"}},
            "data.name: unknown dataset 'blob'; expected one of cifar10, digits, emnist-balanced, "
            "emnist-digits, fashion-mnist, kmnist, mnist, usps, or folder or arrays with a path, "
            "or an installed tunelab.datasets plug-in (blobs, blobs-later, not-data)",
        ),
    ],
    ids=["import-fails", "not-callable", "not-a-dataset", "unknown-model", "unknown-dataset"],
)
def test_a_plugin_that_is_missing_or_broken_is_one_sentence_naming_it(plugin, raw, message):
    with pytest.raises(ConfigError) as info:
        validate_run_config(raw, "run.yaml")
    assert str(info.value) == f"run.yaml: {message}"


def test_a_study_naming_a_plugin_that_is_not_installed_exits_2_naming_it(tmp_path):
    study = tmp_path / "study.yaml"
    study.write_text("name: s\nmodel: {kind: example-cnn}\nspace: {train.optimizer.lr: [0.1, 0.01]}\n")
    result = CliRunner().invoke(app, ["run", str(study), "--out", str(tmp_path / "out")])
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "model.kind: unknown model 'example-cnn'" in lines[0]
    assert "installed tunelab.models plug-in (none installed)" in lines[0]


# ------------------------------------------------------------------------------ the example package
@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """The example plug-in, pip-installed (offline, no dependencies) into a folder of its own."""
    work = tmp_path_factory.mktemp("plugin")
    source = work / "source"  # a copy: building writes build/ and *.egg-info beside the sources
    shutil.copytree(EXAMPLE, source, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    target = work / "site"
    pip = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index"]
    pip += ["--no-build-isolation", "--target", str(target), str(source)]
    subprocess.run(pip, check=True, capture_output=True, timeout=300)
    return target


def environment(site: Path) -> dict[str, str]:
    paths = [str(site), str(REPO / "src"), os.environ.get("PYTHONPATH", "")]
    return os.environ | {"PYTHONPATH": os.pathsep.join(p for p in paths if p), "OMP_NUM_THREADS": "1"}


@pytest.mark.slow
def test_the_installed_example_passes_its_own_tests(installed, tmp_path):
    tests = tmp_path / "tests"
    shutil.copytree(EXAMPLE / "tests", tests)  # run against the installed package, not its sources
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tests)]
    done = subprocess.run(cmd, cwd=tmp_path, env=environment(installed), capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.slow
def test_the_example_study_runs_with_two_workers_that_find_the_plugin(installed, tmp_path):
    cmd = [sys.executable, "-m", "tunelab.cli", "run", str(EXAMPLE / "study.yaml"), "--out", str(tmp_path)]
    cmd += ["--workers", "2", "--n-trials", "4", "-q", "--set", "train.epochs=1"]
    done = subprocess.run(cmd, env=environment(installed), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    status = subprocess.run(
        [sys.executable, "-m", "tunelab.cli", "best", str(tmp_path), "--json"],
        env=environment(installed),
        capture_output=True,
        text=True,
    )
    assert status.returncode == 0 and '"model.params.width"' in status.stdout, status.stderr
