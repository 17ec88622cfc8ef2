"""The optimizer both trainers use (GRPO in rlvr/train/trainer.py, SFT in rlvr/sft/trainer.py): AdamW with a
linear warmup."""

from __future__ import annotations

from collections.abc import Iterable

import torch


def make_optimizer(params: Iterable[torch.nn.Parameter], lr: float, weight_decay: float,
                   warmup_steps: int) -> tuple[torch.optim.AdamW, torch.optim.lr_scheduler.LambdaLR]:
    """AdamW over `params`, and a schedule that warms up linearly, then holds `lr`.

    Step s (counted from 0) runs at lr * min(1, (s + 1) / (warmup_steps + 1)): the first step
    already moves the weights, and step `warmup_steps` reaches the full rate. The caller picks
    the parameters (GRPO passes only those that require gradients, e.g. a LoRA adapter's).

    The step is torch's fused AdamW where it can run (plain float tensors on the CPU or a CUDA GPU): one pass
    over each tensor instead of a dozen element-wise kernels (SmolLM2-135M on 2 CPU cores: 0.05 s a step
    against 0.25 s). It rounds like the element-wise step up to the last bit of a few weights.
    """
    params = list(params)
    optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay, fused=_fused(params))
    # A plain function (not a callable object), so the scheduler's state_dict stays as it was.
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: min(1.0, (s + 1) / (warmup_steps + 1)))
    return optimizer, scheduler


def _fused(params: list[torch.nn.Parameter]) -> bool:
    """Whether torch's fused AdamW takes these parameters: plain (not DTensor-sharded) floating-point tensors on the
    CPU or a CUDA device."""
    return bool(params) and all(type(p) in (torch.nn.Parameter, torch.Tensor) and p.is_floating_point()
                                and p.device.type in ("cpu", "cuda") for p in params)
