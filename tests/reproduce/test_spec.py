"""Reproduction files: the bundled ones validate; a mistake is one sentence naming the field, exit 2."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from reprofiles import reproduction
from typer.testing import CliRunner

from tunelab.cli import app
from tunelab.errors import ConfigError
from tunelab.reproduce.run import check_studies
from tunelab.reproduce.spec import known_papers, load_reproduction, validate_reproduction

REPO = Path(__file__).resolve().parents[2]
PAPERS = REPO / "studies" / "papers"
runner = CliRunner()


@pytest.mark.parametrize("paper", ["000", "001", "002", "003", "004"])
def test_bundled_files_validate_with_both_budgets(paper):
    repro, path = load_reproduction(PAPERS / f"{paper}.yaml")
    assert repro.paper == paper and repro.numbers
    for budget in ("full", "quick"):
        check_studies(repro, path, budget)  # every study file and override validates


def test_known_papers():
    assert known_papers(PAPERS) == ["000", "001", "002", "003", "004"]


def _error(raw: dict) -> str:
    with pytest.raises(ConfigError) as info:
        validate_reproduction(raw, "r.yaml")
    return str(info.value)


def test_unknown_key_is_named():
    raw = reproduction()
    raw["numbers"][0]["tunelab"]["metrc"] = "test_accuracy"
    assert _error(raw) == "r.yaml: numbers[0].tunelab.metrc: unknown key"


def test_reference_to_a_missing_part_is_named():
    raw = reproduction()
    raw["numbers"][1]["tunelab"]["study"] = "nope"
    assert _error(raw) == "r.yaml: numbers[1].tunelab.study: 'nope' is not the id of one of parts.studies"


def test_a_source_needs_exactly_one_part():
    raw = reproduction()
    raw["numbers"][0]["tunelab"]["baseline"] = "classic"
    assert "expected exactly one of study, baseline, probe, ensemble" in _error(raw)


def test_ranking_of_an_unknown_number():
    raw = reproduction()
    raw["rankings"][0]["order"] = ["fast", "ghost"]
    assert _error(raw).startswith("r.yaml: rankings[0].order: ranking 'lr' names number 'ghost'")


def _invoke(*args: object):
    return runner.invoke(app, [str(a) for a in args])


def test_cli_unknown_field_exits_2_with_one_sentence(tmp_path):
    raw = reproduction()
    raw["budget"]["quick"]["epochs"] = 1
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    result = _invoke("reproduce", path, "--budget", "quick")
    assert result.exit_code == 2
    assert result.output.strip() == f"error: {path}: budget.quick.epochs: unknown key"
    assert "Traceback" not in result.output


def test_cli_unknown_paper_exits_2():
    result = _invoke("reproduce", "777")
    assert result.exit_code == 2
    assert "paper '777': no reproduction file for it; expected a paper id" in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_cli_bad_budget_exits_2(repro_file):
    result = _invoke("reproduce", repro_file, "--budget", "huge")
    assert result.exit_code == 2
    assert result.output.strip() == "error: --budget: expected full or quick, got 'huge'"


def test_cli_missing_study_file_exits_2(repro_file):
    (repro_file.parent / "study.yaml").unlink()
    result = _invoke("reproduce", repro_file, "--out", repro_file.parent / "out")
    assert result.exit_code == 2 and "no study file study.yaml" in result.output
    assert not (repro_file.parent / "out").exists()  # a mistake writes nothing
