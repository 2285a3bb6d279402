"""The weight search of an ensemble: weighted soft voting over members' class probabilities.

Plain NumPy on (n_members, n_images, n_classes) arrays: no network, no study, so it is tested on
synthetic probabilities. :class:`WeightedVote` searches the weights on the split it is fitted on
(validation); :func:`measure` scores probabilities on any split.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from tunelab.train.metrics import Metrics, metrics_from_confusion

EPS = 1e-12  # floor of a probability inside a log: a confidently wrong member has a finite loss


class WeightedVote:
    """Weighted soft voting: ``p(class) = Σ_m w_m p_m(class)`` with ``w`` on the simplex.

    ``fit`` scores, on the probabilities it is given (the validation split), each one-hot weight vector
    (every member alone), the uniform weights and ``n_trials`` draws from Dirichlet(1, …, 1) (uniform on
    the simplex), and keeps the most accurate; ties go to the lower log-loss, then to the earlier
    candidate. As the members alone are candidates, the ensemble is never less accurate on the fitting
    split than its best member.
    """

    def __init__(self, n_trials: int = 100, seed: int = 0) -> None:
        self.n_trials = n_trials
        self.seed = seed

    def fit(self, probs: np.ndarray | Sequence[np.ndarray], y: np.ndarray | Sequence[int]) -> WeightedVote:
        """Search the weights; ``probs`` is (n_members, n_images, n_classes), ``y`` the true classes."""
        probs, y = _check_probs(probs), np.asarray(y)
        if y.shape != probs.shape[1:2]:
            raise ValueError(f"y has shape {y.shape}, expected ({probs.shape[1]},) to match probs")
        if not isinstance(self.n_trials, int | np.integer) or self.n_trials < 0:
            raise ValueError(f"n_trials must be an integer >= 0, got {self.n_trials!r}")
        n_members = probs.shape[0]
        rng = np.random.default_rng(self.seed)
        candidates = np.vstack(
            [
                np.eye(n_members),
                np.full((1, n_members), 1.0 / n_members),
                rng.dirichlet(np.ones(n_members), size=self.n_trials),
            ]
        )
        scores, losses = _score(candidates, probs, y)
        best = int(np.lexsort((np.arange(len(candidates)), losses, -scores))[0])
        self.candidates_, self.scores_, self.losses_ = candidates, scores, losses
        self.weights_ = candidates[best]
        self.best_score_, self.best_loss_ = float(scores[best]), float(losses[best])
        self.n_members_ = n_members
        return self

    def predict_proba(self, probs: np.ndarray | Sequence[np.ndarray]) -> np.ndarray:
        """The weighted mean of the members' probabilities: (n_images, n_classes)."""
        if not hasattr(self, "weights_"):
            from sklearn.exceptions import NotFittedError

            raise NotFittedError("this WeightedVote is not fitted yet; call fit first")
        probs = _check_probs(probs)
        if probs.shape[0] != self.n_members_:
            raise ValueError(f"probs has {probs.shape[0]} members, the vote was fitted on {self.n_members_}")
        return np.tensordot(self.weights_, probs, axes=1)

    def predict(self, probs: np.ndarray | Sequence[np.ndarray]) -> np.ndarray:
        """The class of highest weighted probability."""
        return self.predict_proba(probs).argmax(axis=1)

    def __repr__(self) -> str:
        return f"WeightedVote(n_trials={self.n_trials}, seed={self.seed})"


def _check_probs(probs: np.ndarray | Sequence[np.ndarray]) -> np.ndarray:
    array = np.asarray(probs, dtype=np.float64)
    if array.ndim != 3 or 0 in array.shape:
        raise ValueError(f"probs must be (n_members, n_images, n_classes) and non-empty, got {array.shape}")
    return array


def _score(
    weights: np.ndarray, probs: np.ndarray, y: np.ndarray, chunk: int = 64
) -> tuple[np.ndarray, np.ndarray]:
    """Accuracy and mean log-loss of each weight vector; in chunks, to bound memory on large splits."""
    accuracy, loss = np.empty(len(weights)), np.empty(len(weights))
    rows = np.arange(len(y))
    for start in range(0, len(weights), chunk):
        mixed = np.einsum("km,mnc->knc", weights[start : start + chunk], probs)
        accuracy[start : start + chunk] = (mixed.argmax(axis=2) == y).mean(axis=1)
        loss[start : start + chunk] = -np.log(np.maximum(mixed[:, rows, y], EPS)).mean(axis=1)
    return accuracy, loss


def measure(probs: np.ndarray, y: np.ndarray) -> Metrics:
    """Accuracy, macro F1, confusion… of (n_images, n_classes) probabilities; loss is the mean log-loss."""
    n_classes = probs.shape[1]
    predicted = probs.argmax(axis=1)
    confusion = np.bincount(y * n_classes + predicted, minlength=n_classes * n_classes)
    loss = float(-np.log(np.maximum(probs[np.arange(len(y)), y], EPS)).mean())
    return metrics_from_confusion(confusion.reshape(n_classes, n_classes), loss)
