"""``tunelab run --workers K`` on this machine: the parent reports what a failed worker said."""

from __future__ import annotations

from pathlib import Path

import pytest

from tunelab.errors import TunelabError
from tunelab.search import Observer, load_study_spec, open_study
from tunelab.search import workers as workers_module

GRID = Path(__file__).resolve().parents[2] / "studies" / "examples" / "digits-grid.yaml"


class Quiet(Observer):
    """Reports nothing."""


def test_a_failed_worker_is_reported_with_the_last_line_of_its_log(tmp_path, monkeypatch):
    monkeypatch.setattr(workers_module, "POLL_S", 0.05)
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    overrides = ["data.name=mnist"]  # not in the empty --data-dir, and downloads go to a closed port
    handle = open_study(load_study_spec(GRID, overrides), out_dir=tmp_path / "out")
    (tmp_path / "empty").mkdir()
    settings = workers_module.WorkerSettings(data_dir=tmp_path / "empty")
    with pytest.raises(TunelabError) as info:
        workers_module.run_local_workers(handle, 1, settings, "cpu", Quiet())
    message = str(info.value)
    assert message.startswith("1 of 1 workers failed: mnist: could not download")
    assert "--data-dir" in message and "no message" not in message
    assert message.endswith(f"(see {handle.out_dir / 'workers' / 'worker-0.log'})")
    assert len(message.splitlines()) == 1


def test_last_line_skips_blank_lines_and_the_cli_error_prefix(tmp_path):
    log = tmp_path / "worker-0.log"
    log.write_text("")
    assert workers_module._last_line(log) == ""
    assert workers_module._last_line(tmp_path / "missing.log") == ""
    log.write_text("Traceback (most recent call last):\n  ...\nerror: something broke\n\n")
    assert workers_module._last_line(log) == "something broke"
