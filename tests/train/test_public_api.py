"""The public surface of rlvr.train is deliberate: this pins it, and importing it stays light."""

import subprocess
import sys

import rlvr.train


def test_all_lists_the_public_names_and_each_exists():
    assert sorted(rlvr.train.__all__) == sorted([
        "Trainer", "train", "final_model", "TrainConfig", "config_help", "dump_config", "load_config",
        "group_advantages", "grpo_loss", "kept_advantages", "micro_batch_weight", "prune_rollouts", "shape_rewards",
        "token_entropy", "token_logprobs", "make_optimizer", "completion_loss", "load_sft_dataset", "train_sft",
        "SFTConfig", "load_sft_config", "Assumptions", "actual_usage", "compare", "estimate",
    ])
    assert all(hasattr(rlvr.train, name) for name in rlvr.train.__all__)
    assert set(rlvr.train.__all__) <= set(dir(rlvr.train))


def test_the_config_imports_without_torch():
    # `rlvr --help` reads rlvr.train.config; the package must not pull in the trainer on the way.
    code = "import sys, rlvr.train, rlvr.train.config; sys.exit('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0
