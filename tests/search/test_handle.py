"""A study's files and its database are checked against each other, and nothing is written before the
study file, the device, the data and the storage check out.

A damaged, emptied, missing or foreign database beside trial results is one sentence and exit 2,
never a fresh start over the results; ``--overwrite`` is the one way to start afresh.
"""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import optuna
import pytest
import torch
from optuna.trial import TrialState
from typer.testing import CliRunner

from tunelab.cli import app
from tunelab.search import load_study

GRID = Path(__file__).resolve().parents[2] / "studies" / "examples" / "digits-grid.yaml"
TINY = [
    "--set",
    "train.epochs=1",
    "--set",
    "space.model.dropout=[0.2]",
    "--set",
    "space.train.batch_size=[64]",
]


def invoke(*args: object):
    return CliRunner().invoke(app, [str(a) for a in args])


def run(out: Path, *args: object):
    return invoke("run", GRID, "--out", out, "--quiet", *TINY, *args)


def assert_one_sentence(result, *expected: str) -> str:
    output = result.output.strip()
    assert result.exit_code == 2, output
    assert len(output.splitlines()) == 1 and output.startswith("error:"), output
    assert "Traceback" not in output
    for text in expected:
        assert text in output, output
    return output


def results(out: Path) -> dict[str, bytes]:
    """Every file under the study's trial folders, by path: what must never be lost."""
    return {
        str(p.relative_to(out)): p.read_bytes() for p in sorted((out / "trials").rglob("*")) if p.is_file()
    }


@pytest.fixture(scope="module")
def done(tmp_path_factory) -> Path:
    """A finished two-trial study on SQLite, to be copied by each test."""
    out = tmp_path_factory.mktemp("done") / "out"
    result = run(out)
    assert result.exit_code == 0, result.output
    return out


@pytest.fixture
def study(done, tmp_path) -> Path:
    out = tmp_path / "out"
    shutil.copytree(done, out)
    return out


def overwrite_a_page(db: Path) -> None:
    page = sqlite3.connect(db).execute("PRAGMA page_size").fetchone()[0]
    with db.open("r+b") as handle:
        handle.seek(2 * page)
        handle.write(b"\x5a" * page)


def empty(db: Path) -> None:
    db.write_bytes(b"")


def remove(db: Path) -> None:
    db.unlink()


DAMAGES = {
    "emptied": (empty, "the database file is empty (0 bytes) while"),
    "removed": (remove, "the database file is missing while"),
    "page-overwritten": (overwrite_a_page, "the database file is damaged ("),
}


@pytest.mark.parametrize("damage", DAMAGES)
def test_a_damaged_database_beside_results_is_one_sentence_and_nothing_is_overwritten(study, damage):
    hurt, expected = DAMAGES[damage]
    before = results(study)
    assert len(before) >= 8  # two trials, four files each
    hurt(study / "study.db")
    state = (study / "study.db").read_bytes() if (study / "study.db").exists() else None
    output = assert_one_sentence(run(study), expected, str(study / "study.db"))
    assert "--overwrite" in output
    assert results(study) == before  # no metrics.json rewritten, nothing deleted
    for command in ("status", "best"):  # the commands that read a study refuse it too
        assert_one_sentence(invoke(command, study), str(study / "study.db"))
    now = (study / "study.db").read_bytes() if (study / "study.db").exists() else None
    assert now == state  # the database is left as it was found: no schema written into it


def test_a_database_without_the_study_beside_its_results_is_refused(study, tmp_path):
    other = tmp_path / "other.db"
    optuna.create_study(study_name="another", storage=f"sqlite:///{other}")
    result = run(study, "--storage", f"sqlite:///{other}")
    assert_one_sentence(result, f"holds no study 'digits-grid', but {study / 'trials'}", "2 of its trials")
    assert "--overwrite" in result.output


@pytest.mark.parametrize("damage", [None, *DAMAGES])
def test_overwrite_starts_afresh_whatever_the_database(study, damage):
    if damage is not None:
        DAMAGES[damage][0](study / "study.db")
    marker = study / "trials" / "00001" / "stale.txt"
    marker.write_text("from the earlier study")
    result = run(study, "--overwrite", "--set", "train.epochs=2")  # a changed file is no refusal either
    assert result.exit_code == 0, result.output
    handle = load_study(study)
    trials = handle.study.get_trials()
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 2
    assert [t.user_attrs["tunelab.metrics"]["epochs"] for t in trials] == [2, 2]
    assert not marker.exists()  # the earlier trial folders went with the earlier study


def test_a_changed_study_file_is_refused_and_names_overwrite(study):
    before = results(study)
    output = assert_one_sentence(run(study, "--set", "train.epochs=2"), "train.epochs (", "--overwrite")
    assert "was made with other settings" in output
    assert results(study) == before


def test_a_rerun_of_a_finished_study_keeps_every_result_file(study):
    before = results(study)
    result = run(study)
    assert result.exit_code == 0, result.output
    assert results(study) == before


# ------------------------------------------------------------------- nothing written before checks
UNAVAILABLE = f"cuda:{torch.cuda.device_count()}" if torch.cuda.is_available() else "cuda"


def write_study(tmp_path: Path, device: str) -> Path:
    text = GRID.read_text().replace("batch_size: 64\n", f"batch_size: 64\n  device: {device}\n", 1)
    path = tmp_path / "study.yaml"
    path.write_text(text)
    return path


def test_a_device_not_on_this_machine_writes_nothing_and_a_corrected_file_resumes(tmp_path):
    out = tmp_path / "out"
    path = write_study(tmp_path, UNAVAILABLE)
    result = invoke("run", path, "--out", out, "--quiet", *TINY)
    assert_one_sentence(result, f"{path}: train.device: {UNAVAILABLE} is not available here")
    assert not out.exists()  # no half-registered study
    # Run elsewhere with --device, then with the file corrected: the same study, not "train differ".
    assert invoke("run", path, "--out", out, "--quiet", "--device", "cpu", *TINY).exit_code == 0
    fixed = write_study(tmp_path, "cpu")
    again = invoke("run", fixed, "--out", out, "--quiet", *TINY, "--n-trials", "3")
    assert again.exit_code == 0, again.output
    assert len(load_study(out).study.get_trials()) == 2


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--device", UNAVAILABLE], f"--device: {UNAVAILABLE} is not available here"),
        (["--device", "bogus"], "--device: unknown device 'bogus'"),
        (["--data-dir", "{tmp}/no-such-folder"], "--data-dir {tmp}/no-such-folder: no such folder"),
        (["--storage", "postgresql://postgres@127.0.0.1:1/test"], "cannot connect"),
        (["--storage", "sqlite:///{tmp}/missing/study.db"], "{tmp}/missing does not exist"),
    ],
    ids=["device-absent", "device-bogus", "data-dir-missing", "storage-unreachable", "storage-folder"],
)
@pytest.mark.parametrize("command", ["run", "worker"])
def test_bad_inputs_write_nothing(tmp_path, command, args, expected):
    out = tmp_path / "out"
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    study = GRID
    if "--data-dir" in args:  # a dataset with files to find (digits is bundled)
        study = tmp_path / "mnist.yaml"
        study.write_text(GRID.read_text().replace("name: digits,", "name: mnist,"))
    result = invoke(command, study, "--out", out, "--quiet", *TINY, *args)
    assert_one_sentence(result, expected.replace("{tmp}", str(tmp_path)))
    assert not out.exists()
