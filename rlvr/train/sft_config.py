"""The `rlvr sft` config: typed sections read like the GRPO config (YAML plus `section.key=value`).

    model: smollm2-135m-instruct
    data:  {train: sft.jsonl, eval: heldout.jsonl, eval_k: 8}
    sampling: {max_new_tokens: 32}   # how the held-out evaluation samples
    optim: {lr: 2.0e-5, epochs: 3, batch_size: 16, micro_batch: 8}
    run:   {output_dir: runs/sft}

Kept apart from `sft.py` so that building the CLI parser (which lists these keys in
`rlvr sft --help`) imports no torch.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from rlvr._errors import ConfigError
from rlvr.models.generation import Decoding
from rlvr.train.config import load_config


@dataclass(frozen=True)
class SFTDataSection:
    train: str = ""  # chat JSONL from `rlvr distill`: {"messages": [..., {"role": "assistant", ...}]}
    eval: str = ""  # held-out task file: pass@k before and after training ("" = none)
    eval_k: int = 8  # samples per held-out task; how they are drawn is the `sampling` section


@dataclass(frozen=True)
class SFTOptimSection:
    lr: float = 2e-5
    epochs: int = 3
    batch_size: int = 16  # examples per optimizer step
    micro_batch: int = 8  # examples per forward/backward; gradients accumulate over the batch
    warmup_steps: int = 0  # linear warmup, then constant
    max_grad_norm: float = 1.0
    weight_decay: float = 0.0


@dataclass(frozen=True)
class SFTRunSection:
    output_dir: str = "runs/sft"
    seed: int = 0
    save_model: bool = True  # save_pretrained (model + tokenizer) into output_dir/model


@dataclass(frozen=True)
class SFTConfig:
    model: str = "smollm2-135m-instruct"
    dtype: Literal["float32", "bfloat16"] = "float32"
    data: SFTDataSection = field(default_factory=SFTDataSection)
    sampling: Decoding = field(default_factory=Decoding)
    optim: SFTOptimSection = field(default_factory=SFTOptimSection)
    run: SFTRunSection = field(default_factory=SFTRunSection)

    def __post_init__(self) -> None:
        checks = [
            (self.optim.lr > 0, "optim.lr must be positive"),
            (self.optim.epochs >= 1, "optim.epochs must be at least 1"),
            (self.optim.batch_size >= 1, "optim.batch_size must be at least 1"),
            (self.optim.micro_batch >= 1, "optim.micro_batch must be at least 1"),
            (self.optim.warmup_steps >= 0, "optim.warmup_steps must be >= 0"),
            (self.data.eval_k >= 1, "data.eval_k must be at least 1"),
        ]
        for ok, message in checks:
            if not ok:
                raise ConfigError(message + ".")


def load_sft_config(path: str | Path | None = None, overrides: list[str] | tuple[str, ...] = ()) -> SFTConfig:
    """Read an SFT config (or start from defaults) and apply `section.key=value` overrides."""
    return load_config(path, overrides, config_class=SFTConfig)
