from __future__ import annotations

import json
import os
import platform
import subprocess
import sys

import pytest

from tunelab.train import allocator

GLIBC = platform.system() == "Linux" and platform.libc_ver()[0] == "glibc"

# The page faults of an epoch of 16 MLPs trained as one population on a CPU, after one warm-up epoch
CHILD = """
import json, resource
from tunelab.config import validate_run_config
from tunelab.data import load_splits
from tunelab.train.population import train_population

runs = [
    validate_run_config({
        "model": {"kind": "mlp", "hidden": [256, 128]},
        "train": {"epochs": 1, "batch_size": 32, "seed": seed, "device": "cpu"},
    })
    for seed in range(16)
]
splits = load_splits(runs[0].data)
train_population(runs, splits)
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
train_population(runs, splits)
print(json.dumps(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before))
"""


def faults(keep: str) -> int:
    env = os.environ | {"TUNELAB_KEEP_FREED_MEMORY": keep, "OMP_NUM_THREADS": "1"}
    for name in allocator._USER_SETTINGS:
        env.pop(name, None)
    out = subprocess.run(
        [sys.executable, "-c", CHILD], env=env, check=True, capture_output=True, text=True
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


@pytest.mark.skipif(not GLIBC, reason="tunelab tunes glibc's malloc only")
def test_a_cpu_population_does_not_fault_its_freed_tensors_in_again():
    default, kept = faults("0"), faults("1")
    # glibc's defaults unmap the population's MB-sized step tensors when freed: tens of thousands of
    # faults an epoch (BENCHMARKS.md); kept mapped, the heap is already there after the warm-up
    assert default > 10_000
    assert kept * 10 < default


def test_the_environment_turns_it_off(monkeypatch):
    allocator.keep_freed_memory.cache_clear()
    monkeypatch.setenv("TUNELAB_KEEP_FREED_MEMORY", "0")
    assert allocator.keep_freed_memory() is False
    allocator.keep_freed_memory.cache_clear()
    monkeypatch.delenv("TUNELAB_KEEP_FREED_MEMORY")
    monkeypatch.setenv("MALLOC_TRIM_THRESHOLD_", "1000000")  # the user's own glibc tuning wins
    assert allocator.keep_freed_memory() is False
    allocator.keep_freed_memory.cache_clear()
