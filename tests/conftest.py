from __future__ import annotations

import os
from pathlib import Path

import pooch  # noqa: F401  imported here, not first inside a CliRunner: its log handler keeps the stream
import pytest

import tunelab  # noqa: F401  before any test module imports torch: it sets OpenMP's wait policy

REPO = Path(__file__).resolve().parents[1]


def shared_data() -> Path | None:
    """The shared copies of the real datasets (../shared/data beside the checkout), if present."""
    candidates = [os.environ.get("TUNELAB_SHARED_DATA"), REPO.parent / "shared" / "data"]
    for candidate in candidates:
        if candidate and Path(candidate, "mnist").is_dir():
            return Path(candidate)
    return None


@pytest.fixture(autouse=True)
def _offline(monkeypatch, tmp_path_factory):
    """No test may reach the internet or the user's cache: downloads go to a closed local port."""
    monkeypatch.setenv("TUNELAB_DATA_MIRROR", "http://127.0.0.1:9/")
    monkeypatch.delenv("TUNELAB_DATA_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("cache")))


@pytest.fixture(autouse=True)
def _registries():
    """Factories and plug-ins a test registers leave the model and dataset registries with it."""
    from tunelab.data.registry import DATASETS
    from tunelab.models import MODELS

    saved = dict(MODELS), dict(DATASETS)
    yield
    for registry, before in zip((MODELS, DATASETS), saved, strict=True):
        registry.clear()
        registry.update(before)  # type: ignore[arg-type]
