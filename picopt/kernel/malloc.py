"""Freed large blocks go back to the operating system (glibc).

glibc serves a large allocation from its own mapping and unmaps it when freed, but the first
such free raises that threshold to the freed size, so later blocks of that size come from the
heap and stay resident after they are freed: an argon2 hash's 19 MiB in auth, an image's
arrays in vision (100-200 MB resident for nothing between jobs). A fixed threshold keeps
every block from 1 MiB up in its own mapping, released the moment it is freed, at the price
of a fresh mapping per large block.
"""

from __future__ import annotations

import ctypes
import sys

# glibc's <malloc.h>
M_MMAP_THRESHOLD = -3
LARGE_BLOCK_BYTES = 1024 * 1024


def release_large_blocks(threshold: int = LARGE_BLOCK_BYTES) -> bool:
    """Fix the threshold for this process and its forks; False where libc has no mallopt
    (not Linux, or a libc that ignores it)."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    return bool(mallopt(M_MMAP_THRESHOLD, threshold))
