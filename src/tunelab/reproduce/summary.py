"""A reproduction's summary: everything its report and docs/reproductions.md show, as JSON-ready data.

``summary.json`` is committed next to each report; the doc is generated from these files alone, so
that a check can regenerate it without running anything.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from pathlib import Path
from typing import Any

from tunelab.provenance import provenance
from tunelab.reproduce.compare import check_ranking, verdict_counts
from tunelab.reproduce.measure import Measured
from tunelab.reproduce.run import study_overrides
from tunelab.reproduce.spec import Budget, Reproduction

KIND, FORMAT = "tunelab-reproduction", 1
SUMMARY_FILE, REPORT_FILE = "summary.json", "report.html"


def build_summary(
    repro: Reproduction,
    measured: Measured,
    budget: Budget,
    timings: dict[str, float],
    device: str = "cpu",
) -> dict[str, Any]:
    rows = {row.id: row for row in measured.rows}
    rankings = [
        check_ranking(r.id, r.table, r.claim, r.order, rows, r.higher_is_better).to_dict()
        for r in repro.rankings
    ]
    checksums = dict(measured.checksums)
    if not checksums:  # the data was not found here: what the parts recorded, by file name
        for part in measured.parts:
            checksums |= dict((part.get("provenance") or {}).get("dataset_sha256") or {})
    quick = repro.budget.quick
    return {
        "kind": KIND,
        "format": FORMAT,
        "paper": repro.paper,
        "title": repro.title,
        "seed": repro.seed,
        "budget": budget,
        "budget_description": repro.budget.full if budget == "full" else quick.description,
        "budget_overrides": {
            "studies": {s.id: study_overrides(repro, s, budget) for s in repro.parts.studies},
            **(
                {
                    "probe_epochs": quick.probe_epochs,
                    "baseline_max_train": quick.baseline_max_train,
                    "ensemble_trials": quick.ensemble_trials,
                }
                if budget == "quick"
                else {}
            ),
        },
        "rows": [row.to_dict() for row in measured.rows],
        "verdicts": verdict_counts(measured.rows),
        "rankings": rankings,
        "timings_s": {k: round(v, 1) for k, v in timings.items()},
        "wall_s": round(sum(timings.values()), 1),
        "parts": measured.parts,
        "provenance": provenance(device, checksums),
        "deviations": list(repro.deviations),
        "schema_gaps": list(repro.schema_gaps),
    }


def save_summary(summary: dict[str, Any], folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / SUMMARY_FILE
    path.write_text(json.dumps(_finite(summary), indent=1, sort_keys=False) + "\n", encoding="utf-8")
    return path


def load_summary(path: Path) -> dict[str, Any]:
    from tunelab.errors import ConfigError

    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{path}: not a readable reproduction summary ({exc.__class__.__name__})") from None
    if not isinstance(data, dict) or data.get("kind") != KIND:
        raise ConfigError(f"{path}: not a reproduction summary (expected kind {KIND!r})")
    return data


def _finite(value: Any) -> Any:
    """JSON has no NaN: a missing number is null."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def stamp() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
