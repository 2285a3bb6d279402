"""``tunelab run`` shows each epoch of a population's members as it happens, through a pipe too."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "studies" / "examples"
ENV = os.environ | {"OMP_NUM_THREADS": "1"}


@pytest.mark.slow
def test_population_members_show_epochs_before_the_population_ends(tmp_path):
    # The grid's first four points share batch size 32: they train as one population of 4.
    cmd = [sys.executable, "-m", "tunelab.cli", "run", str(EXAMPLES / "digits-grid.yaml")]
    cmd += ["--out", str(tmp_path), "--n-trials", "4", "--set", "train.epochs=3"]
    done = subprocess.run(cmd, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env=ENV)
    assert done.returncode == 0, done.stderr
    lines = done.stderr.splitlines()
    assert not any("\x1b[" in line for line in lines)  # plain lines off a terminal, no live view
    first_completed = next(i for i, line in enumerate(lines) if " completed:" in line)
    before = lines[:first_completed]
    for trial in range(4):  # every member's every epoch, before any trial of the population is told
        epochs = [
            line for line in before if re.match(rf"trial {trial} epoch \d/3 · val_accuracy 0\.\d{{4}}", line)
        ]
        assert [line.split()[3] for line in epochs] == ["1/3", "2/3", "3/3"], before
        assert epochs[-1].endswith("· trained")
    # members' epochs interleave: epoch 1 of every member comes before epoch 2 of any
    order = [int(line.split()[1]) for line in before if " epoch 1/3" in line or " epoch 2/3" in line]
    assert order[:4] == [0, 1, 2, 3]
    # each outcome line counts the trials done when it was told: 1/4, 2/4, 3/4, 4/4
    counts = re.findall(r"trial \d completed: val_accuracy 0\.\d{4} · (\d)/4 done", done.stderr)
    assert counts == ["1", "2", "3", "4"]
    assert lines[0].startswith("study digits-grid · grid · ") and lines[0].endswith("· 0/4 done")
