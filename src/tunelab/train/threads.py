"""How many CPU threads a run trains with: the cores this process may use, shared among its workers.

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
from pathlib import Path

CGROUP = Path("/sys/fs/cgroup")

_requested: int | None = None  # set_threads(): an explicit --threads, which no default overrides


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


def cap_threads(cores: int | None = None) -> int:
    """Lower PyTorch's thread count to the usable cores unless the user chose it (``--threads`` or
    ``OMP_NUM_THREADS``); never raise it. The thread count trained with."""
    import torch

    if _requested is None and "OMP_NUM_THREADS" not in os.environ:
        cores = usable_cores() if cores is None else cores
        if torch.get_num_threads() > cores:
            torch.set_num_threads(cores)
    return torch.get_num_threads()
