"""The allocator settings hold in a fresh process (glibc)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from picopt.kernel import malloc

PROBE = """
import sys
from picopt.kernel import malloc

def resident_mib():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS"):
            return int(line.split()[1]) / 1024

if sys.argv[1] == "fixed":
    assert malloc.release_large_blocks()
for _ in range(3):  # the first free raises glibc's own threshold; the later blocks stay
    block = b"x" * (19 * 1024 * 1024)
    del block
print(resident_mib())
"""


def _resident_after_frees(mode: str) -> float:
    probe = subprocess.run(
        [sys.executable, "-c", PROBE, mode], capture_output=True, text=True, timeout=60, check=True
    )
    return float(probe.stdout.strip())


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's allocator")
def test_a_freed_large_block_is_returned_to_the_system() -> None:
    """19 MiB (an argon2 hash's memory) stays resident after it is freed, unless the threshold
    is fixed."""
    assert _resident_after_frees("default") - _resident_after_frees("fixed") > 15


HEAPS_PROBE = """
import ctypes, sys, threading
from picopt.kernel import malloc

if sys.argv[1] != "default":
    assert malloc.limit_heaps(int(sys.argv[1]))

together = threading.Barrier(8)

def work():  # all eight alive and allocating at once: none can take over another's heap
    blocks = [ctypes.create_string_buffer(4096) for _ in range(64)]
    together.wait()
    del blocks

threads = [threading.Thread(target=work) for _ in range(8)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print(malloc.heaps())
"""


def _heaps_after_threads(limit: str) -> int:
    probe = subprocess.run(
        [sys.executable, "-c", HEAPS_PROBE, limit],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return int(probe.stdout.strip())


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's allocator")
def test_threads_share_the_limited_heaps() -> None:
    """Eight allocating threads get heaps of their own, unless the number is limited."""
    assert _heaps_after_threads("default") > 4
    assert _heaps_after_threads("2") <= 2


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's allocator")
def test_freed_heap_pages_are_released() -> None:
    import ctypes

    # Many mid-sized blocks (below the mmap threshold) freed together leave free heap pages.
    blocks = [ctypes.create_string_buffer(64 * 1024) for _ in range(400)]
    del blocks
    assert malloc.release_freed()
