"""A study on PostgreSQL (127.0.0.1:5432, trust auth), each test in a database of its own that it
creates and drops: workers that start together on a new database all join the one study, a password
is written nowhere and handed to no command line, and a database without the study is refused
beside the study's results."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import optuna
import pytest
import sqlalchemy
from optuna.trial import TrialState
from storage_support import NEEDS_POSTGRES, SERVER, open_together
from typer.testing import CliRunner

from tunelab.cli import app
from tunelab.search import load_study

EXAMPLES = Path(__file__).resolve().parents[2] / "studies" / "examples"
GRID = EXAMPLES / "digits-grid.yaml"
SMALL = ["--set=train.epochs=1", "--set=population=1", "--set=space.model.dropout=[0.2]"]  # 4 points


pytestmark = NEEDS_POSTGRES


def admin(*statements: str) -> None:
    engine = sqlalchemy.create_engine(f"{SERVER}/test", isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        for statement in statements:
            conn.execute(sqlalchemy.text(statement))
    engine.dispose()


@pytest.fixture
def database() -> Iterator[str]:
    """The name of a new, empty database, dropped afterwards."""
    name = f"tunelab_test_{uuid.uuid4().hex[:12]}"
    admin(f'CREATE DATABASE "{name}"')
    yield name
    admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def role(database) -> Iterator[tuple[str, str]]:
    """A login role with a known password, owning ``database``; dropped afterwards."""
    name, password = f"tunelab_role_{uuid.uuid4().hex[:8]}", f"pw-{uuid.uuid4().hex}"
    admin(
        f"CREATE ROLE \"{name}\" LOGIN PASSWORD '{password}'",
        f'ALTER DATABASE "{database}" OWNER TO "{name}"',
    )
    yield name, password
    admin(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)', f'DROP ROLE IF EXISTS "{name}"')


# ------------------------------------------------------------------------- a new database, at once


def test_storages_opened_at_the_same_moment_on_a_new_database_all_open(database):
    url = f"{SERVER}/{database}"
    assert open_together(url) == ["ok"] * 6
    tables = sqlalchemy.inspect(sqlalchemy.create_engine(url)).get_table_names()
    assert {"studies", "trials", "alembic_version", "tunelab_checkpoints"} <= set(tables)


@pytest.mark.slow
def test_four_workers_started_together_on_a_new_database_all_join_one_study(database, tmp_path):
    url = f"{SERVER}/{database}"
    cmd = [sys.executable, "-m", "tunelab.cli", "worker", str(GRID), "--storage", url, "-q", "--threads", "1"]
    env = os.environ | {"OMP_NUM_THREADS": "1"}
    procs = [
        subprocess.Popen(
            [*cmd, "--out", str(tmp_path / f"out-{i}"), *SMALL],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for i in range(4)
    ]
    errors = [p.communicate(timeout=600)[1] for p in procs]
    assert [p.returncode for p in procs] == [0] * 4, errors
    assert [s.study_name for s in optuna.get_all_study_summaries(storage=url)] == ["digits-grid"]
    trials = optuna.load_study(study_name="digits-grid", storage=url).get_trials()
    points = [tuple(sorted(t.params.items())) for t in trials if t.state == TrialState.COMPLETE]
    assert len(trials) == len(points) == len(set(points)) == 4


# ------------------------------------------------------------------------------ no secret written
def children(pid: int) -> dict[int, bytes]:
    """The command lines of ``pid``'s child processes that are running now, by process id."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            status = (entry / "status").read_text()
            ppid = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("PPid:"))
            if ppid == pid:
                found[int(entry.name)] = (entry / "cmdline").read_bytes()
    return found


def files_holding(folder: Path, secret: str) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file() and secret.encode() in p.read_bytes()]


def attributes_holding(url: str, secret: str) -> list[str]:
    """The study and trial attributes, as stored, that hold ``secret``."""
    engine = sqlalchemy.create_engine(url)
    held = []
    with engine.connect() as conn:
        for table in ("study_user_attributes", "study_system_attributes", "trial_user_attributes"):
            for key, value in conn.execute(sqlalchemy.text(f"SELECT key, value_json FROM {table}")):
                if secret in key or secret in value:
                    held.append(f"{table}.{key}")
    engine.dispose()
    return held


@pytest.mark.slow
def test_a_password_is_in_no_written_file_no_attribute_and_no_worker_command_line(role, database, tmp_path):
    user, password = role
    url = f"postgresql://{user}:{password}@127.0.0.1:5432/{database}"
    study = tmp_path / "study.yaml"  # the password in the study file: on no command line of ours either
    study.write_text(GRID.read_text() + f"storage: {url}\n")
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "tunelab.cli", "run", str(study), "--out", str(out), "--workers", "2"]
    env = os.environ | {"OMP_NUM_THREADS": "1"}
    parent = subprocess.Popen([*cmd, *SMALL], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    seen: dict[int, bytes] = {}
    deadline = time.monotonic() + 300
    while len(seen) < 2:  # a worker lives at least as long as its imports: polling sees both
        assert parent.poll() is None, parent.communicate()
        assert time.monotonic() < deadline, "the two workers never started"
        for pid, cmdline in children(parent.pid).items():
            if b"tunelab.search.worker_main" in cmdline and pid not in seen:
                seen[pid] = cmdline
                environ = Path(f"/proc/{pid}/environ").read_bytes()
                assert password.encode() in environ  # handed over by environment, readable by us only
        time.sleep(0.01)
    printed, errors = parent.communicate(timeout=600)
    assert parent.returncode == 0, errors.decode()
    assert all(password.encode() not in cmdline for cmdline in seen.values()), seen
    assert password.encode() not in Path(f"/proc/{os.getpid()}/cmdline").read_bytes()
    assert password.encode() not in printed + errors
    assert (out / "workers" / "worker-0.log").is_file() and (out / "trials").is_dir()
    assert files_holding(out, password) == []
    assert attributes_holding(url, password) == []
    handle = load_study(out)  # study.yaml keeps the URL without the password, and it still opens
    assert handle.spec.storage == f"postgresql://{user}@127.0.0.1:5432/{database}"
    assert len(handle.study.get_trials(states=(TrialState.COMPLETE,))) == 4


def test_a_password_given_as_storage_is_not_written_to_the_study_folder(role, database, tmp_path):
    user, password = role
    url = f"postgresql://{user}:{password}@127.0.0.1:5432/{database}"
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["run", str(GRID), "--storage", url, "--out", str(out), "-q", *SMALL])
    assert result.exit_code == 0, result.output
    assert password not in result.output
    written = json.dumps(sorted(str(p.relative_to(out)) for p in out.rglob("*")))
    assert files_holding(out, password) == [], written
    assert attributes_holding(url, password) == []
    assert f"storage: postgresql://{user}@127.0.0.1:5432/{database}\n" in (out / "study.yaml").read_text()


# --------------------------------------------------------------- a study's files and its database
def test_results_beside_a_database_without_the_study_are_refused_and_overwrite_starts_afresh(
    database, tmp_path
):
    url = f"{SERVER}/{database}"
    out = tmp_path / "out"
    runner = CliRunner()
    args = ["run", str(GRID), "--storage", url, "--out", str(out), "-q", *SMALL]
    assert runner.invoke(app, args).exit_code == 0
    metrics = sorted(out.glob("trials/*/*/metrics.json"))
    before = [p.read_bytes() for p in metrics]
    optuna.delete_study(study_name="digits-grid", storage=url)  # e.g. a colleague cleaned the database
    refused = runner.invoke(app, args)
    assert refused.exit_code == 2
    (line,) = refused.output.strip().splitlines()
    assert f"holds no study 'digits-grid', but {out / 'trials'} holds the results of 4" in line
    assert "--overwrite" in line
    assert [p.read_bytes() for p in metrics] == before  # nothing overwritten
    assert optuna.get_all_study_summaries(storage=url) == []  # and no study made
    again = runner.invoke(app, [*args, "--overwrite"])
    assert again.exit_code == 0, again.output
    trials = optuna.load_study(study_name="digits-grid", storage=url).get_trials()
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 4
