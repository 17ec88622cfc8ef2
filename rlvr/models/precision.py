"""The sampler's precision: `sampling.precision: auto | fp32 | bf16`, and whether a device multiplies bf16 natively.

    resolve_precision("auto", policy.device)  # "bf16" on a CUDA GPU with bf16 or an AVX512-BF16 / AMX CPU

bf16 is worth sampling in only where the hardware multiplies it natively: elsewhere torch emulates it and
a bf16 matrix product is slower than a float32 one. The update's autocast (rlvr/train/runtime/precision.py)
asks the same question of the same function.
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING, Literal

from rlvr._errors import ConfigError

if TYPE_CHECKING:
    import torch

Precision = Literal["fp32", "bf16"]  # what "auto" resolves to
PRECISIONS = ("auto", "fp32", "bf16")


@lru_cache(maxsize=None)
def cpu_has_native_bf16() -> bool:
    """Whether this CPU multiplies bf16 in hardware (the AVX512-BF16 or AMX-BF16 flag in /proc/cpuinfo)."""
    try:
        with open("/proc/cpuinfo") as f:
            flags = next((line.split(":", 1)[1].split() for line in f if line.startswith("flags")), [])
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def native_bf16(device: torch.device | str) -> bool:
    """Whether `device` multiplies bf16 matrices in hardware (else bf16 would be emulated, slower than float32)."""
    import torch

    device = torch.device(device)
    if device.type == "cuda":
        try:
            return torch.cuda.is_bf16_supported()
        except (AssertionError, RuntimeError):  # a torch built without CUDA
            return False
    return device.type == "cpu" and cpu_has_native_bf16()


def resolve_precision(choice: str, device: torch.device | str) -> Precision:
    """`choice` with "auto" resolved for `device`: bf16 where it is native, else fp32."""
    if choice not in PRECISIONS:
        raise ConfigError(f"unknown sampling precision '{choice}'; choose auto, fp32 or bf16.")
    if choice == "auto":
        return "bf16" if native_bf16(device) else "fp32"
    return choice  # type: ignore[return-value]
