"""Mixed precision for the update: bf16 autocast over float32 master weights and optimizer state.

Matrix products run in bf16 where the hardware computes bf16 natively (a CUDA GPU with bf16, a CPU
with AVX512-BF16 or AMX tiles); the weights, their gradients and AdamW's moments stay float32, and
rlvr's log-probabilities are computed in float32 from the bf16 logits (models/logprobs.py). On
this 2-core AVX512-BF16 CPU one forward and backward of SmolLM2-135M over 24 rows x 72 tokens
takes 0.40x the float32 time (benchmarks/trainer_vs_trl.py measures the whole step).
"""

from __future__ import annotations

import contextlib
from functools import lru_cache
from typing import Literal

import torch

MixedPrecision = Literal["auto", "bf16", "fp32"]


@lru_cache(maxsize=None)
def _cpu_has_native_bf16() -> bool:
    try:
        with open("/proc/cpuinfo") as f:
            flags = next((line.split(":", 1)[1].split() for line in f if line.startswith("flags")), [])
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def native_bf16(device: torch.device | str) -> bool:
    """Whether `device` multiplies bf16 matrices in hardware (else autocast would emulate it, slower)."""
    device = torch.device(device)
    if device.type == "cuda":
        try:
            return torch.cuda.is_bf16_supported()
        except (AssertionError, RuntimeError):  # a torch built without CUDA
            return False
    return device.type == "cpu" and _cpu_has_native_bf16()


def use_autocast(choice: MixedPrecision, weights: torch.dtype, device: torch.device | str) -> bool:
    """auto: on for float32 weights on hardware with native bf16; bf16: on; fp32: float32 throughout."""
    if choice == "fp32" or weights != torch.float32:
        return False
    return choice == "bf16" or native_bf16(device)


def autocast(enabled: bool, device: torch.device | str) -> contextlib.AbstractContextManager:
    """The update's forward passes run inside this (a no-op when not enabled)."""
    if not enabled:
        return contextlib.nullcontext()
    return torch.autocast(device_type=torch.device(device).type, dtype=torch.bfloat16)
