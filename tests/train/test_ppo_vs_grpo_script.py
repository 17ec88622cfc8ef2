"""benchmarks/ppo_vs_grpo.py's bookkeeping: which arms a run trained, which seeds finished, --more, the bf16 arm's
training-reward difference over seeds (its training is the trainer's, tested elsewhere)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import load_script

SCRIPT = Path(__file__).parents[2] / "benchmarks" / "ppo_vs_grpo.py"


@pytest.fixture(scope="module")
def script():
    return load_script(SCRIPT)


def fake_run(script, root: Path, arms: list[str], rewards: dict[int, dict[str, list[float]]],
             unfinished: int | None = None):
    """Seeds whose arms finished (peak memory, final evaluations) with these per-step rewards."""
    root.mkdir(parents=True)
    (root / "arms.json").write_text(json.dumps(arms))
    for seed, per_arm in rewards.items():
        for name, curve in per_arm.items():
            run_dir = root / f"seed{seed}" / script._folder(name)
            (run_dir / "eval").mkdir(parents=True)
            if seed != unfinished:
                (run_dir / "eval" / "final.json").write_text("{}")
                (run_dir / "peak_rss_mb").write_text("1000\n")
                if name == script.BF16:
                    (run_dir / "eval" / "final_bf16.json").write_text("{}")
            (run_dir / "metrics.jsonl").write_text("".join(json.dumps({"reward/mean": r}) + "\n" for r in curve))


def test_the_bf16_arms_reward_difference_is_paired_by_seed(script, tmp_path):
    arms = [script.REFERENCE, script.BF16]
    rewards = {0: {arms[0]: [0.1, 0.3], arms[1]: [0.1, 0.3]},  # differences 0.0, -0.1, +0.1 of the mean reward
               1: {arms[0]: [0.4, 0.6], arms[1]: [0.3, 0.5]},
               2: {arms[0]: [0.0, 0.2], arms[1]: [0.1, 0.3]},
               3: {arms[0]: [0.0, 0.2], arms[1]: [0.9, 0.9]}}  # seed 3 never finished: left out
    fake_run(script, tmp_path / "runs", arms, rewards, unfinished=3)
    root = tmp_path / "runs"
    assert script._arms(root) == arms and script._seeds(root) == [0, 1, 2]
    # the bf16 arm between its training and its float32 evaluation: the trainer's final.json renamed, no new one
    (root / "seed2" / "GRPO_bf16" / "eval" / "final.json").rename(root / "seed2" / "GRPO_bf16" / "eval" / "x.json")
    assert script._seeds(root) == [0, 1]
    (root / "seed2" / "GRPO_bf16" / "eval" / "x.json").rename(root / "seed2" / "GRPO_bf16" / "eval" / "final.json")
    result = script.reward_difference(root)
    # mean 0, standard deviation 0.1, t(0.975, 2) = 4.303: half-width 0.1 x 4.303 / sqrt(3)
    assert result["gain"] == pytest.approx(0.0, abs=1e-12)
    assert result["interval"] == pytest.approx([-0.24844, 0.24844], abs=1e-4)
    assert script.loss_text(result, 0.05).endswith("inconclusive")
    assert script.loss_text({"gain": 0.0, "interval": [-0.02, 0.03]}, 0.05).endswith("no loss beyond 0.05")


def test_runs_made_before_arms_json_trained_every_arm(script, tmp_path):
    assert script._arms(tmp_path) == list(script.ARMS)


def test_more_refuses_other_arms_and_unknown_arms_exit_2(script, tmp_path):
    arms = [script.REFERENCE, script.BF16]
    fake_run(script, tmp_path / "runs", arms, {0: {arms[0]: [0.1], arms[1]: [0.2]}})
    out = subprocess.run([sys.executable, str(SCRIPT), "--arms", "PPO_K1", "--more", "--output-dir",
                          str(tmp_path / "runs")], capture_output=True, text=True)
    assert out.returncode == 2 and "holds runs of the arms GRPO, GRPO (bf16 sampler)" in out.stderr
    assert (tmp_path / "runs" / "seed0" / "GRPO" / "eval" / "final.json").exists()  # nothing deleted
    out = subprocess.run([sys.executable, str(SCRIPT), "--arms", "PPO", "--output-dir", str(tmp_path / "new")],
                         capture_output=True, text=True)
    assert out.returncode == 2 and "'PPO' is not an arm; choose from PPO_K4, PPO_K1, GRPO_bf16" in out.stderr
    assert not (tmp_path / "new").exists()
