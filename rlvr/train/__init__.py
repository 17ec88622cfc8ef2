"""Training: GRPO against programmatic verifiers, and SFT on verified completions.

    >>> from rlvr.train import load_config, train, final_model
    >>> run_dir = train(load_config("examples/grpo_arithmetic.yaml", ["run.steps=40"]))  # doctest: +SKIP
    >>> final_model(run_dir)  # doctest: +SKIP

`train` runs `Trainer` (trainer.py: setup -> train -> cleanup) from a `TrainConfig`
(`load_config`: YAML plus key=value overrides); the GRPO maths (advantages, the clipped
loss, reward shaping, PODS pruning) is in grpo.py, one function each. `train_sft` fine-tunes
on chat JSONL from an `SFTConfig`. Both build their optimizer with `make_optimizer`.
`estimate` (cost.py) predicts a run's time before it starts. The command lines are
`rlvr train`, `rlvr sft` and `rlvr cost`.

Names load on first use, so that building the `rlvr` command line, which reads
`rlvr.train.config`, imports no torch.
"""

from __future__ import annotations

from rlvr._lazy import lazy_exports

_EXPORTS = {
    "Trainer": "trainer", "train": "trainer",
    "final_model": "checkpoint",
    "TrainConfig": "config", "config_help": "config", "dump_config": "config", "load_config": "config",
    "group_advantages": "grpo", "grpo_loss": "grpo", "kept_advantages": "grpo", "micro_batch_weight": "grpo",
    "prune_rollouts": "grpo", "shape_rewards": "grpo", "token_entropy": "grpo", "token_logprobs": "grpo",
    "make_optimizer": "optim",
    "completion_loss": "sft", "load_sft_dataset": "sft", "train_sft": "sft",
    "SFTConfig": "sft_config", "load_sft_config": "sft_config",
    "Assumptions": "cost", "actual_usage": "cost", "compare": "cost", "estimate": "cost",
}

__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
