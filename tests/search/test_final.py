"""The final stage: after the search, the best configurations again on fresh seeds."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from optuna.trial import TrialState

from tunelab.analysis.report import build_report
from tunelab.analysis.stages import final_table
from tunelab.analysis.summaries import StudyData
from tunelab.search import load_study, run_study
from tunelab.search.status import best_summary
from tunelab.search.strategies import is_final, ranked

EXAMPLES = Path(__file__).resolve().parents[2] / "studies" / "examples"


def test_random_search_then_its_best_two_on_three_fresh_seeds(tmp_path):
    result = run_study(
        EXAMPLES / "digits-random.yaml",
        out=tmp_path,
        n_trials=4,
        overrides=["train.epochs=2", "final.top=2", "final.seeds=3"],
    )
    trials = result.study.get_trials()
    search = [t for t in trials if not is_final(t)]
    finals = [t for t in trials if is_final(t)]
    assert len(search) == 4 and len(finals) == 2  # the budget counts the search only
    top = [t.number for t in ranked(search, result.spec)[:2]]
    stage = load_study(tmp_path).stages()[-1]
    assert stage.final and stage.info["from_trials"] == top
    for final, number in zip(sorted(finals, key=lambda t: t.number), top, strict=True):
        source = result.study.trials[number]
        assert final.state == TrialState.COMPLETE
        assert final.user_attrs["tunelab.overrides"] == source.user_attrs["tunelab.overrides"]
        assert final.user_attrs["tunelab.seeds"] == [1, 2, 3]  # the search used seed 0
        runs = final.user_attrs["tunelab.runs"]
        assert [r["seed"] for r in runs] == [1, 2, 3]
        accuracies = [r["val_accuracy"] for r in runs]
        metrics = final.user_attrs["tunelab.metrics"]
        assert abs(metrics["val_accuracy"] - sum(accuracies) / 3) < 1e-12
        assert metrics["val_accuracy_ci95"] > 0  # three different seeds do not agree to the last digit
    # The study's answer is now the best final trial (a mean over fresh seeds), not a lucky search trial.
    assert result.best.number in {t.number for t in finals}
    assert best_summary(load_study(tmp_path))["seeds"] == [1, 2, 3]
    table = final_table(StudyData.from_handle(load_study(tmp_path)))
    assert sorted(table["configuration"]) == sorted(f"trial {n}" for n in top)
    assert table["val_accuracy_ci95"].gt(0).all() and table["search_val_accuracy"].notna().all()

    report = build_report(load_study(tmp_path), tmp_path / "report")
    html = report.read_text(encoding="utf-8")
    assert "<h2>Final configurations</h2>" in html or ">Final configurations<" in html
    shown = pd.read_csv(tmp_path / "report" / "tables" / "final.csv")
    assert len(shown) == 2 and "fresh seeds" in html
    # The search's own analyses leave the final trials out: importance and correlations are computed.
    correlations = pd.read_csv(tmp_path / "report" / "tables" / "correlations.csv")
    assert "final" not in set(correlations["parameter"]) and len(correlations) == 3
    assert (tmp_path / "report" / "tables" / "importance.csv").is_file()
    provenance = pd.read_csv(tmp_path / "report" / "tables" / "provenance.csv")
    assert "digits" in provenance.set_index("item").loc["dataset sha256", "value"]  # the data it read

    # Running again adds nothing: the search's budget is spent and the final stage is done.
    again = run_study(
        EXAMPLES / "digits-random.yaml",
        out=tmp_path,
        n_trials=4,
        overrides=["train.epochs=2", "final.top=2", "final.seeds=3"],
    )
    assert len(again.study.get_trials()) == 6


def test_final_follows_a_planned_strategy_and_trains_its_seeds_as_one_population(tmp_path):
    result = run_study(
        EXAMPLES / "digits-grid.yaml",
        out=tmp_path,
        overrides=["train.epochs=2", "final.seeds=2", "repeats=2"],
    )
    trials = result.study.get_trials()
    finals = [t for t in trials if is_final(t)]
    assert len(trials) == 8 + 1 and len(finals) == 1
    assert finals[0].user_attrs["tunelab.seeds"] == [2, 3]  # after the search's seeds 0 and 1
    assert {r["population"] for r in finals[0].user_attrs["tunelab.runs"]} == {2}
