"""The classical baselines: a plain dict, name → :class:`BaselineSpec` (estimator, scaling, search grid).

Defaults follow common practice in the MNIST literature and the student papers this project
reproduces (an RBF SVM with C=10, a 5-nearest-neighbour classifier, a random forest of 200 trees).
The grids are deliberately small: each point is one full fit, scored on the validation split.

Which models standardise their inputs (StandardScaler, statistics of the train split only):

* SGD and logistic regression do: gradient steps and an L2 penalty shared by all weights assume
  features of comparable scale; unscaled, SGD needs more epochs and lbfgs more iterations.
* SVMs, KNN and the random forest do not: all pixels share one unit and the inputs are already in a
  common range (``data.normalize``), whereas per-pixel standardisation blows up near-constant border
  pixels into large noisy features. Measured on a 5,000-image MNIST subset: RBF SVM 0.960 → 0.933
  validation accuracy with it, and LinearSVC 250× slower. Trees are invariant to it anyway.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sklearn.base import BaseEstimator
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression, SGDClassifier
from sklearn.model_selection import ParameterGrid
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC, LinearSVC

from tunelab.errors import ConfigError


@dataclass(frozen=True)
class BaselineSpec:
    """How to build one baseline: ``factory(seed)`` gives the estimator with its default settings.

    ``grid`` maps the estimator's own parameter names to the values ``search`` tries; the reported
    ``params`` of a run are these same keys, so a default run and a searched one compare directly.
    """

    name: str
    description: str
    factory: Callable[[int], BaseEstimator]
    grid: Mapping[str, Sequence[Any]]
    standardize: bool = False

    def build(self, seed: int = 0, params: Mapping[str, Any] | None = None) -> Pipeline:
        """A fresh, unfitted pipeline: optional StandardScaler, then the estimator with ``params`` set."""
        estimator = self.factory(seed)
        if params:
            estimator.set_params(**params)
        steps: list[tuple[str, Any]] = [("scale", StandardScaler())] if self.standardize else []
        return Pipeline([*steps, ("model", estimator)])

    def default_params(self, seed: int = 0) -> dict[str, Any]:
        """The default values of the grid's parameters."""
        values = self.factory(seed).get_params()
        return {key: values[key] for key in self.grid}

    def candidates(self) -> list[dict[str, Any]]:
        """Every point of the grid, in a fixed order (the first best one wins ties)."""
        return list(ParameterGrid(dict(self.grid)))


def _svc_rbf(seed: int) -> BaseEstimator:
    # SVC is deterministic without probability=True; random_state is set for completeness only.
    return SVC(kernel="rbf", C=10.0, gamma="scale", random_state=seed)


def _svc_poly(seed: int) -> BaseEstimator:
    # coef0=1: the inhomogeneous kernel (x·y + 1)^d keeps the lower-order terms; with the homogeneous
    # default (coef0=0) degree 3 loses ~1 point of accuracy on digits and MNIST.
    return SVC(kernel="poly", degree=3, C=10.0, gamma="scale", coef0=1.0, random_state=seed)


def _linear_svc(seed: int) -> BaseEstimator:
    # LinearSVC (liblinear) rather than SVC(kernel="linear"): the latter is quadratic in the number of
    # images and takes many minutes on full MNIST for the same decision rule.
    return LinearSVC(C=0.1, max_iter=5000, random_state=seed)


def _knn(seed: int) -> BaseEstimator:
    return KNeighborsClassifier(n_neighbors=5, n_jobs=-1)


def _random_forest(seed: int) -> BaseEstimator:
    return RandomForestClassifier(n_estimators=200, n_jobs=-1, random_state=seed)


def _sgd(seed: int) -> BaseEstimator:
    # Hinge loss (a linear SVM trained by SGD) is scikit-learn's default and what the papers used.
    return SGDClassifier(loss="hinge", alpha=1e-4, max_iter=1000, tol=1e-3, n_jobs=-1, random_state=seed)


def _logreg(seed: int) -> BaseEstimator:
    return LogisticRegression(C=1.0, max_iter=1000, random_state=seed)


_C_GRID = (0.1, 1.0, 10.0, 100.0)

BASELINES: dict[str, BaselineSpec] = {
    spec.name: spec
    for spec in (
        BaselineSpec(
            "svm-rbf",
            "support vector machine, RBF kernel (C=10, gamma='scale')",
            _svc_rbf,
            # Fixed gammas suit inputs in [0, 1] (data.normalize=unit); 'scale' adapts to any scaling.
            {"C": _C_GRID, "gamma": ("scale", 0.1, 0.01)},
        ),
        BaselineSpec(
            "svm-poly",
            "support vector machine, polynomial kernel of degree 3 (C=10, coef0=1)",
            _svc_poly,
            {"degree": (2, 3, 4), "C": (0.1, 1.0, 10.0)},
        ),
        BaselineSpec(
            "svm-linear",
            "linear support vector machine (liblinear, C=0.1)",
            _linear_svc,
            {"C": (0.01, 0.1, 1.0)},
        ),
        BaselineSpec(
            "knn",
            "k-nearest neighbours, Euclidean distance on pixels (k=5)",
            _knn,
            {"n_neighbors": (1, 3, 5, 7)},
        ),
        BaselineSpec(
            "random-forest",
            "random forest of 200 trees, sqrt(features) per split",
            _random_forest,
            {"n_estimators": (100, 300), "max_depth": (None, 20)},
        ),
        BaselineSpec(
            "sgd",
            "linear model trained by SGD, hinge loss (alpha=1e-4), standardised inputs",
            _sgd,
            {"alpha": (1e-5, 1e-4, 1e-3), "loss": ("hinge", "log_loss")},
            standardize=True,
        ),
        BaselineSpec(
            "logreg",
            "multinomial logistic regression (lbfgs, C=1), standardised inputs",
            _logreg,
            {"C": (0.01, 0.1, 1.0, 10.0)},
            standardize=True,
        ),
    )
}


def resolve_models(models: Sequence[str] | str) -> list[str]:
    """Validated baseline names, in the order given, without duplicates; ``all`` stands for every one.

    A comma-separated string is split; an unknown name is a ConfigError listing the known ones.
    """
    names = models.split(",") if isinstance(models, str) else list(models)
    names = [name.strip() for name in names if name.strip()]
    if not names:
        raise ConfigError(f"models: none given; expected some of {', '.join(BASELINES)} (or all)")
    if "all" in names:
        return list(BASELINES)
    for name in names:
        if name not in BASELINES:
            raise ConfigError(f"models: unknown baseline {name!r}; expected one of {', '.join(BASELINES)}")
    return list(dict.fromkeys(names))
