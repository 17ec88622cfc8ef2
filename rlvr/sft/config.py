"""The `rlvr sft` config: typed sections read like the GRPO config (YAML plus `section.key=value`).

    model: smollm2-135m-instruct
    data:  {train: sft.jsonl, eval: heldout.jsonl, eval_k: 8}
    sampling: {max_new_tokens: 32}   # how the held-out evaluation samples (engine: hf or vllm, as in training)
    optim: {lr: 2.0e-5, epochs: 3, batch_size: 16, micro_batch: 8}
    run:   {output_dir: runs/sft}

Kept apart from `trainer.py` so that building the CLI parser (which lists these keys in
`rlvr sft --help`) imports no torch. The sampling section and the engine spec are the training config's
(rlvr.train.config); the reading is rlvr.config's.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from rlvr._errors import ConfigError
from rlvr.config import load
from rlvr.models.generation import DEFAULT_K
from rlvr.models.spec import DEFAULT_MODEL, BatchSize
from rlvr.train.config import SamplingSection, sampler_spec


@dataclass(frozen=True)
class SFTDataSection:
    train: str = ""  # chat JSONL from `rlvr distill`: {"messages": [..., {"role": "assistant", ...}]}
    eval: str = ""  # held-out task file: pass@k before and after training ("" = none)
    eval_k: int = DEFAULT_K  # samples per held-out task; how they are drawn is the `sampling` section


@dataclass(frozen=True)
class SFTSamplingSection(SamplingSection):
    """How the held-out evaluation samples (K is data.eval_k, the seed run.seed) and on what engine, as in the
    training config; the sampler sizes its batches to the free memory unless told otherwise."""

    batch_size: BatchSize = field(default="auto", metadata={"help": "rows decoded together (hf engine); auto: as "
                                                                    "many as half the free memory holds"})


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
    model: str = DEFAULT_MODEL
    dtype: Literal["float32", "bfloat16"] = "float32"
    data: SFTDataSection = field(default_factory=SFTDataSection)
    sampling: SFTSamplingSection = field(default_factory=SFTSamplingSection)
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
        sampler_spec(self)  # the evaluation's engine options, checked now (one sentence naming the key)


def load_sft_config(path: str | Path | None = None, overrides: list[str] | tuple[str, ...] = ()) -> SFTConfig:
    """Read an SFT config (or start from defaults) and apply `section.key=value` overrides."""
    return load(SFTConfig, path, overrides)
