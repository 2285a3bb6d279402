"""Planned points run until they complete: deaths never spend ``retries``, failures of their own do;
a rerun queues missing points again, ``--retry-failed`` failed ones, and the exit code says which."""

from __future__ import annotations

import pytest
import yaml
from optuna.trial import TrialState
from typer.testing import CliRunner

from tunelab.cli import app
from tunelab.search import execution, run_study, storage
from tunelab.search.plan import planned_points
from tunelab.search.record import StudyRecord, TrialRecord, set_study_attrs
from tunelab.search.scheduling import counted, done_trials

LRS = [0.001, 0.01]


def grid(**extra) -> dict:
    """Two grid points, one epoch each, trained one by one (so that ``execution.train`` runs each)."""
    return {
        "name": "plan",
        "data": {"name": "digits", "val_fraction": 0.2},
        "model": {"kind": "mlp", "hidden": [16]},
        "train": {"epochs": 1, "batch_size": 64},
        "space": {"train.optimizer.lr": LRS},
        "strategy": "grid",
        "population": 1,
    } | extra


class Breaks:
    """``execution.train``, raising ``exc`` for the point with learning rate ``lr`` ``times`` times."""

    def __init__(self, monkeypatch, lr: float, exc: BaseException, times: int = 10**6) -> None:
        self.real, self.lr, self.exc, self.left, self.calls = execution.train, lr, exc, times, []
        monkeypatch.setattr(execution, "train", self)

    def __call__(self, config, *args, **kwargs):
        self.calls.append(config.train.optimizer.lr)
        if config.train.optimizer.lr == self.lr and self.left > 0:
            self.left -= 1
            raise self.exc
        return self.real(config, *args, **kwargs)


class Seen:
    """An observer that keeps what the run said it would do first."""

    redo = None

    def started(self, spec, storage, done, budget, redo=None):
        self.redo = redo

    def trial_started(self, *args): ...

    def epoch(self, *args): ...

    def trial_finished(self, *args): ...


def by_point(result) -> dict[float, list]:
    points: dict[float, list] = {}
    for trial in result.study.get_trials():
        points.setdefault(trial.params["train.optimizer.lr"], []).append(trial)
    return points


def test_a_point_that_fails_by_itself_runs_retries_plus_one_times(tmp_path, monkeypatch):
    broken = Breaks(monkeypatch, 0.01, RuntimeError("CUDA out of memory"))
    result = run_study(grid(retries=1), out=tmp_path)
    points = by_point(result)
    assert broken.calls.count(0.01) == 2 and broken.calls.count(0.001) == 1
    first, second = points[0.01]
    records = [TrialRecord.from_trial(t) for t in (first, second)]
    assert [(r.outcome, r.failures, r.requeued) for r in records] == [("error", 1, True), ("error", 2, False)]
    assert second.system_attrs["failed_trial"] == first.number  # one chain of retries
    assert [t.state for t in points[0.001]] == [TrialState.COMPLETE]
    assert sum(map(counted, result.study.get_trials())) == 2  # the point counts once, failed
    short = result.shortfall
    assert short and dict(short.failed) == {"error": 1} and short.unfinished == 0
    assert short.message().startswith("1 of 2 planned points failed (error 1)")


def test_a_diverging_point_is_a_failure_of_its_own(tmp_path):
    spec = grid(retries=1, train={"epochs": 2, "optimizer": {"name": "sgd"}})
    spec["space"] = {"train.optimizer.lr": [1.0e12, 0.05]}
    points = by_point(run_study(spec, out=tmp_path))
    assert [TrialRecord.from_trial(t).outcome for t in points[1.0e12]] == ["diverged", "diverged"]
    assert [t.state for t in points[0.05]] == [TrialState.COMPLETE]


def test_interruptions_never_spend_retries_and_the_point_completes_once(tmp_path, monkeypatch):
    Breaks(monkeypatch, 0.01, KeyboardInterrupt(), times=3)
    for _ in range(3):  # more interruptions than retries allow
        with pytest.raises(KeyboardInterrupt):
            run_study(grid(retries=0), out=tmp_path)
    result = run_study(grid(retries=0), out=tmp_path)
    points = by_point(result)
    assert [t.state for t in points[0.001]] == [TrialState.COMPLETE]
    states = [t.state for t in points[0.01]]
    assert states == [TrialState.FAIL] * 3 + [TrialState.COMPLETE]
    assert {TrialRecord.from_trial(t).outcome for t in points[0.01][:3]} == {"interrupted"}
    assert not result.shortfall


def test_a_rerun_queues_a_point_whose_retry_was_lost_again(tmp_path, monkeypatch):
    # As if the process died between failing the trial and queueing its retry (or an older
    # tunelab had given up on it after its deaths): the point has a failed try and nothing waiting.
    Breaks(monkeypatch, 0.01, KeyboardInterrupt(), times=1)
    with monkeypatch.context() as patch:
        patch.setattr(storage.RetryPolicy, "requeue", staticmethod(lambda *args, **kwargs: None))
        with pytest.raises(KeyboardInterrupt):
            run_study(grid(), out=tmp_path)
    seen = Seen()
    result = run_study(grid(), out=tmp_path, observer=seen)
    assert (seen.redo.resumed, seen.redo.retried, seen.redo.new) == (1, 0, 0)
    interrupted, again = by_point(result)[0.01]
    assert again.state == TrialState.COMPLETE and again.system_attrs["failed_trial"] == interrupted.number
    assert not result.shortfall


def test_retry_failed_runs_a_failed_point_again(tmp_path, monkeypatch):
    broken = Breaks(monkeypatch, 0.01, RuntimeError("boom"))
    run_study(grid(retries=0), out=tmp_path)
    seen = Seen()
    result = run_study(grid(retries=0), out=tmp_path, observer=seen)  # a plain rerun leaves it failed
    assert seen.redo.failed == 1 and broken.calls.count(0.01) == 1
    assert dict(result.shortfall.failed) == {"error": 1}
    broken.left = 0  # fixed
    result = run_study(grid(retries=0), out=tmp_path, observer=seen, retry_failed=True)
    assert (seen.redo.resumed, seen.redo.retried, seen.redo.new, seen.redo.failed) == (0, 1, 0, 0)
    failed, again = by_point(result)[0.01]
    assert TrialRecord.from_trial(failed).outcome == "error" and again.state == TrialState.COMPLETE
    assert not result.shortfall
    assert len(done_trials(result.study.get_trials())) == 2  # the failure run again no longer counts


def test_retry_failed_runs_a_point_of_the_search_after_the_final_stage(tmp_path, monkeypatch):
    spec = grid(retries=0, final={"top": 1, "seeds": 2})
    broken = Breaks(monkeypatch, 0.01, RuntimeError("boom"))
    run_study(spec, out=tmp_path)
    broken.left = 0
    result = run_study(spec, out=tmp_path, retry_failed=True)
    trials = result.study.get_trials()
    records = {t.number: TrialRecord.from_trial(t) for t in trials}
    again = trials[-1]  # the failed grid point, run after the final stage, in its own stage
    assert again.state == TrialState.COMPLETE and again.params == {"train.optimizer.lr": 0.01}
    assert (records[again.number].stage, records[again.number].stage_name) == (0, "grid")
    assert [r.stage_name for r in records.values()].count("final") == 1  # the final stage ran once
    assert not result.shortfall


def test_a_study_made_before_stages_kept_their_points_finds_them_in_its_trials(tmp_path):
    result = run_study(grid(), out=tmp_path)
    raws = StudyRecord.from_study(result.study).stages
    set_study_attrs(result.study, stages=[{k: v for k, v in raw.items() if k != "points"} for raw in raws])
    points = planned_points(result.study)
    assert sorted(p.values["train.optimizer.lr"] for p in points) == LRS
    assert {p.state for p in points} == {"done"}


def test_the_policy_retries_errors_and_divergence_not_invalid_configurations():
    policy = storage.RetryPolicy(retries=2)
    assert policy.again("error", 1) and policy.again("diverged", 2) and not policy.again("error", 3)
    assert not policy.again("invalid", 1)


# ----------------------------------------------------------------------------------------- the CLI
def run_cli(study, *args):
    return CliRunner().invoke(app, ["run", str(study), "--quiet", *map(str, args)])


def test_exit_code_3_names_the_failed_points_and_retry_failed_makes_it_0(tmp_path, monkeypatch):
    study = tmp_path / "study.yaml"
    study.write_text(yaml.safe_dump(grid(retries=0)))
    broken = Breaks(monkeypatch, 0.01, RuntimeError("boom"))
    result = run_cli(study, "--out", tmp_path / "out")
    assert result.exit_code == 3, result.output
    last = result.output.strip().splitlines()[-1]
    assert "1 of 2 planned points failed (error 1)" in last and "--retry-failed" in last

    broken.left = 0
    result = run_cli(study, "--out", tmp_path / "out", "--retry-failed")
    assert result.exit_code == 0, result.output
    result = run_cli(study, "--out", tmp_path / "out")
    assert result.exit_code == 0, result.output
    assert broken.calls.count(0.01) == 2


def test_run_says_what_it_takes_up_first(tmp_path, monkeypatch):
    study = tmp_path / "study.yaml"
    study.write_text(yaml.safe_dump(grid(retries=0)))
    Breaks(monkeypatch, 0.01, RuntimeError("boom"))
    run_cli(study, "--out", tmp_path / "out")
    result = CliRunner().invoke(app, ["run", str(study), "--out", str(tmp_path / "out")])
    assert "to do first: 0 resumed, 0 retried, 0 new · 1 failed points left as they are" in result.output


def test_run_studys_result_says_the_plan_is_short_when_every_worker_process_died(tmp_path, monkeypatch):
    from tunelab.search import workers

    died = ["worker 0 was killed (signal 9)", "worker 1 was killed (signal 9)"]
    monkeypatch.setattr(workers, "run_local_workers", lambda *args, **kwargs: died)
    result = run_study(grid(), out=tmp_path, workers=2)  # no worker planned or ran a point
    assert result.problems == died and not result.finished
    assert result.shortfall and result.shortfall.message().startswith("the study did not finish")
