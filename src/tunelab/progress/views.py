"""Drawing a :class:`~tunelab.progress.board.Board`: rich's live view on a terminal, plain lines
elsewhere (a pipe, a log file, a notebook without widgets), a tqdm bar on request.

Each view is a callable that receives the board's events; :func:`progress_board` picks one.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Literal

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.progress_bar import ProgressBar
from rich.table import Table

from tunelab.errors import ConfigError
from tunelab.progress.board import Board, Event

ProgressSetting = bool | Literal["auto", "live", "lines", "tqdm"] | Callable[[Event], Any] | None
MAX_ROWS = 20  # trials shown at once in the live table (a population is 16 by default)


class LinesView:
    """A plain line per event: study start, trial start, every run's every epoch, trial outcome."""

    def __init__(self, console: Console) -> None:
        self.console = console

    def __call__(self, event: Event) -> None:
        # soft_wrap: a pipe is not 80 columns wide; markup off: parameter values are not markup
        self.console.print(event.text, highlight=False, markup=False, soft_wrap=True)


class LiveView:
    """rich's live view: the trials training now (epoch, metric and state of each, population members
    included) above a bar of trials done with the best so far; each study start and trial outcome is
    printed above it as a line, and stays."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.board: Board | None = None
        self.live: Live | None = None

    def __call__(self, event: Event) -> None:
        self.board = event.board
        if event.kind in ("note", "started", "trial_finished"):
            self.console.print(event.text, highlight=False, markup=False, soft_wrap=True)
        if self.live is None and event.kind == "started":
            self.live = Live(get_renderable=self.render, console=self.console, refresh_per_second=4)
            self.live.start()
        elif self.live is not None and event.kind != "epoch":  # epochs: the 4 refreshes a second show them
            self.live.refresh()

    def close(self) -> None:
        if self.live is not None:
            self.live.stop()
            self.live = None

    def render(self) -> RenderableType:
        board = self.board
        if board is None:
            return ""
        with board.lock:  # a consistent copy: the worker's thread updates the board
            rows = list(board.rows.values())
            done, total, best, elapsed = board.done, board.total, board.best_text(), board.elapsed()
            metric = board.epoch_metric
            lines = [
                (
                    str(r.number),
                    r.stage,
                    str(len(r.runs)) if len(r.runs) > 1 else "",
                    f"{r.epoch}/{r.epochs}" if r.epochs else "",
                    f"{r.value:.4f}" if r.value is not None else "",
                    r.state,
                )
                for r in rows[:MAX_ROWS]
            ]
        table = Table(box=None, pad_edge=False, show_edge=False)
        for name in ("trial", "stage", "seeds", "epoch", metric, "state"):
            table.add_column(name, justify="right" if name in ("trial", "epoch", metric) else "left")
        for line in lines:
            table.add_row(*line)
        if len(rows) > MAX_ROWS:
            table.add_row("…", f"{len(rows) - MAX_ROWS} more", "", "", "", "")
        bar = Table.grid(padding=(0, 1))
        bar.add_row(
            f"trials {done}/{total}" if total else f"trials {done}",
            ProgressBar(total=total or None, completed=done, width=30),
            time.strftime("%H:%M:%S", time.gmtime(elapsed)),
            f"best {best}",
        )
        return Group(table, bar) if lines else bar


class TqdmView:
    """A tqdm bar of trials done (``tqdm.auto``: a widget in a notebook); the running trial's epoch
    and metric, and the best, in its postfix."""

    def __init__(self) -> None:
        self.bar: Any = None

    def __call__(self, event: Event) -> None:
        from tqdm.auto import tqdm

        board = event.board
        if self.bar is None:
            self.bar = tqdm(total=board.total, initial=board.done, desc=board.name or "study", unit="trial")
        if event.kind == "trial_finished":
            self.bar.update(board.done - self.bar.n)
        if event.kind in ("epoch", "trial_finished"):
            row = event.trial
            now = f"#{row.number} {row.epoch}/{row.epochs} · " if row and event.kind == "epoch" else ""
            self.bar.set_postfix_str(f"{now}best {board.best_text()}")

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def progress_board(setting: ProgressSetting, console: Console | None = None) -> Board | None:
    """The board that shows a study's progress as ``setting`` says; None for no progress.

    ``True`` / ``"auto"``: rich's live view on a terminal (and in a notebook with ipywidgets), plain
    lines otherwise; ``"live"``, ``"lines"`` or ``"tqdm"`` choose; a callable receives every
    :class:`~tunelab.progress.board.Event` itself. ``console`` is where live and lines draw
    (default: standard output).
    """
    if setting is None or setting is False:
        return None
    if callable(setting):
        return Board(setting)
    console = console or Console()
    if setting in (True, "auto"):
        setting = "live" if console.is_terminal or (console.is_jupyter and _has_widgets()) else "lines"
    if setting == "live":
        return Board(LiveView(console))
    if setting == "lines":
        return Board(LinesView(console))
    if setting == "tqdm":
        return Board(TqdmView())
    raise ConfigError(
        f"progress: expected true, false, auto, live, lines, tqdm or a callable, got {setting!r}"
    )


def _has_widgets() -> bool:
    try:
        import ipywidgets  # noqa: F401
    except ImportError:
        return False
    return True
