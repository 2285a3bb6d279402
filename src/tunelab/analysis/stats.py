"""Moved to :mod:`tunelab.stats`; this name stays only until ``search/objective.py`` imports it from there.

Delete it then: search must not import analysis (issue 16).
"""

from tunelab.stats import mean_ci

__all__ = ["mean_ci"]
