"""Keep freed tensor memory in the process while training on a CPU (glibc's malloc).

A CPU training step allocates and frees the same few megabyte-sized tensors (activations, gradients,
optimizer temporaries) at every step. glibc's defaults give such blocks back to the kernel (a block
over its adaptive mmap threshold is unmapped when freed, and free memory at the top of the heap is
trimmed), so the next step faults every page of them in again: about 300,000 page faults for 5
epochs of 16 small MLPs on digits, a third to a half of that population's time (BENCHMARKS.md).
Serving blocks up to 32 MB from the heap and never trimming it below 1 GB keeps them mapped. The
price is that the process keeps its peak heap instead of returning it to the system.

Off Linux/glibc nothing changes (other allocators have their own policies); neither does it where the
user has tuned glibc through its ``MALLOC_*_`` environment variables, or with
``TUNELAB_KEEP_FREED_MEMORY=0``.
"""

from __future__ import annotations

import ctypes
import functools
import os
import platform

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # mallopt's parameter numbers (malloc.h)
MMAP_THRESHOLD = 32 << 20  # glibc's ceiling for its adaptive threshold on 64-bit (DEFAULT_MMAP_THRESHOLD_MAX)
TRIM_THRESHOLD = 1 << 30
_USER_SETTINGS = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_TOP_PAD_")


@functools.cache
def keep_freed_memory() -> bool:
    """Set glibc's mmap and trim thresholds once per process; whether they are set."""
    if os.environ.get("TUNELAB_KEEP_FREED_MEMORY", "1") == "0" or any(
        name in os.environ for name in _USER_SETTINGS
    ):
        return False
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD) and mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))
