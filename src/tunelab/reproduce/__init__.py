"""Reproductions: each seed paper run by one command, its side-by-side table computed, not typed.

``spec`` (the reproduction file), ``run`` (its parts, through tunelab's runners, resumably),
``measure`` (tunelab's numbers from what ran), ``compare`` (verdicts and ranking checks: pure
compute), ``summary`` (the JSON a report and the docs are drawn from), ``report`` (the HTML page)
and ``docs`` (docs/reproductions.md from the committed summaries).
"""

from __future__ import annotations

from tunelab.reproduce.compare import Row, check_ranking, compare_row, verdict
from tunelab.reproduce.spec import Reproduction, load_reproduction, validate_reproduction

__all__ = [
    "Reproduction",
    "Row",
    "check_ranking",
    "compare_row",
    "load_reproduction",
    "validate_reproduction",
    "verdict",
]
