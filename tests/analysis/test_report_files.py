"""``build_report`` and ``tunelab report``: every file is written and readable, whatever the study."""

from __future__ import annotations

import ast
import base64
import re
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path

import matplotlib.image
import pandas as pd
import pytest
import typer
from optuna.trial import TrialState
from studyfiles import variant
from typer.testing import CliRunner

from tunelab.analysis.report import write_report
from tunelab.analysis.summaries import StudyData

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


class Page(HTMLParser):
    """What the report page loads: images, scripts, stylesheets, links."""

    def __init__(self) -> None:
        super().__init__()
        self.images: list[str] = []
        self.scripts = self.stylesheets = 0
        self.sections: list[str] = []
        self._in_h2 = False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "img":
            self.images.append(attrs.get("src", ""))
        self.scripts += tag == "script"
        self.stylesheets += tag == "link" and attrs.get("rel") == "stylesheet"
        self._in_h2 = tag == "h2"

    def handle_data(self, data):
        if self._in_h2:
            self.sections.append(data)
            self._in_h2 = False


def check_report(folder: Path) -> Page:
    """Every file of a report folder is there and valid; returns the parsed page."""
    html = (folder / "report.html").read_text(encoding="utf-8")
    page = Page()
    page.feed(html)
    assert page.scripts == 0 and page.stylesheets == 0
    assert not re.search(r"""(src|href)=["']https?://""", html)  # nothing to fetch: opens offline
    pngs = sorted((folder / "figures").glob("*.png"))
    assert len(page.images) == len(pngs)
    for src in page.images:
        assert src.startswith("data:image/png;base64,")
        assert base64.b64decode(src.split(",", 1)[1])[:8] == PNG_MAGIC
    for png in pngs:
        assert png.read_bytes()[:8] == PNG_MAGIC
        image = matplotlib.image.imread(png)
        assert image.ndim == 3 and image.shape[0] > 100 and image.shape[1] > 100
        svg = png.with_suffix(".svg")
        assert ET.parse(svg).getroot().tag.endswith("svg")
    markdown = (folder / "report.md").read_text(encoding="utf-8")
    for link in re.findall(r"!\[[^\]]*\]\(([^)]+)\)", markdown):
        assert (folder / link).is_file()
    assert len(re.findall(r"!\[", markdown)) == len(pngs)
    for csv in (folder / "tables").glob("*.csv"):
        pd.read_csv(csv)
        tex = csv.with_suffix(".tex").read_text(encoding="utf-8")
        assert "\\toprule" in tex and "\\midrule" in tex and "\\bottomrule" in tex
        assert tex.count("\\begin{tabular}") == tex.count("\\end{tabular}") == 1
    return page


def test_report_of_a_study(report_dir, study_data):
    page = check_report(report_dir)
    assert page.sections == [
        "Summary",
        "Results",
        "Best configuration",
        "Learning curves",
        "Search",
        "Parameters",
        "By parameter value",
        "Parameter densities",
        "Baselines",
        "Provenance",
    ]
    figures = {p.stem for p in (report_dir / "figures").glob("*.png")}
    assert figures == {
        "confusion",
        "per_class",
        "learning_curves",
        "history",
        "expected_best",
        "importance",
        "scatter_val",
        "by_train_batch_size",
        "kde",
        "baselines",
    }
    tables = {p.stem for p in (report_dir / "tables").glob("*.csv")}
    assert {
        "study",
        "provenance",
        "results",
        "best_metrics",
        "best_per_class",
        "importance",
        "correlations",
    } <= tables
    assert {"correlations", "expected_best", "history", "learning_curves", "densities", "baselines"} <= tables
    results = pd.read_csv(report_dir / "tables" / "results.csv")
    assert len(results) == 8 and results["trial"].iloc[0] == study_data.best.number
    curves = pd.read_csv(report_dir / "tables" / "learning_curves.csv")
    assert curves["trial"].nunique() == 3  # top_k
    html = (report_dir / "report.html").read_text(encoding="utf-8")
    assert "The budget looks" in html and "knn" in html
    assert f"#{study_data.best.number}" in (report_dir / "report.md").read_text(encoding="utf-8")


def test_latex_escapes_and_booktabs(report_dir):
    tex = (report_dir / "tables" / "results.tex").read_text(encoding="utf-8")
    assert "train.optimizer.lr" in tex and "val\\_accuracy" in tex and "\\label{tab:results}" in tex


@pytest.mark.slow
def test_pruned_failed_single_and_empty_studies_still_report(study_data, tmp_path):
    trials = study_data.trials
    mixed = [
        *trials[:4],
        variant(trials[4], 4, TrialState.PRUNED, "pruned", **{"tunelab.reason": "pruned after epoch 1"}),
        variant(trials[5], 5, TrialState.FAIL, "diverged", **{"tunelab.reason": "loss is nan"}),
        variant(trials[6], 6, TrialState.FAIL, "error", **{"tunelab.runs": [], "tunelab.metrics": {}}),
    ]
    cases = {
        "mixed": mixed,
        "single": trials[:1],
        "failed": [variant(trials[0], 0, TrialState.FAIL, "invalid", **{"tunelab.runs": []})],
        "empty": [],
    }
    for name, chosen in cases.items():
        data = StudyData(study_data.spec, chosen)
        page = check_report(Path(write_report(data, tmp_path / name)).parent)
        assert page.sections[:2] == ["Summary", "Results"] and page.sections[-1] == "Provenance", name
    single = (tmp_path / "single" / "report.html").read_text(encoding="utf-8")
    assert "No importance" in single and "cannot tell" in single
    assert "No trial completed" in (tmp_path / "failed" / "report.html").read_text(encoding="utf-8")
    mixed_results = pd.read_csv(tmp_path / "mixed" / "tables" / "results.csv")
    assert list(mixed_results["status"].iloc[-3:]) == ["pruned", "diverged", "error"]

    # A new report in the same folder drops the old one's figures and tables, and only those.
    (tmp_path / "single" / "figures" / "notes.txt").write_text("mine")
    write_report(StudyData(study_data.spec, []), tmp_path / "single")
    assert not (tmp_path / "single" / "figures" / "confusion.png").exists()
    assert (tmp_path / "single" / "figures" / "notes.txt").read_text() == "mine"
    assert not (tmp_path / "single" / "tables" / "best_metrics.csv").exists()


def test_report_command(study_handle, baselines_dir, tmp_path):
    from tunelab.analysis.cli import report
    from tunelab.cli import user_errors

    app = typer.Typer()
    app.command()(user_errors(report))
    runner = CliRunner()
    out = tmp_path / "cli-report"
    args = [str(study_handle.out_dir), "--out", str(out), "--baselines", str(baselines_dir), "--top-k", "1"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert (out / "report.html").is_file() and (out / "report.md").is_file()
    assert pd.read_csv(out / "tables" / "learning_curves.csv")["trial"].nunique() == 1
    steps = [line for line in result.stderr.splitlines() if line.startswith("report: ")]
    assert steps[0] == "report: read study report-test: 8 trials"  # it says what it is doing, in order
    assert steps.index("report: computing results") < steps.index("report: computing baselines")
    assert steps[-1] == "report: writing report.md and report.html"
    missing = runner.invoke(app, [str(tmp_path / "nowhere")])
    assert missing.exit_code == 2 and "no such study" in missing.output
    bad = runner.invoke(app, [str(study_handle.out_dir), "--out", str(out), "--baselines", str(tmp_path)])
    assert bad.exit_code == 2 and "results.json" in bad.output


def test_report_command_module_stays_light():
    """The CLI module imports neither tunelab.cli nor the heavy libraries at import time."""
    source = (Path(__file__).parents[2] / "src" / "tunelab" / "analysis" / "cli.py").read_text()
    tree = ast.parse(source)
    top = [n for n in tree.body if isinstance(n, ast.Import | ast.ImportFrom)]
    names = {a.name for n in top for a in n.names} | {n.module for n in top if isinstance(n, ast.ImportFrom)}
    assert not names & {"tunelab.cli", "matplotlib", "optuna", "pandas", "tunelab.analysis.report"}
