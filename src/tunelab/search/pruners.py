"""The study's pruner, from the study file: Optuna's, fed by the per-epoch objective metric."""

from __future__ import annotations

import optuna

from tunelab.search.spec import StudySpec


def make_pruner(spec: StudySpec) -> optuna.pruners.BasePruner:
    cfg = spec.pruner
    match cfg.name:
        case "none":
            return optuna.pruners.NopPruner()
        case "median":
            return optuna.pruners.MedianPruner(
                n_startup_trials=cfg.n_startup_trials, n_warmup_steps=cfg.n_warmup_steps
            )
        case "asha":
            return optuna.pruners.SuccessiveHalvingPruner(
                min_resource=cfg.min_resource, reduction_factor=cfg.reduction_factor
            )
        case "hyperband":
            return optuna.pruners.HyperbandPruner(
                min_resource=1 if cfg.min_resource == "auto" else cfg.min_resource,
                max_resource=spec.train.epochs,
                reduction_factor=cfg.reduction_factor,
            )
    raise AssertionError(cfg.name)
