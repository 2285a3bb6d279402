"""The progress board: what a running study looks like after each report, and the events it hands on."""

from __future__ import annotations

import io
from pathlib import Path
from types import SimpleNamespace

from rich.console import Console

from tunelab.progress import Board, LinesView, LiveView, progress_board
from tunelab.search import load_study_spec, run_study
from tunelab.search.execution import EpochUpdate, TrialOutcome

EXAMPLES = Path(__file__).resolve().parents[2] / "studies" / "examples"


def record(acc: float) -> dict[str, float]:
    return {"epoch": 1.0, "val_accuracy": acc, "val_loss": 1 - acc}


def test_a_member_that_stops_early_shows_it_while_the_others_train():
    events = []
    board = Board(events.append)
    board.started(load_study_spec(EXAMPLES / "digits-grid.yaml"), "sqlite:///x.db", 0, 8)
    for number in (0, 1):
        board.trial_started(number, "grid", {"model.dropout": 0.2 + number / 10})
    board.epoch(EpochUpdate(0, 0, 1, 8, record(0.5)))
    board.epoch(EpochUpdate(1, 0, 1, 8, record(0.6), ended="early_stopped"))
    assert [r.state for r in board.rows.values()] == ["training", "early stopped"]
    assert (board.rows[0].epoch, board.rows[0].epochs, board.rows[0].value) == (1, 8, 0.5)
    assert [e.text for e in events if e.kind == "epoch"] == [
        "trial 0 epoch 1/8 · val_accuracy 0.5000",
        "trial 1 epoch 1/8 · val_accuracy 0.6000 · early stopped",
    ]
    best = SimpleNamespace(value=0.6, number=1)  # the study's best as a FrozenTrial gives it
    board.trial_finished(1, TrialOutcome("completed", metrics={"val_accuracy": 0.6}), 1, best)
    assert list(board.rows) == [0]  # a finished trial leaves the rows
    assert events[-1].text == "trial 1 completed: val_accuracy 0.6000 · 1/8 done · best 0.6000 (#1)"
    assert events[0].text == "study digits-grid · grid · sqlite:///x.db · 0/8 done"


def test_seeds_of_one_trial_are_one_row_with_each_seed_shown():
    events = []
    board = Board(events.append)
    board.started(load_study_spec(EXAMPLES / "digits-listed.yaml"), "db", 0, 3)  # repeats: 3
    board.trial_started(0, "listed", {"config": "NN model 1"})
    board.epoch(EpochUpdate(0, 0, 1, 5, record(0.4)))
    board.epoch(EpochUpdate(0, 1, 1, 5, record(0.6), ended="diverged"))
    row = board.rows[0]
    assert sorted(row.runs) == [0, 1] and row.value == 0.5 and row.state == "diverged"
    assert events[-1].text == "trial 0 seed 1 epoch 1/5 · val_accuracy 0.6000 · diverged"


def test_the_live_view_draws_the_running_trials_and_the_bar():
    console = Console(file=io.StringIO(), force_terminal=True, width=100)
    view = LiveView(console)
    board = Board(view)
    board.started(load_study_spec(EXAMPLES / "digits-grid.yaml"), "db", 2, 8)
    board.trial_started(2, "grid", {})
    board.epoch(EpochUpdate(2, 0, 3, 8, record(0.75)))
    shown = Console(file=io.StringIO(), width=100, record=True)
    shown.print(view.render())
    text = shown.export_text()
    view.close()
    assert "trials 2/8" in text and "3/8" in text and "0.7500" in text and "training" in text


def test_progress_setting_picks_a_view():
    pipe = Console(file=io.StringIO())  # not a terminal
    assert isinstance(progress_board(True, pipe).views[0], LinesView)
    assert isinstance(progress_board("live", pipe).views[0], LiveView)
    assert progress_board(False) is None


def test_run_study_with_a_callback_sees_every_epoch_before_each_outcome(tmp_path):
    events = []
    run_study(
        EXAMPLES / "digits-listed.yaml", out=tmp_path, overrides=["train.epochs=2"], progress=events.append
    )
    kinds = [(e.kind, e.trial.number if e.trial else None) for e in events]
    assert kinds[0] == ("started", None)
    first_outcome = kinds.index(("trial_finished", 0))
    # the 3 seeds of a configuration train as one population: each seed's 2 epochs before its outcome
    seen = [(e.update.seed, e.update.epoch) for e in events[:first_outcome] if e.kind == "epoch"]
    assert sorted(seen) == [(0, 1), (0, 2), (1, 1), (1, 2), (2, 1), (2, 2)]
    assert [e.done for e in events if e.kind == "trial_finished"] == [1, 2, 3]


def test_run_study_says_what_an_override_fixed(tmp_path):
    events = []
    overrides = ["train.batch_size=32", "train.epochs=1", "budget.n_trials=1"]
    run_study(
        EXAMPLES / "digits-coarse-to-fine.yaml", out=tmp_path, overrides=overrides, progress=events.append
    )
    assert events[0].kind == "note" and "fixes train.batch_size" in events[0].text
