"""``tunelab reproduce`` end to end on the bundled digits: every part runs, a rerun resumes, the report
and its summary hold every number with its verdict and the provenance of the data files."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from tunelab.cli import app

runner = CliRunner()


def _reproduce(repro_file, out, *extra):
    return runner.invoke(app, ["reproduce", str(repro_file), "--out", str(out), "-q", *extra])


@pytest.mark.slow
def test_reproduce_runs_every_part_and_resumes(repro_file, tmp_path):
    out = tmp_path / "out"
    result = _reproduce(repro_file, out, "--budget", "quick")
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "report" / "summary.json").read_text())
    assert summary["budget"] == "quick" and summary["budget_description"] == "1 epoch"
    assert summary["budget_overrides"]["studies"] == {"grid": ["repeats=2", "train.epochs=1"]}
    rows = {r["id"]: r for r in summary["rows"]}
    assert len(rows["slow"]["values"]) == 2 and rows["slow"]["verdict"] in ("inside", "above", "below")
    assert len(rows["best-val"]["values"]) == 2  # the best trial's 2 seeds
    for one in ("knn", "vote", "grad"):
        assert len(rows[one]["values"]) == 1, rows[one]
        assert rows[one]["verdict"] == "no CI (1 seed)" and rows[one]["ci95"] is None
    assert rows["slow"]["diff"] == pytest.approx(rows["slow"]["mean"] - 0.5)
    assert summary["rankings"][0]["holds"] in (True, False)
    assert list(summary["provenance"]["dataset_sha256"]) == ["digits/digits.csv.gz"]
    assert set(summary["timings_s"]) == {"grid", "classic", "init", "vote"}
    page = (out / "report" / "report.html").read_text()
    assert page.index("Paper vs tunelab") < page.index("Ranking checks") < page.index("Provenance")
    assert "SHA-256 digits/digits.csv.gz" in page and "Budget: quick (1 epoch)" in page

    # A rerun finds every part done: nothing trains, the timings stay, the numbers are the same.
    again = _reproduce(repro_file, out, "--budget", "quick")
    assert again.exit_code == 0, again.output
    second = json.loads((out / "report" / "summary.json").read_text())
    assert second["timings_s"] == summary["timings_s"] and second["rows"] == summary["rows"]


def test_report_only_before_anything_ran_says_not_measured(repro_file, tmp_path):
    out = tmp_path / "empty"
    result = _reproduce(repro_file, out, "--report-only")
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "report" / "summary.json").read_text())
    assert {r["verdict"] for r in summary["rows"]} == {"not measured"}
    assert summary["rankings"][0]["holds"] is None and summary["budget"] == "full"
