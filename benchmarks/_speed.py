"""What a benchmark prints about the machine beside its figures: the CPU, and a fixed pure-Python workload.

The shared VMs these figures come from change speed by ±20 % within minutes. Printing the time of the
same plain loop beside every result lets a reader compare runs taken in a fast and a slow phase. VMs of
one kind also come on different CPU generations, which the model name alone ("AMD EPYC") hides: the CPU
family and model numbers tell them apart (AMD family 25 model 17 is Zen 4, "Genoa").
"""

from __future__ import annotations

import platform
import time
from pathlib import Path

_CPUINFO = Path("/proc/cpuinfo")


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


def cpu_description() -> str:
    """The first CPU's model name, family and model numbers and whether it has AVX-512, from /proc/cpuinfo;
    the platform's processor string where that file is missing (not Linux)."""
    try:
        first = _CPUINFO.read_text(encoding="utf-8").split("\n\n", 1)[0]
    except OSError:
        return platform.processor() or platform.machine()
    fields = dict(
        (key.strip(), value.strip()) for key, _, value in (line.partition(":") for line in first.splitlines())
    )
    avx512 = "yes" if "avx512f" in fields.get("flags", "").split() else "no"
    return (
        f"{fields.get('model name', '?')}, family {fields.get('cpu family', '?')} model "
        f"{fields.get('model', '?')}, AVX-512 {avx512}"
    )
