"""How glibc's allocator keeps memory, set per process: every tuning of it lives here.

- Large blocks (`release_large_blocks`). glibc serves a large allocation from its own mapping
  and unmaps it when freed, but the first such free raises that threshold to the freed size,
  so later blocks of that size come from the heap and stay resident after they are freed: an
  argon2 hash's 19 MiB in auth. A fixed threshold keeps every block from 1 MiB up in its own
  mapping, released the moment it is freed, at the price of a fresh mapping per large block
  (in vision that price was ~150 ms CPU per photo in page faults, so vision does not use it).
- Heaps (`limit_heaps`). glibc gives each busy thread a heap of its own (up to eight per
  core) and keeps what is freed in each, so a process whose libraries allocate from worker
  threads (onnxruntime and OpenCV in vision, libvips and the metric's pool in the engine)
  holds several images' worth of freed pages. Two heaps are shared by all threads instead.
- Trimming (`release_freed`): hand freed heap pages back after a unit of work.

Off glibc each does nothing and says so (False, or None for `heaps`).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys
import tempfile
from functools import cache
from typing import Any

# glibc's <malloc.h>
M_MMAP_THRESHOLD = -3
M_ARENA_MAX = -8
LARGE_BLOCK_BYTES = 1024 * 1024


@cache
def _libc() -> Any | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or None)
        libc.mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
        libc.mallopt.restype = ctypes.c_int
        libc.malloc_trim.argtypes = (ctypes.c_size_t,)
        libc.malloc_trim.restype = ctypes.c_int
        libc.malloc_info.argtypes = (ctypes.c_int, ctypes.c_void_p)
        libc.fopen.restype = ctypes.c_void_p
        libc.fclose.argtypes = (ctypes.c_void_p,)
    except (OSError, AttributeError):  # not glibc
        return None
    return libc


def release_large_blocks(threshold: int = LARGE_BLOCK_BYTES) -> bool:
    """Fix the mmap threshold for this process and its forks."""
    libc = _libc()
    return libc is not None and libc.mallopt(M_MMAP_THRESHOLD, threshold) == 1


def limit_heaps(heaps: int = 2) -> bool:
    """Let malloc use at most `heaps` heaps however many threads allocate; call it before the
    threads start (heaps already made stay)."""
    libc = _libc()
    return libc is not None and libc.mallopt(M_ARENA_MAX, heaps) == 1


def release_freed() -> bool:
    """Return freed heap pages to the system now; True when some were."""
    libc = _libc()
    return libc is not None and libc.malloc_trim(0) == 1


def heaps() -> int | None:
    """How many heaps malloc has made in this process (None off glibc): what `limit_heaps`
    bounds, read from malloc_info's report."""
    libc = _libc()
    if libc is None:
        return None
    with tempfile.NamedTemporaryFile("r") as report:
        stream = libc.fopen(report.name.encode(), b"w")
        libc.malloc_info(0, stream)
        libc.fclose(stream)
        return report.read().count("<heap nr=")
