"""docs/reproductions.md is generated from the committed summaries, and is in sync with them."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tunelab.cli import app
from tunelab.errors import ConfigError
from tunelab.reproduce.compare import compare_row
from tunelab.reproduce.docs import render_doc

REPO = Path(__file__).resolve().parents[2]
REPORTS = REPO / "docs" / "reports" / "papers"
DOC = REPO / "docs" / "reproductions.md"
runner = CliRunner()


def _summary(paper: str, budget: str = "quick") -> dict:
    rows = [
        compare_row(
            "a", "Table 1", "lr 0.1", "test_accuracy", "test", "grid", 0.97, [0.96, 0.97, 0.98]
        ).to_dict(),
        compare_row("b", "Table 1", "KNN", "test_accuracy", "test", "knn", 0.9, [0.95]).to_dict(),
    ]
    return {
        "kind": "tunelab-reproduction",
        "format": 1,
        "paper": paper,
        "title": "a paper",
        "seed": "x.txt",
        "budget": budget,
        "budget_description": "1 epoch",
        "budget_overrides": {"studies": {"grid": ["train.epochs=1"]}},
        "rows": rows,
        "verdicts": {"inside": 1, "no CI (1 seed)": 1},
        "rankings": [
            {
                "id": "r",
                "table": "Table 1",
                "claim": "a > b",
                "paper_order": ["a", "b"],
                "tunelab_order": ["b", "a"],
                "holds": False,
                "swaps": [["a", "b"]],
                "ties": [],
            }
        ],
        "timings_s": {"grid": 61.0, "knn": 3.0},
        "wall_s": 64.0,
        "parts": [],
        "provenance": {"git_commit": "0123456789abcdef", "device": "cpu", "torch": "2", "dataset_sha256": {}},
        "deviations": ["the split differs"],
        "schema_gaps": ["times are not compared"],
    }


def _write(folder: Path, summary: dict) -> None:
    folder.mkdir(parents=True)
    (folder / "summary.json").write_text(json.dumps(summary), encoding="utf-8")
    (folder / "report.html").write_text("<html></html>", encoding="utf-8")


def test_doc_has_every_number_linked_with_its_verdict_budget_and_notes(tmp_path):
    reports = tmp_path / "docs" / "reports" / "papers"
    _write(reports / "001", _summary("001"))
    _write(reports / "000", _summary("000", "full"))
    text = render_doc(reports, tmp_path / "docs")
    assert text.index("## 000") < text.index("## 001")  # papers in order
    assert (
        "| 001 a paper | quick | 64 s | 1 inside, 1 no CI (1 seed) | 0 of 1 "
        "| [001](reports/papers/001/report.html) |" in text
    )
    assert (
        "[0.9700 ± 0.0248 (3)](reports/papers/001/report.html#paper-vs-tunelab) | +0.0000 | inside |" in text
    )
    assert (
        "[0.9500 (1)](reports/papers/001/report.html#paper-vs-tunelab) | +0.0500 | no CI (1 seed) |" in text
    )
    assert "differs: b > a" in text and "**Budget: quick** — 1 epoch" in text and "**Budget: full**" in text
    assert "- the split differs" in text and "- times are not compared" in text
    assert "grid: `train.epochs=1`" in text


def test_no_summaries_is_one_sentence(tmp_path):
    with pytest.raises(ConfigError, match=r"no <paper>/summary\.json here"):
        render_doc(tmp_path, tmp_path)


def test_check_mode_exits_1_when_stale(tmp_path):
    reports = tmp_path / "papers"
    _write(reports / "001", _summary("001"))
    doc = tmp_path / "reproductions.md"
    args = ["reproductions-doc", "--reports", str(reports), "--output", str(doc)]
    assert runner.invoke(app, [*args, "--check"]).exit_code == 1
    assert runner.invoke(app, args).exit_code == 0
    assert runner.invoke(app, [*args, "--check"]).exit_code == 0


def test_committed_doc_is_in_sync_with_the_committed_reports():
    """CI's check: regenerate docs/reproductions.md from docs/reports/papers/*/summary.json."""
    assert render_doc(REPORTS, DOC.parent) == DOC.read_text(encoding="utf-8"), (
        "docs/reproductions.md is stale: run tunelab reproductions-doc"
    )


def test_every_committed_number_links_to_a_committed_report():
    links = re.findall(r"\]\((reports/[^)#]+)(?:#[^)]*)?\)", DOC.read_text(encoding="utf-8"))
    assert links
    for link in set(links):
        assert (DOC.parent / link).is_file(), link


@pytest.mark.parametrize("paper", ["000", "001", "002", "003", "004"])
def test_every_paper_has_a_committed_report_with_data_checksums(paper):
    summary = json.loads((REPORTS / paper / "summary.json").read_text(encoding="utf-8"))
    assert summary["paper"] == paper and summary["budget"] in ("full", "quick")
    assert summary["provenance"]["dataset_sha256"], "the report must name every data file's SHA-256"
    assert (REPORTS / paper / "report.html").is_file()
