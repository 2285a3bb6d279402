"""A report's parts (sections of text, tables and figures) written as HTML, Markdown and LaTeX.

No template engine: the page is a ``string.Template`` with inline CSS, tables are written here (HTML
escaped, Markdown pipes, LaTeX booktabs), so the report needs nothing beyond the standard library,
pandas and matplotlib. Text may mark code with backticks, as in Markdown.
"""

from __future__ import annotations

import base64
import html
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from string import Template
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

SCORES = {"accuracy", "loss", "f1", "precision", "recall", "importance", "rho", "mean", "std", "share"}
SCORES |= {"validation", "test", "all", "top"}
COUNTS = {"n", "epochs", "rank", "trial", "support"}


@dataclass
class TableItem:
    """A table: ``frame`` is written to CSV as is; ``shown`` (strings) goes into the documents."""

    name: str
    frame: pd.DataFrame
    caption: str
    max_rows: int | None = None
    show: bool = True  # False: written to CSV and LaTeX only, linked from the documents

    @property
    def shown(self) -> pd.DataFrame:
        frame = format_frame(self.frame)
        return frame.head(self.max_rows) if self.max_rows else frame

    @property
    def truncated(self) -> bool:
        return self.max_rows is not None and len(self.frame) > self.max_rows


@dataclass
class FigureItem:
    name: str
    figure: Figure
    caption: str


@dataclass
class Section:
    title: str
    blocks: list[str | TableItem | FigureItem] = field(default_factory=list)

    @property
    def shown(self) -> list[str | TableItem | FigureItem]:
        """The blocks the documents show (a table with ``show=False`` is only linked, under ``data``)."""
        return [b for b in self.blocks if not (isinstance(b, TableItem) and not b.show)]

    @property
    def data(self) -> list[TableItem]:
        return [b for b in self.blocks if isinstance(b, TableItem) and not b.show]

    @property
    def anchor(self) -> str:
        return re.sub(r"[^a-z0-9]+", "-", self.title.lower()).strip("-")


# ------------------------------------------------------------------------------------- formatting
def format_value(value: Any, column: str = "") -> str:
    """A cell as text: 4 decimals for scores, 2 for seconds, 4 significant digits otherwise; — if missing."""
    if value is None or value is pd.NA or (isinstance(value, float | np.floating) and math.isnan(value)):
        return "—"
    if isinstance(value, bool | np.bool_):
        return str(bool(value))
    if isinstance(value, int | np.integer):
        return str(int(value))
    if not isinstance(value, float | np.floating):
        return str(value)
    value = float(value)
    words = set(re.split(r"[_\s.]+", column))
    if column in COUNTS and value.is_integer():
        return str(int(value))
    if column.endswith("_s"):
        return f"{value:.2f}"
    if column == "p_value":
        return f"{value:.3g}"
    if words & SCORES and abs(value) < 100:
        return f"{value:.4f}"
    return f"{value:.4g}"


def format_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """Every cell as text; a ``<name>_ci95`` (or ``<name>_std``) column is folded into ``<name>`` as
    ``mean ± half-width`` (or ``mean ± std``)."""
    out = {}
    columns = [str(c) for c in frame.columns]
    for column in columns:
        stem, _, suffix = column.rpartition("_")
        if suffix in ("ci95", "std") and stem in columns:
            continue
        cells = [format_value(v, column) for v in frame[column].tolist()]
        for spread in (f"{column}_ci95", f"{column}_std"):
            if spread in columns:
                halves = [format_value(h, column) for h in frame[spread].tolist()]
                cells = [c if "—" in (c, h) else f"{c} ± {h}" for c, h in zip(cells, halves, strict=True)]
        out[column] = cells
    return pd.DataFrame(out, index=frame.index)


# ------------------------------------------------------------------------------------------ LaTeX
_TEX = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    "±": r"$\pm$",
    "—": "---",
    "ρ": r"$\rho$",
}


def tex_escape(text: str) -> str:
    return "".join(_TEX.get(ch, ch) for ch in text)


def to_booktabs(item: TableItem) -> str:
    """A LaTeX ``table`` with a booktabs ``tabular`` (needs ``\\usepackage{booktabs}``)."""
    shown = format_frame(item.frame)
    align = "".join("r" if pd.api.types.is_numeric_dtype(item.frame[c]) else "l" for c in item.frame.columns)
    align = "".join(a for a, c in zip(align, item.frame.columns, strict=True) if c in shown.columns)
    lines = [
        r"\begin{table}[htbp]",
        r"\centering",
        rf"\caption{{{tex_escape(item.caption)}}}",
        rf"\label{{tab:{item.name}}}",
        rf"\begin{{tabular}}{{{align}}}",
        r"\toprule",
        " & ".join(tex_escape(c) for c in shown.columns) + r" \\",
        r"\midrule",
        *(" & ".join(tex_escape(v) for v in row) + r" \\" for row in shown.itertuples(index=False)),
        r"\bottomrule",
        r"\end{tabular}",
        r"\end{table}",
    ]
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------------------- Markdown
def markdown(sections: list[Section], title: str, figures: dict[str, Path], root: Path) -> str:
    """The report in Markdown; figures link to their PNG files relative to ``root``."""
    lines = [f"# {title}", ""]
    lines += [f"- [{s.title}](#{s.anchor})" for s in sections] + [""]
    for section in sections:
        lines += [f"## {section.title}", ""]
        for block in section.shown:
            if isinstance(block, str):
                lines += [block, ""]
            elif isinstance(block, TableItem):
                lines += [f"**{block.caption}** ([CSV](tables/{block.name}.csv))", ""]
                lines += [_md_table(block.shown), ""]
                if block.truncated:
                    lines += [f"*First {block.max_rows} of {len(block.frame)} rows.*", ""]
            else:
                link = figures[block.name].relative_to(root).as_posix()
                lines += [f"![{block.caption}]({link})", "", f"*{block.caption}*", ""]
        if section.data:
            lines += ["Data: " + ", ".join(f"[{t.name}.csv](tables/{t.name}.csv)" for t in section.data), ""]
    return "\n".join(lines)


def _md_table(frame: pd.DataFrame) -> str:
    def cell(text: str) -> str:
        return str(text).replace("|", r"\|").replace("\n", " ")

    head = "| " + " | ".join(cell(c) for c in frame.columns) + " |"
    rule = "|" + "|".join("---" for _ in frame.columns) + "|"
    body = ["| " + " | ".join(cell(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join([head, rule, *body])


# ------------------------------------------------------------------------------------------- HTML
GENERATOR = "tunelab report"  # marks a folder as a report's, which a new report may clear
PAGE = Template(
    """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="$generator">
<title>$title</title>
<style>
:root { --ink: #1f2933; --muted: #616e7c; --line: #d9e2ec; --accent: #1f6feb; --bg: #f8fafc; }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.55 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
  color: var(--ink); background: #fff; }
header { background: var(--bg); border-bottom: 1px solid var(--line); padding: 24px 40px 16px; }
header h1 { margin: 0 0 4px; font-size: 26px; }
header p { margin: 0; color: var(--muted); }
nav { padding: 8px 40px; border-bottom: 1px solid var(--line); font-size: 14px; }
nav { display: flex; flex-wrap: wrap; gap: 2px 16px; }
nav a { color: var(--accent); text-decoration: none; white-space: nowrap; }
main { max-width: 1240px; padding: 8px 40px 60px; }
h2 { margin: 36px 0 10px; padding-bottom: 4px; border-bottom: 2px solid var(--line); font-size: 21px; }
p { max-width: 900px; }
code { font: 13px ui-monospace, SFMono-Regular, Menlo, monospace; background: var(--bg); padding: 1px 4px;
  border-radius: 3px; }
.table-wrap { overflow-x: auto; margin: 8px 0 20px; }
table { border-collapse: collapse; font-size: 13px; font-variant-numeric: tabular-nums; }
.cap { margin: 0; font-weight: 600; font-size: 14px; padding: 4px 0 6px; }
.cap a { font-weight: 400; font-size: 12px; margin-left: 8px; color: var(--accent); }
th, td { padding: 4px 10px; text-align: right; white-space: nowrap; }
th { white-space: normal; vertical-align: bottom; }
th.l, td.l, th:first-child, td:first-child { text-align: left; }
td.l { text-align: left; }
td.wrap { white-space: normal; min-width: 9em; max-width: 520px; overflow-wrap: anywhere; }
thead th { border-top: 2px solid var(--ink); border-bottom: 1px solid var(--ink); }
tbody tr:last-child td { border-bottom: 2px solid var(--ink); }
tbody tr:nth-child(even) { background: var(--bg); }
.figs { display: flex; flex-wrap: wrap; gap: 8px 28px; align-items: flex-start; }
figure { margin: 12px 0 20px; max-width: 100%; }
figure img { max-width: 100%; height: auto; border: 1px solid var(--line); border-radius: 4px; }
figcaption { color: var(--muted); font-size: 13px; margin-top: 4px; width: 0; min-width: 100%; }
.note { color: var(--muted); font-size: 13px; }
footer { color: var(--muted); font-size: 12px; padding: 20px 40px; border-top: 1px solid var(--line); }
</style>
</head>
<body>
<header><h1>$title</h1><p>$subtitle</p></header>
<nav>$nav</nav>
<main>
$body
</main>
<footer>$footer</footer>
</body>
</html>
"""
)


def html_page(
    sections: list[Section],
    title: str,
    subtitle: str,
    footer: str,
    figures: dict[str, Path],
    dpi: float = 150,
) -> str:
    """One self-contained page: CSS inline, figures embedded as base64 PNG (shown at their size
    in inches, the PNG being ``dpi`` pixels per inch), no scripts."""
    nav = "".join(f'<a href="#{s.anchor}">{html.escape(s.title)}</a>' for s in sections)
    body = []
    for section in sections:
        body.append(f'<section id="{section.anchor}"><h2>{html.escape(section.title)}</h2>')
        in_row = False  # figures side by side, as far as the page is wide
        for block in section.shown:
            if in_row and not isinstance(block, FigureItem):
                body.append("</div>")
                in_row = False
            if isinstance(block, str):
                body.append(f"<p>{_inline(block)}</p>")
            elif isinstance(block, TableItem):
                body.append(_html_table(block))
            else:
                if not in_row:
                    body.append('<div class="figs">')
                    in_row = True
                body.append(_html_figure(block, figures[block.name], dpi))
        if in_row:
            body.append("</div>")
        if section.data:
            links = ", ".join(f'<a href="tables/{t.name}.csv">{t.name}.csv</a>' for t in section.data)
            body.append(f'<p class="note">Data: {links}</p>')
        body.append("</section>")
    return PAGE.substitute(
        generator=GENERATOR,
        title=html.escape(title),
        subtitle=_inline(subtitle),
        nav=nav,
        body="\n".join(body),
        footer=_inline(footer),
    )


def _html_figure(item: FigureItem, png_path: Path, dpi: float) -> str:
    png = png_path.read_bytes()
    data = base64.b64encode(png).decode("ascii")
    width = round(int.from_bytes(png[16:20], "big") * 96 / dpi)  # the IHDR width, at CSS's 96 px per inch
    return (
        f'<figure id="fig-{item.name}"><img src="data:image/png;base64,{data}" width="{width}" '
        f'alt="{html.escape(item.caption)}"><figcaption>{_inline(item.caption)}</figcaption></figure>'
    )


def _breakable(name: str) -> str:
    """A column name that may wrap after its dots and underscores (``train.<wbr>optimizer.<wbr>lr``)."""
    return re.sub(r"([._])", r"\1<wbr>", html.escape(name))


def _inline(text: str) -> str:
    """Escape, then `code` spans."""
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", html.escape(text))


def _html_table(item: TableItem) -> str:
    shown = item.shown
    text_columns = {c for c in item.frame.columns if not pd.api.types.is_numeric_dtype(item.frame[c])}
    left = ' class="l"'
    head = "".join(f"<th{left if c in text_columns else ''}>{_breakable(str(c))}</th>" for c in shown.columns)
    rows = []
    for row in shown.itertuples(index=False):
        cells = []
        for column, value in zip(shown.columns, row, strict=True):
            css = ""
            if column in text_columns:
                css = ' class="l wrap"' if len(str(value)) > 16 else ' class="l"'

            cells.append(f"<td{css}>{html.escape(str(value))}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    note = (
        f'<p class="note">First {item.max_rows} of {len(item.frame)} rows; all in the CSV.</p>'
        if item.truncated
        else ""
    )
    link = f'<a href="tables/{item.name}.csv">CSV</a> <a href="tables/{item.name}.tex">LaTeX</a>'
    caption = f'<p class="cap">{html.escape(item.caption)}{link}</p>'
    table = (
        f'<table id="tab-{item.name}"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'
    )
    return f'<div class="table-wrap">{caption}{table}</div>{note}'
