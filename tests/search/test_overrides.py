"""``--set`` has one meaning on a study: a searched setting it names is fixed (and said so), and a
rerun may change how trials run or extend the study, never silently what a finished trial computed."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from tunelab.cli import app
from tunelab.errors import ConfigError
from tunelab.search import load_study_spec, open_study
from tunelab.search.record import set_study_attrs
from tunelab.search.scheduling import Schedule
from tunelab.search.strategies import STRATEGIES
from tunelab.search.trial_store import TrialStore

EXAMPLES = Path(__file__).resolve().parents[2] / "studies" / "examples"


def test_a_searched_setting_given_by_set_is_fixed_and_leaves_the_space():
    notes: list[str] = []
    spec = load_study_spec(EXAMPLES / "digits-coarse-to-fine.yaml", ["train.batch_size=16"], notes)
    assert "train.batch_size" not in spec.space and spec.train.batch_size == 16
    assert set(spec.space) == {"train.optimizer.lr", "train.optimizer.momentum", "model.dropout"}
    assert notes == ["--set train.batch_size=16 fixes train.batch_size, it is no longer searched (space)"]
    untouched = load_study_spec(EXAMPLES / "digits-coarse-to-fine.yaml", ["train.epochs=2"], notes)
    assert "train.batch_size" in untouched.space and len(notes) == 1  # not searched: a plain override


def test_a_stage_left_with_nothing_to_vary_is_left_out():
    notes: list[str] = []
    spec = load_study_spec(EXAMPLES / "digits-staged.yaml", ["model.dropout=0.1"], notes)
    assert [s.name for s in spec.strategy.stages] == ["optimizer", "init", "batch_norm"]
    assert spec.model.dropout == 0.1
    assert notes[-1] == "stage 'dropout' varied nothing else: it is left out"


@pytest.mark.parametrize(
    ("study", "override", "expected"),
    [
        ("digits-deep-mlp.yaml", "model.hidden=[64]", "space.model.hidden is drawn per layer"),
        ("digits-listed.yaml", "model.hidden=[64]", "configuration 'NN model 1' sets model.hidden itself"),
        ("digits-asha.yaml", "train.optimizer.lr=0.1", "nothing would be left to search"),
    ],
)
def test_an_override_that_cannot_fix_a_searched_setting_is_one_sentence(study, override, expected):
    with pytest.raises(ConfigError, match=expected) as info:
        load_study_spec(EXAMPLES / study, [override])
    assert str(info.value).startswith(f"--set {override}") and "\n" not in str(info.value)


def test_run_says_what_an_override_fixed(tmp_path):
    args = ["run", str(EXAMPLES / "digits-grid.yaml"), "--out", str(tmp_path), "--n-trials", "1"]
    result = CliRunner().invoke(app, [*args, "--set", "train.batch_size=16", "--set", "train.epochs=1"])
    assert result.exit_code == 0, result.output
    assert "note: --set train.batch_size=16 fixes train.batch_size, it is no longer searched" in result.stderr


def test_a_rerun_may_change_how_trials_run_but_not_what_they_compute(tmp_path):
    grid = EXAMPLES / "digits-grid.yaml"
    open_study(load_study_spec(grid, ["train.epochs=1"]), out_dir=tmp_path)
    notes: list[str] = []
    how = ["train.epochs=1", "population=1", "train.device=cpu", "budget.n_trials=3", "seed=5"]
    open_study(load_study_spec(grid, how), out_dir=tmp_path, notes=notes)
    assert notes == [
        "the study goes on with population (16 there, 1 here); seed (0 there, 5 here); "
        'train.device ("auto" there, "cpu" here)'
    ]
    with pytest.raises(ConfigError) as info:
        open_study(load_study_spec(grid, ["train.epochs=2"]), out_dir=tmp_path)
    message = str(info.value)
    assert "was made with other settings: train.epochs (1 there, 2 here)" in message
    assert "--out" in message and str(tmp_path / "study.yaml") in message


def test_final_may_be_added_until_the_final_stage_starts(tmp_path):
    random = EXAMPLES / "digits-random.yaml"
    handle = open_study(load_study_spec(random), out_dir=tmp_path)
    open_study(load_study_spec(random, ["final.top=2"]), out_dir=tmp_path)  # not started: taken
    search = STRATEGIES["random"](handle.spec, 0, [])
    final = search.__class__(name="final", space=search.space, points=[], final=True)
    set_study_attrs(handle.study, stages=[search.to_raw(), final.to_raw()])
    with pytest.raises(ConfigError, match=r"final.seeds \(3 there, 5 here\)"):
        open_study(load_study_spec(random, ["final.top=2", "final.seeds=5"]), out_dir=tmp_path)
    # ...and the search cannot go on after its final stage: a larger budget is refused, saying so
    schedule = Schedule(handle.spec, TrialStore(handle.study, handle.storage), n_trials=20, device="cpu")
    with pytest.raises(ConfigError, match="--n-trials 20: the search of study 'digits-random' ended at 0"):
        schedule.check_budget()
