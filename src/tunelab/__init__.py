"""tunelab: hyperparameter studies of neural-network image classifiers."""

from __future__ import annotations

__version__ = "0.1.0"


def run_study(*args, **kwargs):  # type: ignore[no-untyped-def]
    """Run (or resume) a study; see :func:`tunelab.search.run_study`. Imported lazily: torch is heavy."""
    from tunelab.search import run_study as _run_study

    return _run_study(*args, **kwargs)


def load(*args, **kwargs):  # type: ignore[no-untyped-def]
    """Open a study for a notebook: ``.trials``, ``.best``, ``.report()``, ``.plot_*()``; see
    :func:`tunelab.analysis.notebook.load`. Imported lazily, as :func:`run_study`."""
    from tunelab.analysis.notebook import load as _load

    return _load(*args, **kwargs)
