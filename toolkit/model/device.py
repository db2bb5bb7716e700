"""Which device a model runs on, and the mixed precision it runs with there."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Literal

import torch

from toolkit.errors import ConfigError

Device = Literal["auto", "cpu", "cuda", "mps"]
Precision = Literal["fp32", "bf16", "fp16"]
_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``auto``: CUDA where available, else Apple's MPS, else the CPU. A device that is asked for by name but
    not present is an error, not a silent fall-back (a user who asks for cuda expects the GPU)."""
    if isinstance(device, torch.device):
        return device
    if device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    kind = device.split(":")[0]
    if kind not in ("cpu", "cuda", "mps"):
        raise ConfigError(f"unknown device {device!r}; use auto, cpu, cuda (cuda:N) or mps")
    if kind == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device cuda was asked for, but PyTorch sees no CUDA GPU here (use --device auto or cpu)")
    if kind == "mps" and not torch.backends.mps.is_available():
        raise ConfigError("device mps was asked for, but this PyTorch has no MPS backend here (use --device auto or cpu)")
    return torch.device(device)


@contextlib.contextmanager
def autocast(device: torch.device, precision: Precision) -> Iterator[None]:
    """bf16/fp16 autocast on CUDA; full precision elsewhere (CPU autocast is slower than fp32 on most CPUs)."""
    if device.type == "cuda" and precision in _DTYPES:
        with torch.autocast("cuda", dtype=_DTYPES[precision]):
            yield
    else:
        yield
