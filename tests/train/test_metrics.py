from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.metrics import confusion_matrix as sk_confusion
from sklearn.metrics import precision_recall_fscore_support

from tunelab.train.metrics import confusion_matrix, metrics_from_confusion


def test_matches_scikit_learn():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 5, 500)
    pred = np.where(rng.random(500) < 0.7, y, rng.integers(0, 5, 500))
    pred[pred == 4] = 3  # class 4 is never predicted: precision 0 by convention
    cm = confusion_matrix(torch.tensor(y), torch.tensor(pred), 5).numpy()
    np.testing.assert_array_equal(cm, sk_confusion(y, pred, labels=range(5)))
    m = metrics_from_confusion(cm, loss=0.25)
    p, r, f, support = precision_recall_fscore_support(
        y, pred, labels=range(5), average=None, zero_division=0
    )
    assert m.precision == pytest.approx(p.mean())
    assert m.recall == pytest.approx(r.mean())
    assert m.f1 == pytest.approx(f.mean())
    assert m.per_class["f1"] == pytest.approx(list(f))
    assert m.per_class["support"] == list(support.astype(float))
    assert m.accuracy == pytest.approx((y == pred).mean())
    assert m.loss == 0.25 and m.n == 500
    assert m.per_class["precision"][4] == 0.0
