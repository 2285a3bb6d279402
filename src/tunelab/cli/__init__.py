"""The ``tunelab`` command line.

Every mistake in the user's input is a ``TunelabError``: it is printed as one sentence on stderr and
the command exits with code 2, without a traceback.

``app`` (in ``app.py``) holds the commands; ``init.py``, ``runs.py`` and ``studies.py`` define the
core ones, and the packages with commands of their own (analysis, baselines, ensembles, probes) keep
them in their ``cli.py``. The order of the imports below is the order of ``tunelab --help``.
"""

from __future__ import annotations

import sys

from tunelab.cli import init, runs, studies
from tunelab.cli.app import app, err, out, user_errors


def _register_commands() -> None:
    """Commands whose code lives beside what they drive."""
    from tunelab.analysis.cli import report
    from tunelab.baselines.cli import baselines
    from tunelab.ensembles.cli import ensemble
    from tunelab.probes.cli import probe
    from tunelab.reproduce.cli import reproduce, reproductions_doc

    app.command(help=baselines.__doc__)(user_errors(baselines))
    app.command(help=ensemble.__doc__)(user_errors(ensemble))
    app.command(help=report.__doc__)(user_errors(report))
    app.command(help=probe.__doc__)(user_errors(probe))
    app.command(help=reproduce.__doc__)(user_errors(reproduce))
    app.command("reproductions-doc", help=reproductions_doc.__doc__)(user_errors(reproductions_doc))


_register_commands()


def main() -> None:
    """Console-script entry point."""
    sys.exit(app())


__all__ = ["app", "err", "init", "main", "out", "runs", "studies", "user_errors"]
