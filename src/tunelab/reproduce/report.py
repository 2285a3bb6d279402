"""A reproduction's report: one self-contained HTML page drawn from its summary (no compute here).

Its first table is *paper vs tunelab* for every number; then the ranking checks, the budget and
wall time, the deviations and what the schema cannot express, the parts and their provenance (with
the SHA-256 of every data file).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from tunelab.analysis.render import FigureItem, Section, TableItem, html_page, to_booktabs
from tunelab.reproduce.summary import REPORT_FILE, save_summary, stamp


def fmt(value: float | None, digits: int = 4) -> str:
    if value is None:
        return "—"
    if value != 0 and (abs(value) < 1e-3 or abs(value) >= 1e4):
        return f"{value:.2e}"
    return f"{value:.{digits}f}"


def tunelab_cell(row: dict[str, Any]) -> str:
    """``0.9757 ± 0.0050 (3)``: mean ± 95% CI half-width (values); one value alone; — if none."""
    if row["mean"] is None:
        return "—"
    if row["ci95"] is None:
        return f"{fmt(row['mean'])} (1)"
    return f"{fmt(row['mean'])} ± {fmt(row['ci95'])} ({len(row['values'])})"


def diff_cell(row: dict[str, Any]) -> str:
    return "—" if row["diff"] is None else f"{row['diff']:+.4f}"


def comparison_frame(summary: dict[str, Any]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "paper table": r["table"],
                "row": r["row"],
                "metric (split)": r["metric"],
                "paper": fmt(r["paper"]),
                "tunelab mean ± 95% CI (n)": tunelab_cell(r),
                "difference": diff_cell(r),
                "verdict": r["verdict"],
                "tunelab part": r["part"],
                "note": r["note"],
            }
            for r in summary["rows"]
        ]
    )


def ranking_frame(summary: dict[str, Any]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "paper table": r["table"],
                "claim": r["claim"],
                "paper's order": " > ".join(r["paper_order"]),
                "tunelab's order": " > ".join(r["tunelab_order"]) or "—",
                "verdict": ranking_verdict(r),
                "within seed noise": ", ".join(f"{a} ~ {b}" for a, b in r["ties"]) or "—",
            }
            for r in summary["rankings"]
        ]
    )


def ranking_verdict(r: dict[str, Any]) -> str:
    if r["holds"] is None:
        return "not measured"
    if r["holds"]:
        return "holds"
    swaps = ", ".join(f"{b} > {a}" for a, b in r["swaps"])
    return f"differs: {swaps}"


def budget_line(summary: dict[str, Any]) -> str:
    return (
        f"Budget: {summary['budget']} ({summary['budget_description']}). Wall time "
        f"{summary['wall_s']:.0f} s over all parts, added up over the runs that did work."
    )


def _provenance_frame(summary: dict[str, Any]) -> pd.DataFrame:
    prov = summary["provenance"]
    rows = [(k, str(v)) for k, v in prov.items() if k != "dataset_sha256"]
    rows += [(f"SHA-256 {name}", sha) for name, sha in sorted(prov["dataset_sha256"].items())]
    return pd.DataFrame(rows, columns=["item", "value"])


def _parts_frame(summary: dict[str, Any]) -> pd.DataFrame:
    rows = []
    for part in summary["parts"]:
        prov = part.get("provenance") or {}
        rows.append(
            {
                "part": part["id"],
                "kind": part["kind"],
                "what": part.get("file") or part.get("name") or "",
                "overrides": " ".join(summary["budget_overrides"]["studies"].get(part["id"], [])) or "—",
                "wall s": fmt(summary["timings_s"].get(part["id"]), 0),
                "commit": str(prov.get("git_commit") or "—")[:12],
                "device": prov.get("device", "—"),
                "data files (SHA-256)": "; ".join(
                    f"{k} {v[:12]}…" for k, v in sorted((prov.get("dataset_sha256") or {}).items())
                )
                or ("(the study's)" if part["kind"] in ("probe", "ensemble") else "—"),
            }
        )
    return pd.DataFrame(rows)


def report_sections(summary: dict[str, Any]) -> list[Section]:
    counts = ", ".join(f"{n} {v}" for v, n in summary["verdicts"].items())
    compare = Section(
        "Paper vs tunelab",
        [
            budget_line(summary),
            "tunelab's number is the mean over every seed of the matching runs, with Student's t 95% "
            "interval; the verdict says where the paper's number lies: inside the interval, above "
            "or below it; with one run there is no interval and only the difference is given. "
            f"Verdicts: {counts}.",
            TableItem(
                "paper_vs_tunelab", comparison_frame(summary), "Every number of the paper against tunelab's."
            ),
        ],
    )
    sections = [compare]
    if summary["rankings"]:
        sections.append(
            Section(
                "Ranking checks",
                [
                    "A ranking holds when every pair the paper orders is in the same order in tunelab's "
                    "means; neighbours whose intervals overlap are within seed noise.",
                    TableItem("rankings", ranking_frame(summary), "The paper's orderings against tunelab's."),
                ],
            )
        )
    deviations: list[str | TableItem | FigureItem] = list(summary["deviations"]) or ["None stated."]
    gaps: list[str | TableItem | FigureItem] = list(summary["schema_gaps"]) or ["None."]
    sections.append(Section("Deviations from the paper", deviations))
    sections.append(Section("What the schema cannot express", gaps))
    sections.append(
        Section(
            "Parts and budget",
            [
                budget_line(summary),
                TableItem("parts", _parts_frame(summary), "What ran, with its overrides."),
            ],
        )
    )
    sections.append(
        Section(
            "Provenance",
            [
                "Of the report (and, per part above, of what it ran); the SHA-256 of every data file read.",
                TableItem(
                    "provenance", _provenance_frame(summary), "Software, revision, device, data files."
                ),
            ],
        )
    )
    return sections


def write_report(summary: dict[str, Any], folder: Path) -> Path:
    """Write ``report.html``, ``summary.json`` and ``tables/`` (CSV, LaTeX) into ``folder``; returns the
    report's path."""
    folder.mkdir(parents=True, exist_ok=True)
    save_summary(summary, folder)
    title = f"Reproduction of paper {summary['paper']}: {summary['title']}"
    subtitle = f"budget {summary['budget']} · {len(summary['rows'])} numbers · seed paper {summary['seed']}"
    footer = f"Generated by `tunelab reproduce {summary['paper']} --budget {summary['budget']}` on {stamp()}."
    sections = report_sections(summary)
    tables = folder / "tables"  # what each table's CSV and LaTeX links point to
    tables.mkdir(exist_ok=True)
    for block in (b for section in sections for b in section.blocks if isinstance(b, TableItem)):
        block.frame.to_csv(tables / f"{block.name}.csv", index=False)
        (tables / f"{block.name}.tex").write_text(to_booktabs(block), encoding="utf-8")
    page = html_page(sections, title, subtitle, footer, {})
    path = folder / REPORT_FILE
    path.write_text(page, encoding="utf-8")
    return path
