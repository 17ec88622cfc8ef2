"""Mixed precision for the update: bf16 autocast over float32 master weights and optimizer state.

Matrix products run in bf16 where the hardware computes bf16 natively (a CUDA GPU with bf16, a CPU
with AVX512-BF16 or AMX tiles); the weights, their gradients and AdamW's moments stay float32, and
rlvr's log-probabilities are computed in float32 from the bf16 logits (models/logprobs.py). On
this 2-core AVX512-BF16 CPU one forward and backward of SmolLM2-135M over 24 rows x 72 tokens
takes 0.40x the float32 time (benchmarks/trainer_vs_trl.py measures the whole step).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Literal

import torch

from rlvr.models.precision import native_bf16 as _native_bf16

MixedPrecision = Literal["auto", "bf16", "fp32"]


def native_bf16(device: torch.device | str) -> bool:
    """Whether `device` multiplies bf16 matrices in hardware (else autocast would emulate it, slower); the
    sampler's `sampling.precision: auto` asks the same function (rlvr/models/precision.py)."""
    return _native_bf16(device)


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


@contextlib.contextmanager
def cast_once(enabled: bool, device: torch.device | str) -> Iterator[None]:
    """Within the block, the update's autocast casts each float32 weight to bf16 once, not once a micro-batch.

    autocast keeps its casts of the weights until its outermost context exits. An outer context, disabled again
    at once inside, keeps them for the whole block, while only the forward passes' own `autocast` blocks run in
    bf16 (the loss and the backward run outside autocast, as before). The gradients are the same, bit for bit: a
    cast weight is the same tensor whether cast again or reused. The copies are of the weights as they are, so
    the block ends before the optimizer changes them. Not for sharded weights (FSDP, ZeRO-3): those are gathered
    anew for every forward, and each gathering would stay cached."""
    if not enabled:
        yield
        return
    kind = torch.device(device).type
    with torch.autocast(device_type=kind, dtype=torch.bfloat16), torch.autocast(device_type=kind, enabled=False):
        yield
