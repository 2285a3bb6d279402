"""The tiny digits reproduction of ``reprofiles``, written to a temporary folder."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from reprofiles import STUDY, reproduction


@pytest.fixture
def repro_file(tmp_path: Path) -> Path:
    (tmp_path / "study.yaml").write_text(yaml.safe_dump(STUDY), encoding="utf-8")
    path = tmp_path / "999.yaml"
    path.write_text(yaml.safe_dump(reproduction(), sort_keys=False), encoding="utf-8")
    return path
