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
    """
    optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    # A plain function (not a callable object), so the scheduler's state_dict stays as it was.
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: min(1.0, (s + 1) / (warmup_steps + 1)))
    return optimizer, scheduler
