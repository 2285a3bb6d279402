"""Fit the classical baselines on the same train / validation / test splits the networks use.

Without ``search`` each model is fitted once with its defaults. With ``search`` every point of its
grid is fitted on the train split and scored on the validation split (not cross-validation: the
networks are selected on this same split, so the comparison is like for like); the fitted model with
the best validation accuracy is kept as it is, without a refit on train + validation.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from time import perf_counter
from typing import Any

import numpy as np
from sklearn.metrics import confusion_matrix, log_loss
from sklearn.pipeline import Pipeline

from tunelab.baselines.registry import BASELINES, BaselineSpec, resolve_models
from tunelab.baselines.results import BaselineResult, BaselineResults, format_params
from tunelab.config import DataConfig
from tunelab.errors import ConfigError
from tunelab.train.metrics import Metrics, metrics_from_confusion

Log = Callable[[str], None]


@dataclass(frozen=True)
class FlatSplits:
    """The splits as flat float32 matrices (N, C·H·W) and int64 labels."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    n_classes: int


def run_baselines(
    data: DataConfig,
    models: Sequence[str] | str,
    search: bool = False,
    data_dir: str | Path | None = None,
    seed: int = 0,
    max_train: int | None = None,
    *,
    log: Log | None = None,
) -> BaselineResults:
    """Fit each of ``models`` (names of :data:`BASELINES`, or ``"all"``) and evaluate it.

    ``max_train`` fits on a stratified, seeded subset of that many train images (kernel SVMs are
    quadratic in the number of images: tens of minutes on the 54,000 of MNIST); validation and test
    splits stay whole. ``seed`` seeds that subset and the randomised models; the split itself is
    ``data.split_seed``'s, as for the networks. ``log`` receives one line per step.
    """
    names = resolve_models(models)
    if max_train is not None and max_train < 1:
        raise ConfigError(f"max_train: {max_train} is not a positive number of train images")
    from tunelab.data import load_splits
    from tunelab.provenance import provenance

    splits = load_splits(data, device="cpu", data_dir=data_dir)

    def flat(x: Any) -> np.ndarray:
        return x.numpy().reshape(len(x), -1)

    arrays = FlatSplits(
        *_subsample(flat(splits.x_train), splits.y_train.numpy(), max_train, seed),
        flat(splits.x_val),
        splits.y_val.numpy(),
        flat(splits.x_test),
        splits.y_test.numpy(),
        splits.n_classes,
    )
    results = [fit_baseline(BASELINES[name], arrays, search=search, seed=seed, log=log) for name in names]
    import sklearn

    return BaselineResults(
        dataset=data.name,
        data=data.model_dump(mode="json"),
        seed=seed,
        search=search,
        max_train=max_train,
        n_train_available=len(splits.y_train),
        n_val=len(arrays.y_val),
        n_test=len(arrays.y_test),
        results=results,
        provenance=provenance("cpu", splits.checksums) | {"sklearn": sklearn.__version__},
    )


def fit_baseline(
    spec: BaselineSpec, arrays: FlatSplits, search: bool = False, seed: int = 0, log: Log | None = None
) -> BaselineResult:
    """Fit ``spec`` (each grid point when ``search``), keep the best on validation, evaluate on test."""
    candidates = spec.candidates() if search else [{}]
    say = log or (lambda line: None)
    n = len(arrays.y_train)
    say(f"{spec.name}: fitting {len(candidates)} candidate{'s' * (len(candidates) > 1)} on {n:,} images")
    tried: list[dict[str, Any]] = []
    best: tuple[Pipeline, dict[str, Any], Metrics, float, list[str]] | None = None
    for params in candidates:
        model = spec.build(seed, params)
        with warnings.catch_warnings(record=True) as caught:
            # Record (not print) e.g. ConvergenceWarning: it belongs to the result of this fit.
            warnings.simplefilter("always")
            start = perf_counter()
            model.fit(arrays.x_train, arrays.y_train)
            fit_time = perf_counter() - start
        val, _ = evaluate(model, arrays.x_val, arrays.y_val, arrays.n_classes)
        chosen = {key: model.named_steps["model"].get_params()[key] for key in spec.grid}
        tried.append({"params": chosen, "val_accuracy": val.accuracy, "fit_time_s": fit_time})
        if search:
            say(f"  {format_params(chosen)}: val accuracy {val.accuracy:.4f} ({fit_time:.1f}s)")
        if best is None or val.accuracy > best[2].accuracy:  # strict: the first of equals wins
            notes = list(dict.fromkeys(f"{w.category.__name__}: {w.message}" for w in caught))
            best = (model, chosen, val, fit_time, notes)
    assert best is not None
    model, chosen, val, fit_time, notes = best
    test, predict_time = evaluate(model, arrays.x_test, arrays.y_test, arrays.n_classes)
    say(
        f"{spec.name}: {format_params(chosen)} · val accuracy {val.accuracy:.4f} · test accuracy "
        f"{test.accuracy:.4f} · fit {fit_time:.1f}s"
    )
    return BaselineResult(
        model=spec.name,
        params=chosen,
        val=val,
        test=test,
        fit_time_s=fit_time,
        predict_time_s=predict_time,
        n_train=n,
        search=tried if search else [],
        warnings=notes,
    )


def evaluate(model: Pipeline, x: np.ndarray, y: np.ndarray, n_classes: int) -> tuple[Metrics, float]:
    """Metrics of a fitted model on ``(x, y)`` and the seconds its prediction took.

    Models with ``predict_proba`` are scored by one probability pass (the prediction is its argmax,
    as their ``predict`` does) and get a log-loss; the others (SVMs, hinge SGD) get a NaN loss.
    """
    start = perf_counter()
    proba = model.predict_proba(x) if hasattr(model, "predict_proba") else None
    predicted = model.classes_[proba.argmax(axis=1)] if proba is not None else model.predict(x)
    elapsed = perf_counter() - start
    loss = float("nan")
    if proba is not None and np.isin(y, model.classes_).all():
        loss = float(log_loss(y, proba, labels=model.classes_))
    confusion = confusion_matrix(y, predicted, labels=np.arange(n_classes))
    return metrics_from_confusion(confusion, loss), elapsed


def _subsample(x: np.ndarray, y: np.ndarray, size: int | None, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A stratified, seeded subset of ``size`` rows (all of them when ``size`` is None or larger)."""
    if size is None or size >= len(y):
        return x, y
    from sklearn.model_selection import train_test_split

    try:
        keep, _ = train_test_split(np.arange(len(y)), train_size=size, random_state=seed, stratify=y)
    except ValueError as exc:  # fewer images than classes: no stratified subset exists
        raise ConfigError(f"max_train: no stratified subset of {size} train images ({exc})") from None
    keep = np.sort(keep)
    return x[keep], y[keep]
