"""Keep freed memory inside the process instead of handing it back to the operating system.

Why: a gradient update allocates and frees megabytes of activations and gradients (a K=8 SAC
update at 256x256: dozens of 1-4 MiB tensors). glibc serves blocks that large with mmap, or trims
them off the heap top when freed, so the next update's tensors fault in again page by page. On
this project's CPU machines those page faults cost more than the elementwise maths itself (a
fresh 4 MiB ``x * 2`` took 1.3 ms against 0.09 ms into a reused buffer). Raising glibc's mmap and
trim thresholds makes freed blocks get reused, as a GPU caching allocator would do.

The cost is memory: up to ``TRIM_THRESHOLD`` of freed heap stays with the process. Large
long-lived arrays (the replay store) are above ``MMAP_THRESHOLD`` and are unaffected.
Set ``LMC_RL_KEEP_FREED_MEMORY=0`` in the environment to keep glibc's defaults.
"""

from __future__ import annotations

import ctypes
import os
import sys

M_TRIM_THRESHOLD = -1  # glibc mallopt parameter numbers (malloc.h)
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 32 * 1024 * 1024  # glibc's largest allowed value on 64-bit
TRIM_THRESHOLD = 1024 * 1024 * 1024


def keep_freed_memory() -> bool:
    """Tune glibc malloc to reuse freed blocks; True if applied (False off glibc, harmlessly)."""
    if os.environ.get("LMC_RL_KEEP_FREED_MEMORY", "1") == "0":
        return False
    if not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):  # musl or another libc without glibc's mallopt
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(
        mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD)
    )
