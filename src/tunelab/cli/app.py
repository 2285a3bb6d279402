"""The ``tunelab`` application and what its commands share.

Every mistake in the user's input is a ``TunelabError``: it is printed as one sentence on stderr and
the command exits with code 2, without a traceback. A bad option value that Typer checks itself
(``--workers 0``, ``--timeout soon``) is said the same way.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

import typer
import typer.core
from rich.console import Console
from rich.markup import escape

from tunelab import __version__
from tunelab.errors import TunelabError

err = Console(stderr=True)
out = Console()


def _error(message: str) -> None:
    err.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)


class _Commands(typer.core.TyperGroup):
    """The commands, with a bad option value said in one ``error:`` line, like any other bad input.

    Typer would answer with the usage and the message in a box; the message is the same.
    """

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except typer.BadParameter as exc:
            if type(exc).__name__ == "MissingParameter":  # a missing argument: the usage helps there
                raise
            _error(_bad_value(exc))
            raise typer.Exit(2) from None


def _bad_value(exc: typer.BadParameter) -> str:
    """``--workers: expected 1 or more, got '0'``: the option, what it takes, the value given."""
    from pydantic import ValidationError

    name = exc.param.opts[0] if exc.param is not None and exc.param.opts else "value"
    cause = exc.__cause__
    if isinstance(cause, ValidationError):  # Typer's own check of the type and range
        error = cause.errors(include_url=False)[0]
        template = _EXPECTED.get(error["type"])
        expected = template.format(**error.get("ctx", {})) if template else error["msg"].lower()
        return f"{name}: {expected}, got {error['input']!r}"
    return f"{name}: {exc.message}"


_EXPECTED = {
    "int_parsing": "expected a whole number",
    "int_from_float": "expected a whole number",
    "float_parsing": "expected a number",
    "greater_than_equal": "expected {ge} or more",
    "greater_than": "expected more than {gt}",
    "less_than_equal": "expected {le} or less",
    "less_than": "expected less than {lt}",
}

app = typer.Typer(
    name="tunelab",
    cls=_Commands,
    help="Hyperparameter studies of neural-network image classifiers.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

F = TypeVar("F", bound=Callable[..., Any])


def user_errors(command: F) -> F:
    """Report bad input as one sentence and exit 2; Ctrl-C exits 130 without a traceback."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except TunelabError as exc:
            _error(str(exc))
            raise typer.Exit(2) from None
        except KeyboardInterrupt:
            err.print("interrupted")
            raise typer.Exit(130) from None

    return wrapper  # type: ignore[return-value]


def _version(value: bool) -> None:
    if value:
        out.print(f"tunelab {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")
    ] = False,
) -> None:
    """Hyperparameter studies of neural-network image classifiers."""
