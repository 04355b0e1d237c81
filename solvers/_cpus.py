"""Sharing work among CPUs and processes: how many CPUs this process may use (its affinity mask, capped by a cgroup
v2 or v1 CPU quota where one is set), and the contiguous part of a list that each of n workers takes."""

from __future__ import annotations

import math
import os
from pathlib import Path

__all__ = ["usable_cpus", "part_bounds"]


def _cgroup_quota() -> float | None:
    """CPUs allowed by the cgroup CPU quota (``cpu.max`` of v2, ``cpu.cfs_quota_us / cpu.cfs_period_us`` of v1), or
    None where no quota is set or none can be read."""
    try:
        text = Path("/sys/fs/cgroup/cpu.max").read_text().split()
        if text and text[0] != "max":
            return int(text[0]) / int(text[1])
    except (OSError, ValueError, IndexError):
        pass
    try:
        quota = int(Path("/sys/fs/cgroup/cpu/cpu.cfs_quota_us").read_text())
        period = int(Path("/sys/fs/cgroup/cpu/cpu.cfs_period_us").read_text())
        if quota > 0 and period > 0:
            return quota / period
    except (OSError, ValueError):
        pass
    return None


def usable_cpus() -> int:
    """The CPUs this process may run on: its affinity mask (all CPUs where the platform has none), no more than a
    container's CPU quota (rounded up), at least 1.

    >>> usable_cpus() >= 1
    True
    """
    try:
        n = len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        n = os.cpu_count() or 1
    quota = _cgroup_quota()
    if quota is not None:
        n = min(n, math.ceil(quota))
    return max(1, n)


def part_bounds(count: int, k: int, n: int) -> tuple[int, int]:
    """``[start, stop)`` of part ``k`` of ``count`` items cut into ``n`` contiguous parts whose sizes differ by at
    most one (the first ``count % n`` parts are the longer ones).

    >>> [part_bounds(5, k, 2) for k in range(2)]
    [(0, 3), (3, 5)]
    """
    if n < 1 or not 0 <= k < n:
        raise ValueError(f"rank {k} must lie in [0, world {n})")
    base, extra = divmod(count, n)
    start = k * base + min(k, extra)
    return start, start + base + (k < extra)
