"""Many workers on one PostgreSQL study (127.0.0.1:5432, user postgres, database test), for real."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import uuid
from pathlib import Path

import optuna
import pytest
import sqlalchemy
from optuna.trial import TrialState
from storage_support import NEEDS_POSTGRES, PG_URL

from tunelab.errors import ConfigError
from tunelab.search import load_study

URL = PG_URL
EXAMPLES = Path(__file__).resolve().parents[2] / "studies" / "examples"


pytestmark = NEEDS_POSTGRES


@pytest.fixture
def study_name():
    name = f"test-{uuid.uuid4().hex[:10]}"
    yield name
    with contextlib.suppress(KeyError):
        optuna.delete_study(study_name=name, storage=URL)


def test_four_workers_run_a_16_point_grid_exactly_once(tmp_path, study_name):
    overrides = [
        f"--set=name={study_name}",
        "--set=train.epochs=2",
        "--set=population=2",  # small populations, so that the four workers share the grid
        "--set=space.model.dropout=[0.0, 0.1, 0.2, 0.3]",
        "--set=space.train.batch_size=[32, 64]",
    ]
    cmd = [sys.executable, "-m", "tunelab.cli", "run", str(EXAMPLES / "digits-grid.yaml"), "--storage", URL]
    cmd += ["--out", str(tmp_path), "--workers", "4", "-q", *overrides]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    study = load_study(tmp_path, storage=URL).study
    trials = study.get_trials()
    complete = [tuple(sorted(t.params.items())) for t in trials if t.state == TrialState.COMPLETE]
    assert len(trials) == len(complete) == len(set(complete)) == 16
    workers = {t.user_attrs["tunelab.worker"]["pid"] for t in trials}
    assert len(workers) > 1  # the work was shared


def test_three_workers_spend_the_budget_then_share_the_final_stage_once(tmp_path, study_name):
    overrides = [
        f"--set=name={study_name}",
        "--set=train.epochs=2",
        "--set=population=1",
        "--set=final.top=2",
        "--set=final.seeds=2",
    ]
    cmd = [sys.executable, "-m", "tunelab.cli", "run", str(EXAMPLES / "digits-random.yaml"), "--storage", URL]
    cmd += ["--out", str(tmp_path), "--workers", "3", "--n-trials", "6", "-q", *overrides]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    handle = load_study(tmp_path, storage=URL)
    trials = handle.study.get_trials()
    final = [t for t in trials if t.user_attrs.get("tunelab.final")]
    search = [t for t in trials if not t.user_attrs.get("tunelab.final")]
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 8
    assert len(search) == 6 and len(final) == 2  # the budget is the search's; the final stage ran once
    assert sorted(t.params["final"] for t in final) == sorted(
        f"trial {n}" for n in handle.stages()[-1].info["from_trials"]
    )
    assert all(t.user_attrs["tunelab.seeds"] == [1, 2] for t in final)
    assert handle.best().number in {t.number for t in final}


def checkpoints(study: str) -> set[tuple[int, int, int]]:
    """The (trial, seed, epoch) of every checkpoint of ``study`` now."""
    query = sqlalchemy.text("SELECT trial, seed, epoch FROM tunelab_checkpoints WHERE study = :s")
    try:
        with sqlalchemy.create_engine(URL, poolclass=sqlalchemy.pool.NullPool).connect() as conn:
            return {tuple(row) for row in conn.execute(query, {"s": study}).all()}
    except sqlalchemy.exc.ProgrammingError:  # the table does not exist yet
        return set()


def wait_for_new_checkpoint(study: str, before: set[tuple[int, int, int]], timeout: float = 300.0) -> None:
    """Poll until a checkpoint that is not in ``before`` is written (the deadline only stops a hang)."""
    import time

    deadline = time.monotonic() + timeout
    while not checkpoints(study) - before:
        assert time.monotonic() < deadline, "no checkpoint was written"
        time.sleep(0.1)


def worker_cmd(study: Path, out: Path, *sets: str) -> list[str]:
    cmd = [
        sys.executable,
        "-m",
        "tunelab.cli",
        "worker",
        str(study),
        "--storage",
        URL,
        "--out",
        str(out),
        "-q",
    ]
    return cmd + [f"--set={s}" for s in sets]


@pytest.mark.slow
def test_a_worker_killed_five_times_midway_loses_nothing_and_resumes_from_checkpoints(tmp_path, study_name):
    import random
    import signal

    sets = [
        f"name={study_name}",
        "train.epochs=40",
        "checkpoint_interval_s=0",
        "retries=0",  # deaths never spend retries
    ]
    cmd = worker_cmd(EXAMPLES / "digits-grid.yaml", tmp_path, *sets)
    rng = random.Random(0)
    finished_before: set[int] = set()
    for _ in range(5):
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(1 + rng.randrange(3)):  # inside a trial, after it saved 1 to 3 epochs
            wait_for_new_checkpoint(study_name, checkpoints(study_name))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        study = load_study(tmp_path, storage=URL).study
        done = {t.number for t in study.get_trials() if t.state == TrialState.COMPLETE}
        assert finished_before <= done  # nothing finished is ever lost
        finished_before = done
    final = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert final.returncode == 0, final.stderr

    trials = load_study(tmp_path, storage=URL).study.get_trials()
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    points = [tuple(sorted(t.params.items())) for t in complete]
    assert len(points) == len(set(points)) == 8
    died = [t for t in trials if t.state == TrialState.FAIL]
    assert died and all(t.user_attrs["tunelab.outcome"] == "worker_died" for t in died)
    resumed = [
        t.user_attrs["tunelab.runs"][0] for t in complete if t.system_attrs.get("failed_trial") is not None
    ]
    assert any(run["resumed_from"] for run in resumed)  # a retry continued from its checkpoint...
    for run in resumed:
        assert run["history"]["epoch"] == list(range(1, 41))  # ...and its epochs continue, none repeated


def test_a_missing_database_is_one_clear_sentence(tmp_path):
    from typer.testing import CliRunner

    from tunelab.cli import app

    url = "postgresql://postgres:hunter2@127.0.0.1:5432/no_such_database"
    result = CliRunner().invoke(
        app, ["run", str(EXAMPLES / "digits-grid.yaml"), "--storage", url, "--out", str(tmp_path)]
    )
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "no_such_database" in lines[0] and "does not exist" in lines[0]
    assert "hunter2" not in result.output and "***" in result.output


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


@pytest.mark.slow
def test_soak_200_short_trials_with_4_workers(tmp_path, study_name):
    import time

    study = tmp_path / "soak.yaml"
    study.write_text(
        f"""
name: {study_name}
data: {{name: digits}}
model: {{kind: mlp, hidden: [8]}}
train: {{epochs: 1, batch_size: 256, track_gradients: false}}
space:
  train.optimizer.lr: {{low: 1.0e-4, high: 1.0e-1, log: true}}
strategy: random
budget: {{n_trials: 200}}
checkpoint_interval_s: 1000
"""
    )
    env = {**__import__("os").environ, "OMP_NUM_THREADS": "1"}
    procs = [
        subprocess.Popen(
            [*worker_cmd(study, tmp_path), "--threads", "1"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env=env,
        )
        for _ in range(4)
    ]
    samples: list[tuple[int, list[int]]] = []
    while any(p.poll() is None for p in procs):
        time.sleep(1.0)
        try:
            n = len(load_study(study, storage=URL).study.get_trials())
        except ConfigError:  # no worker has created the study yet
            n = 0
        samples.append((n, [rss_kb(p.pid) for p in procs if p.poll() is None]))
    assert all(p.returncode == 0 for p in procs), [p.stderr.read() for p in procs]
    trials = load_study(study, storage=URL).study.get_trials()
    assert len([t for t in trials if t.state == TrialState.COMPLETE]) == 200
    # Memory after the first quarter of the trials against the end: printed, and bounded.
    early = next(max(rss) for n, rss in samples if n >= 50 and rss)
    late = max(max(rss) for _, rss in samples[-3:] if rss) if any(rss for _, rss in samples[-3:]) else early
    print(f"\nworker RSS: {early / 1024:.0f} MiB after 50 trials, {late / 1024:.0f} MiB near 200 trials")
    assert late < early * 1.5


def test_a_wrong_password_is_one_sentence_with_the_password_masked(tmp_path):
    """The local server trusts everyone, so a tiny fake server on 127.0.0.1 refuses the password."""
    import socket
    import struct
    import threading

    from typer.testing import CliRunner

    from tunelab.cli import app

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    port = server.getsockname()[1]

    def refuse() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            with conn:
                first = conn.recv(8)
                if struct.unpack("!ii", first)[1] in (80877103, 80877104):  # SSL / GSS request: not here
                    conn.sendall(b"N")
                    conn.recv(4096)  # the startup message
                conn.sendall(b"R" + struct.pack("!ii", 8, 3))  # ask for a cleartext password
                conn.recv(4096)
                fields = b'SFATAL\0C28P01\0Mpassword authentication failed for user "postgres"\0\0'
                conn.sendall(b"E" + struct.pack("!i", len(fields) + 4) + fields)

    threading.Thread(target=refuse, daemon=True).start()
    url = f"postgresql://postgres:hunter2@127.0.0.1:{port}/test"
    result = CliRunner().invoke(
        app, ["run", str(EXAMPLES / "digits-grid.yaml"), "--storage", url, "--out", str(tmp_path)]
    )
    server.close()
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "password authentication failed" in lines[0]
    assert "hunter2" not in result.output and "***" in result.output
