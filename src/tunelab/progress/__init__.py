"""A running study's progress: the board (what it looks like now) and the views that draw it.

``run_study(..., progress=True)`` and ``tunelab run`` show it: rich's live view on a terminal, plain
lines elsewhere, a tqdm bar on request, or a callback of your own receiving each :class:`Event`.
"""

from __future__ import annotations

from tunelab.progress.board import Board, Event, RunRow, TrialRow
from tunelab.progress.views import LinesView, LiveView, ProgressSetting, TqdmView, progress_board

__all__ = [
    "Board",
    "Event",
    "LinesView",
    "LiveView",
    "ProgressSetting",
    "RunRow",
    "TqdmView",
    "TrialRow",
    "progress_board",
]
