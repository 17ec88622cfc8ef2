"""Training: GRPO against programmatic verifiers.

    >>> from rlvr.train import load_config, train, final_model
    >>> run_dir = train(load_config("examples/grpo_arithmetic.yaml", ["run.steps=40"]))  # doctest: +SKIP
    >>> final_model(run_dir)  # doctest: +SKIP

`train` runs `Trainer` (trainer.py: setup -> train -> cleanup) from a `TrainConfig`
(config.py; `load_config`: YAML plus key=value overrides); rollouts.py holds the prompt stream and
the padded batches, rewards.py the rewards the advantages are computed from. What the loop calls is
in two sub-packages: objectives/ (the GRPO maths on one screen in grpo.py, the formulas, the registered
variants, the group rewards) and runtime/ (distributed, sharding, precision, LoRA, checkpoints, the
optimizer, the loggers). `estimate` (cost.py) predicts a run's time before it starts. SFT is rlvr.sft;
the log-probability kernels are rlvr.models'. The command lines are `rlvr train` and `rlvr cost`.

Names load on first use, so that building the `rlvr` command line, which reads
`rlvr.train.config`, imports no torch.
"""

from __future__ import annotations

from rlvr._lazy import lazy_exports

_EXPORTS = {
    "Trainer": "trainer", "train": "trainer",
    "TrainConfig": "config", "config_help": "config", "load_config": "config",
    "Assumptions": "cost", "actual_usage": "cost", "compare": "cost", "estimate": "cost",
    "final_model": "runtime", "make_optimizer": "runtime",
    "group_advantages": "objectives", "grpo_loss": "objectives", "kept_advantages": "objectives",
    "micro_batch_weight": "objectives", "prune_rollouts": "objectives", "shape_rewards": "objectives",
}

__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
