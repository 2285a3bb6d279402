"""What a user of the installed package gets: ``python -m tunelab``, ``tunelab init``, the declared
dependencies, the license and the build pin. (CI also builds the wheel and runs an example from it.)"""

from __future__ import annotations

import ast
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

import tunelab
from tunelab.cli import app
from tunelab.search import load_study_spec
from tunelab.search.examples import bundled

REPO = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
# Import names whose distribution is called otherwise.
DISTRIBUTIONS = {
    "sklearn": "scikit-learn",
    "yaml": "pyyaml",
    "optuna_dashboard": "optuna-dashboard",
    "PIL": "pillow",
}


def test_python_dash_m_tunelab_is_the_command():
    result = subprocess.run(
        [sys.executable, "-m", "tunelab", "--version"], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0 and result.stdout.strip() == f"tunelab {tunelab.__version__}"


def _requirement_names(requirements: list[str]) -> set[str]:
    return {
        r.split(";")[0].split("[")[0].split(">")[0].split("=")[0].split("<")[0].strip() for r in requirements
    }


def test_every_imported_package_is_declared():
    stdlib = set(sys.stdlib_module_names)
    imported: set[str] = set()
    for path in (REPO / "src" / "tunelab").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                imported |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                imported.add(node.module.split(".")[0])
    third_party = {DISTRIBUTIONS.get(name, name) for name in imported - stdlib - {"tunelab"}}
    project = PYPROJECT["project"]
    declared = _requirement_names(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        declared |= _requirement_names(extra)
    assert third_party - declared == set()
    assert "requests" in _requirement_names(project["dependencies"])  # imported by data/download.py


def test_license_build_pin_extras_and_metadata():
    project = PYPROJECT["project"]
    assert project["license"] == "MIT" and project["license-files"] == ["LICENSE"]
    assert (REPO / "LICENSE").read_text(encoding="utf-8").startswith("MIT License")
    assert PYPROJECT["build-system"]["requires"] == ["setuptools>=77"]  # SPDX license expressions
    assert {"dashboard", "plots"} <= set(project["optional-dependencies"])
    assert _requirement_names(project["optional-dependencies"]["plots"]) == {"plotly"}
    assert not any(c.startswith("License") for c in project["classifiers"])  # the SPDX field says it
    assert {"Homepage", "Repository", "Issues"} <= set(project["urls"])
    assert "examples/*.yaml" in PYPROJECT["tool"]["setuptools"]["package-data"]["tunelab"]


def test_the_bundled_examples_are_the_example_studies():
    names = sorted(p.stem for p in (REPO / "studies" / "examples").glob("*.yaml"))
    assert list(bundled()) == names and "digits-grid" in names


def test_init_writes_a_bundled_study_that_validates(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    result = runner.invoke(app, ["init"])
    assert result.exit_code == 0, result.output
    written = tmp_path / "digits-grid.yaml"
    assert load_study_spec(written).name == "digits-grid"
    assert "studies/examples" not in written.read_text(encoding="utf-8")  # its usage line names the file
    result = runner.invoke(app, ["init", "coarse-to-fine"])
    assert result.exit_code == 0 and (tmp_path / "digits-coarse-to-fine.yaml").is_file()
    assert yaml.safe_load((tmp_path / "digits-coarse-to-fine.yaml").read_text())["strategy"]["name"]


def test_init_lists_and_refuses_what_it_cannot_do(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    listing = runner.invoke(app, ["init", "--list"], env={"COLUMNS": "200"})
    assert listing.exit_code == 0 and all(name in listing.output for name in bundled())
    assert not list(tmp_path.iterdir())
    unknown = runner.invoke(app, ["init", "nope"])
    assert unknown.exit_code == 2 and "choose one of: digits-asha" in unknown.output
    assert "Traceback" not in unknown.output
    assert runner.invoke(app, ["init", "grid"]).exit_code == 0
    again = runner.invoke(app, ["init", "grid"])
    assert again.exit_code == 2 and "--force" in again.output
    assert runner.invoke(app, ["init", "grid", "--force"]).exit_code == 0
    missing = runner.invoke(app, ["init", "grid", "--dir", str(tmp_path / "absent")])
    assert missing.exit_code == 2 and "no such folder" in missing.output


@pytest.mark.parametrize("name", sorted(bundled()))
def test_every_bundled_example_validates(name):
    assert load_study_spec(bundled()[name]).name == name
