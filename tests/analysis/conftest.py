"""One small real study (random search on digits, 8 trials of 2 epochs) and its report, shared by the
analysis tests; edge cases (pruned, failed, single or no trials) are variants of its trials."""

from __future__ import annotations

from pathlib import Path

import pytest
from studyfiles import SPEC

from tunelab.analysis.summaries import StudyData
from tunelab.search import load_study, run_study


@pytest.fixture(scope="session")
def study_handle(tmp_path_factory):
    out = tmp_path_factory.mktemp("study")
    run_study(SPEC, out=out)
    return load_study(out)


@pytest.fixture(scope="session")
def study_data(study_handle) -> StudyData:
    return StudyData.from_handle(study_handle)


@pytest.fixture(scope="session")
def baselines_dir(tmp_path_factory) -> Path:
    from threadpoolctl import threadpool_limits

    from tunelab.baselines import run_baselines
    from tunelab.config import DataConfig

    with threadpool_limits(1):
        results = run_baselines(DataConfig(name="digits", val_fraction=0.2), ["knn"])
    return results.save(tmp_path_factory.mktemp("baselines"))


@pytest.fixture(scope="session")
def report_dir(study_handle, baselines_dir, tmp_path_factory) -> Path:
    from tunelab.analysis.report import build_report

    out = tmp_path_factory.mktemp("report")
    build_report(study_handle, out, baselines=[baselines_dir], top_k=3)
    return out
