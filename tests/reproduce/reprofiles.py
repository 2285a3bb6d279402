"""A tiny reproduction on the bundled digits (`from reprofiles import ...`): one grid study, a
baseline, a probe and an ensemble."""

from __future__ import annotations

STUDY = {
    "name": "digits-repro",
    "data": {"name": "digits", "val_fraction": 0.2, "normalize": "standardize"},
    "model": {"kind": "mlp", "hidden": [16]},
    "train": {"epochs": 2, "batch_size": 64, "optimizer": "adam"},
    "space": {"train.optimizer.lr": [0.001, 0.01]},
    "strategy": "grid",
    "repeats": 2,
}


def reproduction() -> dict:
    return {
        "paper": "999",
        "title": "digits, a tiny stand-in paper",
        "seed": "none.txt",
        "parts": {
            "studies": [{"id": "grid", "file": "study.yaml", "set": ["repeats=2"]}],
            "baselines": [{"id": "classic", "study": "grid", "models": ["knn"]}],
            "probes": [{"id": "init", "probe": "init_scale", "study": "grid", "epochs": 1}],
            "ensembles": [{"id": "vote", "studies": ["grid"], "top": 2, "n_trials": 3}],
        },
        "budget": {
            "quick": {"description": "1 epoch", "set": ["train.epochs=1"], "probe_epochs": 1},
        },
        "numbers": [
            {
                "id": "slow",
                "table": "Table 1",
                "row": "lr 0.001",
                "paper": 0.5,
                "tunelab": {"study": "grid", "where": {"train.optimizer.lr": 0.001}},
            },
            {
                "id": "fast",
                "table": "Table 1",
                "row": "lr 0.01",
                "paper": 0.99,
                "tunelab": {"study": "grid", "where": {"train.optimizer.lr": 0.01}},
            },
            {
                "id": "best-val",
                "table": "Table 1",
                "row": "best",
                "paper": 0.9,
                "tunelab": {"study": "grid", "select": "best", "metric": "val_accuracy"},
            },
            {
                "id": "knn",
                "table": "Table 2",
                "row": "KNN",
                "paper": 0.97,
                "tunelab": {"baseline": "classic", "model": "knn"},
            },
            {"id": "vote", "table": "Table 2", "row": "vote", "paper": 0.95, "tunelab": {"ensemble": "vote"}},
            {
                "id": "grad",
                "table": "Table 3",
                "row": "slow init",
                "paper": 0.001,
                "tunelab": {"probe": "init", "column": "grad", "where": {"init": "slow"}},
            },
        ],
        "rankings": [{"id": "lr", "table": "Table 1", "claim": "lr 0.01 > 0.001", "order": ["fast", "slow"]}],
        "deviations": ["digits, not the paper's data"],
        "schema_gaps": ["nothing"],
    }
