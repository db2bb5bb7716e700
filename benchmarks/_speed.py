"""A fixed pure-Python workload timed next to each benchmark.

The shared VMs these figures come from change speed by ±20 % within minutes. Printing the time of the
same plain loop beside every result lets a reader compare runs taken in a fast and a slow phase.
"""

from __future__ import annotations

import time


def reference_loop_seconds(n: int = 5_000_000, repeat: int = 3) -> float:
    """Best time of ``repeat`` runs of a loop of ``n`` integer additions."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        total = 0
        for i in range(n):
            total += i
        best = min(best, time.perf_counter() - start)
    return best
