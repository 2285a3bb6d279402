"""How many CPU threads a run trains with, and OpenMP's wait policy set before PyTorch loads it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from tunelab.train import threads
from tunelab.train.device import prepare_device

SRC = Path(threads.__file__).resolve().parents[2]
EXAMPLES = SRC.parent / "examples"


def cgroup(tmp_path: Path, v2: str | None = None, v1: tuple[str, str] | None = None) -> Path:
    """A cgroup folder with a v2 ``cpu.max`` or v1 quota and period files."""
    if v2 is not None:
        (tmp_path / "cpu.max").write_text(v2 + "\n")
    if v1 is not None:
        (tmp_path / "cpu").mkdir()
        (tmp_path / "cpu" / "cpu.cfs_quota_us").write_text(v1[0] + "\n")
        (tmp_path / "cpu" / "cpu.cfs_period_us").write_text(v1[1] + "\n")
    return tmp_path


@pytest.mark.parametrize(
    ("v2", "v1", "limit"),
    [
        ("max 100000", None, None),
        ("150000 100000", None, 1.5),
        ("400000 100000", ("100000", "100000"), 4.0),  # v2 wins where both are there
        (None, ("-1", "100000"), None),
        (None, ("200000", "100000"), 2.0),
        (None, None, None),
    ],
)
def test_the_cgroup_quota_is_read_from_v2_then_v1(tmp_path, v2, v1, limit):
    assert threads.cgroup_cpu_limit(cgroup(tmp_path, v2, v1)) == limit


@pytest.mark.parametrize(
    ("affinity", "quota", "cores"),
    [({0, 1, 2, 3, 4, 5, 6, 7}, 2.5, 3), ({0, 1}, None, 2), ({0, 1, 2, 3}, 8.0, 4), ({5}, 0.5, 1)],
)
def test_usable_cores_are_the_affinity_capped_by_the_quota(affinity, quota, cores):
    assert threads.usable_cores(affinity, quota) == cores


def test_usable_cores_read_the_affinity_and_the_cgroup_folder(tmp_path, monkeypatch):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2, 3, 4, 5}, raising=False)
    assert threads.usable_cores(root=cgroup(tmp_path, v2="200000 100000")) == 2
    assert threads.usable_cores(root=tmp_path / "none") == 6


@pytest.mark.parametrize(
    ("workers", "requested", "cores", "each"),
    [(1, None, 8, 8), (3, None, 8, 2), (4, None, 2, 1), (2, 3, 2, 3), (1, 1, 16, 1)],
)
def test_workers_share_the_cores_unless_threads_are_requested(workers, requested, cores, each):
    assert threads.threads_per_worker(workers, requested, cores) == each


@pytest.fixture
def torch_threads(monkeypatch):
    """Restore torch's thread count and the module's explicit choice after the test."""
    before = torch.get_num_threads()
    monkeypatch.setattr(threads, "_requested", None)
    monkeypatch.setattr(threads, "_share", None)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    yield
    torch.set_num_threads(before)


def test_threads_are_lowered_to_the_usable_cores_never_raised(torch_threads):
    torch.set_num_threads(2)
    assert threads.cap_threads(cores=1) == 1
    assert threads.cap_threads(cores=4) == 1  # never raised


def test_prepare_device_caps_threads_on_a_cpu(torch_threads, monkeypatch):
    monkeypatch.setattr(threads, "usable_cores", lambda: 1)
    torch.set_num_threads(2)
    prepare_device(torch.device("cpu"))
    assert torch.get_num_threads() == 1


def test_an_explicit_thread_count_is_kept(torch_threads, monkeypatch):
    threads.set_threads(2)
    assert threads.cap_threads(cores=1) == 2  # --threads wins
    monkeypatch.setattr(threads, "_requested", None)
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    assert threads.cap_threads(cores=1) == 2  # so does the user's OMP_NUM_THREADS


# The policy must be in the environment when torch loads libgomp, which reads it once.
AT_TORCH_IMPORT = """
import os, sys
class Watch:
    def find_spec(self, name, path=None, target=None):
        if name == "torch":
            print("policy at torch import:", os.environ.get("OMP_WAIT_POLICY"))
            sys.meta_path.remove(self)
        return None
sys.meta_path.insert(0, Watch())
import tunelab.cli  # what the tunelab command runs
from tunelab.train import train  # the first module that imports torch
"""


def python(code: str, **env: str) -> str:
    environ = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"} | env
    environ["PYTHONPATH"] = os.pathsep.join([str(SRC), environ.get("PYTHONPATH", "")])
    done = subprocess.run(
        [sys.executable, "-c", code], env=environ, capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


def test_openmp_waits_passively_from_before_torch_is_imported():
    assert python(AT_TORCH_IMPORT) == "policy at torch import: PASSIVE"


def test_the_users_wait_policy_wins():
    assert python(AT_TORCH_IMPORT, OMP_WAIT_POLICY="ACTIVE") == "policy at torch import: ACTIVE"


def test_the_test_suite_runs_under_the_policy():
    assert os.environ["OMP_WAIT_POLICY"]  # conftest imports tunelab before any test module imports torch


# ------------------------------------------------------------------------- one thread for a small step
@pytest.mark.parametrize(
    ("flops", "cores", "expected"),
    [(1e8, 8, 1), (threads.SMALL_STEP_FLOPS, 8, 8), (5e9, 2, 2), (None, 4, 4), (1e8, 1, 1)],
)
def test_a_small_step_trains_with_one_thread_a_large_one_with_the_cores(flops, cores, expected):
    assert threads.step_threads(flops, cores) == expected


def test_a_workers_share_of_the_cores_caps_a_large_step(torch_threads, monkeypatch):
    monkeypatch.setattr(threads, "usable_cores", lambda: 2)
    threads.share_cores(1)
    assert threads.train_threads(lambda: 5e9) == 1
    assert threads.cap_threads() == 1


def test_the_users_thread_count_wins_over_the_step_size(torch_threads, monkeypatch):
    monkeypatch.setattr(threads, "usable_cores", lambda: 2)
    threads.set_threads(2)
    assert threads.train_threads(lambda: 1e6) == 2  # --threads
    monkeypatch.setattr(threads, "_requested", None)
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    torch.set_num_threads(2)
    assert threads.train_threads(lambda: 1e6) == 2  # OMP_NUM_THREADS


def test_a_run_records_the_threads_its_step_size_chose(torch_threads, monkeypatch):
    from tunelab.config import load_run_config
    from tunelab.data import load_splits
    from tunelab.train import train

    monkeypatch.setattr(threads, "usable_cores", lambda: 2)
    small = load_run_config(EXAMPLES / "quickstart.yaml", ["train.epochs=1"])
    result = train(small, load_splits(small.data))
    assert result.threads == 1 and result.summary()["threads"] == 1
    monkeypatch.setattr(threads, "SMALL_STEP_FLOPS", 1.0)  # every step is large
    assert train(small, load_splits(small.data)).threads == 2


def test_forward_flops_count_the_products_and_leave_the_network_as_it_was():
    from torch import nn

    from tunelab.models.flops import forward_flops

    layers = [nn.Flatten(), nn.Linear(64, 32), nn.BatchNorm1d(32), nn.Dropout(0.5), nn.Linear(32, 10)]
    model = nn.Sequential(*layers)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    sample = torch.rand(1, 8, 8)
    rng = torch.get_rng_state()
    assert forward_flops(model, sample) == 2 * (64 * 32 + 32 * 10)
    assert model.training and torch.equal(torch.get_rng_state(), rng)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_forward_flops_of_a_network_the_counter_cannot_follow_are_unknown():
    from torch import nn

    from tunelab.models.flops import forward_flops

    class Refuses(nn.Module):
        def forward(self, x):
            raise RuntimeError("no")

    assert forward_flops(Refuses(), torch.rand(3)) is None
