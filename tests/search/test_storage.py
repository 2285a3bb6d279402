"""Where a study lives: URLs written without their password, damaged files refused, new databases
created by one worker at a time (here on SQLite; on PostgreSQL in tests/integration)."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState
from storage_support import open_together

from tunelab.errors import ConfigError
from tunelab.search.storage import DamagedStorage, mask, open_storage, without_password

EXAMPLES = Path(__file__).resolve().parents[2] / "studies" / "examples"


@pytest.mark.parametrize(
    ("url", "written"),
    [
        ("postgresql://user:s3cret@db.example:5432/studies", "postgresql://user@db.example:5432/studies"),
        ("postgresql+psycopg://user:p%40ss:w0rd@127.0.0.1/db", "postgresql+psycopg://user@127.0.0.1/db"),
        (
            "postgresql://user@127.0.0.1/db?password=s3cret&sslmode=disable",
            "postgresql://user@127.0.0.1/db?sslmode=disable",
        ),
        ("postgresql://user@127.0.0.1/db", "postgresql://user@127.0.0.1/db"),
        ("sqlite:////tmp/study.db", "sqlite:////tmp/study.db"),
    ],
)
def test_the_url_written_to_a_file_has_no_password(url, written):
    assert without_password(url) == written
    assert "s3cret" not in mask(url) and "p%40ss" not in mask(url)


def test_a_password_in_the_query_is_masked_too():
    shown = mask("postgresql://u@h/db?password=s3cret&sslmode=disable")
    assert "s3cret" not in shown and "password=" in shown and "sslmode=disable" in shown


def study_db(tmp_path: Path) -> Path:
    """An SQLite study database with a few pages: one study, eight trials with attributes."""
    path = tmp_path / "study.db"
    study = optuna.create_study(study_name="s", storage=f"sqlite:///{path}")
    for i in range(8):
        trial = study.ask()
        trial.set_user_attr("notes", "x" * 2000)
        study.tell(trial, float(i))
    return path


def test_a_database_with_a_page_overwritten_is_one_error(tmp_path):
    path = study_db(tmp_path)
    page = sqlite3.connect(path).execute("PRAGMA page_size").fetchone()[0]
    assert path.stat().st_size >= 4 * page
    with path.open("r+b") as handle:
        handle.seek(3 * page)
        handle.write(b"\xff" * page)
    with pytest.raises(DamagedStorage, match=r"the database file is damaged \(.*malformed"):
        open_storage(f"sqlite:///{path}")


def test_a_file_that_is_not_a_database_is_one_error(tmp_path):
    path = tmp_path / "study.db"
    path.write_bytes(b"not a database at all " * 400)
    with pytest.raises(DamagedStorage, match="file is not a database"):
        open_storage(f"sqlite:///{path}")


def test_a_sound_database_opens(tmp_path):
    path = study_db(tmp_path)
    storage = open_storage(f"sqlite:///{path}")
    assert [s.study_name for s in storage.get_all_studies()] == ["s"]


def test_an_unreachable_server_is_one_error_and_no_traceback():
    with pytest.raises(ConfigError, match=r"postgresql://u:\*\*\*@127.0.0.1:1/db: cannot connect"):
        open_storage("postgresql://u:s3cret@127.0.0.1:1/db")


def test_storages_opened_at_the_same_moment_on_a_new_file_all_open(tmp_path):
    """Without the schema lock, most of these fail ("table studies already exists")."""
    for i in range(2):
        url = f"sqlite:///{tmp_path / f'new-{i}.db'}"
        assert open_together(url) == ["ok"] * 6
        assert optuna.get_all_study_summaries(storage=url) == []


def start_workers(study: Path, out: Path, url: str | None, n: int, name: str) -> list[subprocess.Popen[str]]:
    """``n`` ``tunelab worker`` processes, all started before any is waited for."""
    cmd = [sys.executable, "-m", "tunelab.cli", "worker", str(study), "--out", str(out)]
    cmd += ["--storage", url] if url else []
    cmd += ["-q", "--threads", "1", f"--set=name={name}", "--set=train.epochs=1", "--set=population=1"]
    cmd += ["--set=space.model.dropout=[0.2]"]  # 4 points: one each, and the start is what is tested
    env = os.environ | {"OMP_NUM_THREADS": "1"}
    return [
        subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
        for _ in range(n)
    ]


def assert_all_joined_one_grid(procs: list[subprocess.Popen[str]], url: str, name: str) -> None:
    """Every worker exited 0 and the 4 grid points each completed exactly once, in one study."""
    errors = [p.communicate(timeout=600)[1] for p in procs]
    assert [p.returncode for p in procs] == [0] * len(procs), errors
    studies = optuna.get_all_study_summaries(storage=url)
    assert [s.study_name for s in studies] == [name]
    trials = optuna.load_study(study_name=name, storage=url).get_trials()
    points = [tuple(sorted(t.params.items())) for t in trials if t.state == TrialState.COMPLETE]
    assert len(trials) == len(points) == len(set(points)) == 4


@pytest.mark.slow
def test_four_workers_started_together_on_a_new_sqlite_file_all_join_one_study(tmp_path):
    """The default storage, out/study.db, in a folder that none of them has made yet."""
    out = tmp_path / "out"
    procs = start_workers(EXAMPLES / "digits-grid.yaml", out, None, 4, "together")
    assert_all_joined_one_grid(procs, f"sqlite:///{out / 'study.db'}", "together")


# A writer killed mid-transaction: its changes are in the file, the pages they replaced in a hot journal.
KILLED_WRITER = """
import sqlite3, sys, time
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("PRAGMA cache_size=1")  # the changed pages spill into the file before any commit
conn.execute("BEGIN IMMEDIATE")
conn.execute("UPDATE trial_user_attributes SET value_json = ?", ('"' + "y" * 3000 + '"',))
print("written", flush=True)
time.sleep(600)
"""


def test_a_database_left_by_a_killed_writer_opens_with_its_transaction_rolled_back(tmp_path):
    """Its hot journal needs a connection that may write: a read-only check once refused the file
    ("attempt to write a readonly database") where the study itself would have rolled it back."""
    path = study_db(tmp_path)
    writer = subprocess.Popen(
        [sys.executable, "-c", KILLED_WRITER, str(path)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert writer.stdout is not None and writer.stdout.readline().strip() == "written"
    finally:
        writer.kill()
        writer.wait()
    journal = path.with_name(path.name + "-journal")
    assert journal.is_file() and journal.stat().st_size > 0  # a hot journal
    storage = open_storage(f"sqlite:///{path}")
    (trial,) = {t.user_attrs["notes"] for t in storage.get_all_trials(storage.get_study_id_from_name("s"))}
    assert trial == "x" * 2000  # the killed transaction's change is gone
