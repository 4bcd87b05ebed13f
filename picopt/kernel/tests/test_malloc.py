"""A freed large block leaves the process's resident memory (glibc)."""

from __future__ import annotations

import subprocess
import sys

import pytest

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
