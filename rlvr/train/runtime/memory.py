"""The process's memory allocator: freed memory kept for reuse instead of handed back to the system.

A training step allocates and frees the same large tensors again and again (each weight's bf16 cast and its
gradient, the activations of every micro-batch). glibc's malloc serves a large block from a fresh memory mapping
and unmaps it when it is freed (above a threshold that adapts upwards as such blocks are freed) and returns the top
of its heap to the system past a trim threshold; either way the next allocation touches new pages, and each page
costs a fault. On the 2-core Intel Xeon of the README (a virtual machine, where faults are dear) the demo's
training run spent 10.9-11.3 s of about 50 s in the kernel, and 8.5-9.2 s with freed memory kept (its wall time
the same within the host's drift; where memory comes from changes no arithmetic, so the runs trained the same
rows to the same results).

`keep_freed_memory()` sets glibc's M_MMAP_MAX to 0 (every block from the heap, where freed memory is reused) and
M_TRIM_THRESHOLD to 2 GiB (the heap keeps up to that much free memory at its top). The cost is memory that the
process holds at its peak until it exits, as a training process does anyway. rlvr's commands call it before any
model loads; set RLVR_MALLOC=system to leave the allocator alone. Elsewhere than glibc (macOS, musl) it does nothing.
"""

from __future__ import annotations

import ctypes
import os
import sys

M_TRIM_THRESHOLD, M_MMAP_MAX = -1, -4  # glibc's mallopt parameters (malloc.h)
TRIM_BYTES = 2**31 - 1  # mallopt takes an int: 2 GiB


def keep_freed_memory() -> bool:
    """Ask glibc's malloc to keep freed memory for reuse (see the module docstring); whether it was set."""
    if os.environ.get("RLVR_MALLOC", "").strip().lower() == "system":
        return False
    try:
        libc = os.confstr("CS_GNU_LIBC_VERSION") or ""  # "glibc 2.36"; unset elsewhere
    except (ValueError, OSError, AttributeError):
        libc = ""
    if not sys.platform.startswith("linux") or not libc.startswith("glibc"):
        return False
    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return bool(mallopt(M_MMAP_MAX, 0)) and bool(mallopt(M_TRIM_THRESHOLD, TRIM_BYTES))
