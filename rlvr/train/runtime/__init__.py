"""What a training run runs on: processes, weight layouts, precision, adapters, checkpoints, the optimizer
and the metric loggers; the loop (rlvr.train.trainer) and SFT (rlvr.sft) call them.

    distributed.py  Dist: rank, world size, the collectives (a single process is world 1)
    sharding.py     the weight layout an accelerate recipe asks for: replicated, FSDP or DeepSpeed ZeRO
    precision.py    bf16 autocast over float32 weights, where the hardware has native bf16
    mfu.py          the host's peak matrix-product rate (a probe each run, the best kept per host) and MFU against it
    lora.py         LoRA adapters, the reference as the adapted model with its adapter off, the merge
    checkpoint.py   save and resume, exactly; final_model names a run's trained weights
    optim.py        AdamW with a linear warm-up (make_optimizer)
    loggers.py      tensorboard, wandb and mlflow beside the run's own log
    memory.py       keep_freed_memory: glibc's malloc keeps freed memory for reuse (rlvr's commands call it)

Names load on first use.
"""

from __future__ import annotations

from rlvr._lazy import lazy_exports

_EXPORTS = {
    "Dist": "distributed",
    "final_model": "checkpoint", "load_checkpoint": "checkpoint", "save_checkpoint": "checkpoint",
    "make_optimizer": "optim",
    "autocast": "precision", "use_autocast": "precision",
    "apply_lora": "lora", "save_merged": "lora",
    "check_loggers": "loggers", "open_loggers": "loggers",
    "layout_for_launch": "sharding",
    "keep_freed_memory": "memory",
}

__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
