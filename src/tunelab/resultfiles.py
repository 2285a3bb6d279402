"""Reading the ``results.json`` that ``tunelab baselines`` and ``tunelab ensemble`` write."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from tunelab.errors import ConfigError

T = TypeVar("T")


def load_result(folder: str | Path, filename: str, command: str, parse: Callable[[str], T]) -> T:
    """Parse ``folder/filename``; a missing, unreadable or foreign file is one ConfigError naming it."""
    path = Path(folder) / filename
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            f"{folder}: no {filename}; expected a folder written by 'tunelab {command}'"
        ) from None
    try:
        return parse(text)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    except (ValueError, KeyError, TypeError) as exc:  # JSONDecodeError is a ValueError
        raise ConfigError(f"{path}: not a readable {command} result ({exc!r})") from None
