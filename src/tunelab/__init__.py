"""tunelab: hyperparameter studies of neural-network image classifiers."""

from __future__ import annotations

import os

__version__ = "0.1.0"

# OpenMP threads that wait at a barrier sleep instead of spinning (libgomp spins ~3 ms by default).
# Beside another busy process a spinning thread takes the core its descheduled sibling needs: the
# quickstart ran 50-170x slower beside one CPU-bound process, and about as fast as alone with this
# (BENCHMARKS.md). OpenMP reads it once, when PyTorch first loads it, so it is set here, before any
# tunelab module imports torch; a value the user set wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def run_study(*args, **kwargs):  # type: ignore[no-untyped-def]
    """Run (or resume) a study; see :func:`tunelab.search.run_study`. Imported lazily: torch is heavy."""
    from tunelab.search import run_study as _run_study

    return _run_study(*args, **kwargs)


def load(*args, **kwargs):  # type: ignore[no-untyped-def]
    """Open a study for a notebook: ``.trials``, ``.best``, ``.report()``, ``.plot_*()``; see
    :func:`tunelab.analysis.notebook.load`. Imported lazily, as :func:`run_study`."""
    from tunelab.analysis.notebook import load as _load

    return _load(*args, **kwargs)
