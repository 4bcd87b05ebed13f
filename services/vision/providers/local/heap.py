"""Keep the vision process's heap near what it uses, not what its largest image once used.

Every analysis allocates tens of megabytes of short-lived buffers (the decoded frame, the
text detector's activations, crops for each model), from onnxruntime's and OpenCV's worker
threads as well as the main one. glibc gives busy threads heaps of their own and keeps freed
pages, so the process grew from ~350 MB after warm-up to ~620 MB after two passes over the
labelled photos, peaking near 700 MB. Capping the heaps at two and trimming after each image
kept it at ~385 MB, peak ~600 MB, with no measurable CPU cost. Mapping large buffers on their
own (a fixed M_MMAP_THRESHOLD of 1 MB) cut the peak to ~480 MB but cost ~150 ms CPU per photo
(+22 %) in page faults, so it is not done. No-ops off glibc.
"""

from __future__ import annotations

import ctypes
import ctypes.util
from functools import cache
from typing import Any

_M_ARENA_MAX = -8


@cache
def _libc() -> Any | None:
    name = ctypes.util.find_library("c")
    if not name:
        return None
    try:
        libc = ctypes.CDLL(name)
        libc.mallopt  # noqa: B018  (absent outside glibc)
        libc.malloc_trim  # noqa: B018
    except (OSError, AttributeError):
        return None
    return libc


def limit_heaps(heaps: int = 2) -> bool:
    """Let malloc use at most `heaps` heaps however many threads allocate; False off glibc."""
    libc = _libc()
    return libc is not None and libc.mallopt(_M_ARENA_MAX, ctypes.c_int(heaps)) == 1


def release() -> bool:
    """Return freed heap pages to the system (after an image); True when some were."""
    libc = _libc()
    return libc is not None and libc.malloc_trim(ctypes.c_size_t(0)) == 1
