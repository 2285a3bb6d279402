"""How many CPU threads a run trains with: one for a small step, else the cores this process may use,
shared among its workers.

A small step (paper 000's MLPs at batch 32: ~0.1 GFLOP) is a few dozen operators of microseconds
each, and every one that OpenMP runs in parallel costs a wake-up of the sleeping threads (the
passive wait below) that is worth more than the work it shares: on a 2-core KVM machine one thread
trained such a step 2.6x faster than two, a CNN at batch 16 (0.4 GFLOP) 1.1x, while a CNN at batch
64 (1.6 GFLOP) was 1.4x faster on two (``benchmarks/threads.py``; an MLP at batch 512, 1.8 GFLOP,
was still 1.2x faster on one: the line is drawn for convolutions, which share better). One thread
also never waits at a barrier for a sibling that a busy neighbour descheduled. So a run whose step
counts fewer than :data:`SMALL_STEP_FLOPS` trains with one thread. The choice depends on the run's
configuration and the cores only, never on a timing: the thread count changes float32 sums, and a
seed must give the same weights each time it runs on a machine.

PyTorch starts one intra-op thread per core it sees (its OpenMP runtime counts the CPU affinity),
which is too many inside a container whose cgroup quota allows fewer cores than the machine has, and
K local workers each starting that many fight over the same cores. A thread count above the cores a
process gets makes every OpenMP barrier wait on a descheduled thread. The usable cores are the
smallest of the affinity mask and the cgroup quota (v2 ``cpu.max``, v1 ``cpu.cfs_quota_us``), as
joblib's ``cpu_count`` counts them; read here from a folder a test can point elsewhere.

OpenMP's wait policy, the other half of running beside other processes, is set when the package is
imported (``tunelab/__init__.py``), before PyTorch loads its OpenMP runtime.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from pathlib import Path

CGROUP = Path("/sys/fs/cgroup")

SMALL_STEP_FLOPS = 1e9  # a training step below this trains with one thread (see above)

_requested: int | None = None  # set_threads(): an explicit --threads, which no default overrides
_share: int | None = None  # share_cores(): this worker's share of the usable cores


def cgroup_cpu_limit(root: Path = CGROUP) -> float | None:
    """The CPUs the cgroup's bandwidth quota allows (e.g. 1.5); None where there is no quota."""
    try:  # cgroup v2: "max 100000" or "150000 100000"
        quota, period = (root / "cpu.max").read_text().split()[:2]
    except (OSError, ValueError):
        try:  # cgroup v1: a quota of -1 is none
            quota = (root / "cpu" / "cpu.cfs_quota_us").read_text().strip()
            period = (root / "cpu" / "cpu.cfs_period_us").read_text().strip()
        except OSError:
            return None
    try:
        q, p = int(quota), int(period)
    except ValueError:  # "max"
        return None
    return q / p if q > 0 and p > 0 else None


def usable_cores(affinity: set[int] | None = None, quota: float | None = None, *, root: Path = CGROUP) -> int:
    """The cores this process may use: its affinity mask, capped by the cgroup quota (rounded up)."""
    if affinity is None:
        affinity = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else set()
    cores = len(affinity) or os.cpu_count() or 1
    if quota is None:
        quota = cgroup_cpu_limit(root)
    if quota is not None:
        cores = min(cores, math.ceil(quota))
    return max(1, cores)


def threads_per_worker(workers: int = 1, requested: int | None = None, cores: int | None = None) -> int:
    """Intra-op threads of each of ``workers`` local processes: ``requested``, else an equal share of
    the usable cores (at least one)."""
    if requested is not None:
        return requested
    return max(1, (usable_cores() if cores is None else cores) // max(1, workers))


def set_threads(threads: int) -> None:
    """Train with ``threads`` intra-op threads in this process (``--threads``): no default overrides it."""
    import torch

    global _requested
    _requested = threads
    torch.set_num_threads(threads)


def share_cores(cores: int) -> None:
    """This process is one of several workers and may use ``cores`` of the usable cores."""
    global _share
    _share = cores


def chosen() -> bool:
    """Whether the user chose the thread count (``--threads`` or ``OMP_NUM_THREADS``)."""
    return _requested is not None or "OMP_NUM_THREADS" in os.environ


def process_cores() -> int:
    """The cores this process may use: its worker's share, else the usable cores."""
    return _share or usable_cores()


def step_threads(flops: float | None, cores: int | None = None) -> int:
    """The intra-op threads of a training step of ``flops`` (None: not known) when the user did not
    choose: one below :data:`SMALL_STEP_FLOPS`, else this process's cores."""
    if cores is None:
        cores = process_cores()
    return 1 if flops is not None and flops < SMALL_STEP_FLOPS else cores


def train_threads(count: Callable[[], float | None]) -> int:
    """Set the threads a CPU training step trains with (:func:`step_threads` of the FLOPs ``count``
    gives, called only where the user did not choose); return the count."""
    import torch

    if not chosen():
        threads = step_threads(count())
        if torch.get_num_threads() != threads:
            torch.set_num_threads(threads)
    return torch.get_num_threads()


def cap_threads(cores: int | None = None) -> int:
    """Lower PyTorch's thread count to the usable cores unless the user chose it (``--threads`` or
    ``OMP_NUM_THREADS``); never raise it. The thread count trained with."""
    import torch

    if not chosen():
        cores = process_cores() if cores is None else cores
        if torch.get_num_threads() > cores:
            torch.set_num_threads(cores)
    return torch.get_num_threads()
