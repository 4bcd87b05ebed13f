"""Resident memory of a running stack, sampled from /proc: per process and in total.

RSS counts a page shared by several processes (a forked child, a shared library) once per
process, so the RSS sum overstates what the machine spends; PSS splits each shared page
between its sharers and sums to the real figure. Both are reported.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

PROC = Path("/proc")


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = defaultdict(list)
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        tree[ppid].append(int(entry.name))
    return tree


def descendants(roots: dict[str, int]) -> dict[int, str]:
    """{pid: label} for every root and each process below it ("worker.1", "worker.1/child")."""
    tree = _children()
    labels: dict[int, str] = {}
    for name, pid in roots.items():
        stack = [(pid, name)]
        while stack:
            current, label = stack.pop()
            labels[current] = label
            stack.extend((child, f"{name}/child") for child in tree.get(current, ()))
    return labels


def _kib(path: Path, keys: tuple[str, ...]) -> dict[str, int]:
    values: dict[str, int] = {}
    try:
        for line in path.read_text().splitlines():
            key, _, rest = line.partition(":")
            if key in keys:
                values[key] = int(rest.split()[0])
    except (OSError, ValueError):
        pass
    return values


def usage(pid: int) -> tuple[int, int]:
    """(RSS, PSS) of `pid` in KiB; (0, 0) once it is gone."""
    rss = _kib(PROC / str(pid) / "status", ("VmRSS",)).get("VmRSS", 0)
    pss = _kib(PROC / str(pid) / "smaps_rollup", ("Pss",)).get("Pss", rss)
    return rss, pss


@dataclass
class Peaks:
    """Highest totals seen, and each label's highest sum over its processes."""

    rss_kib: int = 0
    pss_kib: int = 0
    by_label_rss: dict[str, int] = field(default_factory=dict)
    by_label_pss: dict[str, int] = field(default_factory=dict)
    samples: int = 0


class MemorySampler(threading.Thread):
    """Samples the process trees under `roots` every `interval` seconds until stopped."""

    def __init__(self, roots: dict[str, int], interval: float = 0.25) -> None:
        super().__init__(daemon=True, name="memory-sampler")
        self.roots = roots
        self.interval = interval
        self.peaks = Peaks()
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.wait(self.interval):
            self.sample()

    def sample(self) -> None:
        rss_by: dict[str, int] = defaultdict(int)
        pss_by: dict[str, int] = defaultdict(int)
        for pid, label in descendants(self.roots).items():
            rss, pss = usage(pid)
            rss_by[label] += rss
            pss_by[label] += pss
        peaks = self.peaks
        peaks.samples += 1
        peaks.rss_kib = max(peaks.rss_kib, sum(rss_by.values()))
        peaks.pss_kib = max(peaks.pss_kib, sum(pss_by.values()))
        for label, value in rss_by.items():
            peaks.by_label_rss[label] = max(peaks.by_label_rss.get(label, 0), value)
        for label, value in pss_by.items():
            peaks.by_label_pss[label] = max(peaks.by_label_pss.get(label, 0), value)

    def stop(self) -> Peaks:
        self._stop_event.set()
        self.join()
        self.sample()
        return self.peaks
