"""What a benchmark prints about the machine beside its figures: the CPU, a fixed pure-Python workload, and
for the model benchmarks the fp32 matmul peak and the encoder's useful FLOPs.

The shared VMs these figures come from change speed by ±20 % within minutes. Printing the time of the
same plain loop beside every result lets a reader compare runs taken in a fast and a slow phase. VMs of
one kind also come on different CPU generations, which the model name alone ("AMD EPYC") hides: the CPU
family and model numbers tell them apart (AMD family 25 model 17 is Zen 4, "Genoa").
"""

from __future__ import annotations

import platform
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

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


def matmul_peak(size: int = 2048, repeat: int = 4, rounds: int = 5) -> float:
    """This machine's fp32 matmul rate in GFLOP/s: ``torch.mm`` of two ``size``² matrices on all threads, the
    best of ``rounds`` rounds of ``repeat`` (a shared VM's speed drifts by several per cent within seconds)."""
    import torch

    a, b = torch.randn(size, size), torch.randn(size, size)
    torch.mm(a, b)
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(repeat):
            torch.mm(a, b)
        best = min(best, time.perf_counter() - start)
    return 2 * size**3 * repeat / best / 1e9


def useful_flops(config: Any, lengths: Iterable[int]) -> float:
    """FLOPs a BERT encoder must spend on texts of these real (unpadded) token counts: the four attention
    projections and two feed-forward matmuls per token and layer, plus attention scores and mixing, which grow
    with the square of the length. Padding, softmax, GELU and layer norms are not counted."""
    h, layers, ffn = config.hidden_size, config.num_hidden_layers, config.intermediate_size
    per_token = 2 * layers * (4 * h * h + 2 * h * ffn)
    return float(sum(per_token * n + 4 * layers * n * n * h for n in lengths))
