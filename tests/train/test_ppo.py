"""PPO with a learned critic on a tiny model: it learns a toy with a known optimum, K = 1 trains, and a run killed
by SIGKILL resumes to the uninterrupted run's metrics (the critic and its optimizer are in the checkpoint)."""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import pytest
import torch
import yaml

from conftest import save_tiny_model, train_until_killed
from rlvr.train.config import load_config
from rlvr.train.trainer import train
from test_episode_training import episodes  # noqa: F401 - the fixture: episodes with turns

HERE = Path(__file__).parent
VOLATILE = ("time/", "throughput/", "mfu/")


def in_process(function: str) -> dict:
    """A test reward checked in this process (compose with isolated=false): no worker process to start."""
    return {"name": "compose", "isolated": False, "parts": [{"verifier": function}]}


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("ppo")
    save_tiny_model(root / "model")
    # Half the prompts earn a bonus the policy cannot change (the critic can learn it from the prompt); every
    # completion whose first word is an even number earns the other half (the policy can learn that).
    tasks = [{"id": f"t{i}",
              "prompt": "Reply with only the final number ." if i % 2 == 0 else f"What is {i} + {i + 1} ?",
              "reference": "bonus" if i % 2 == 0 else "none",
              "verifier": in_process("rewards_for_tests:even_start_with_a_bonus")} for i in range(10)]
    (root / "train.jsonl").write_text("".join(json.dumps(t) + "\n" for t in tasks))
    slow = [{**t, "verifier": in_process("rewards_for_tests:slow_even_words")} for t in tasks]
    (root / "slow.jsonl").write_text("".join(json.dumps(t) + "\n" for t in slow))
    config = {
        "model": str(root / "model"),
        "sampling": {"max_new_tokens": 4, "batch_size": 32},
        "algo": {"name": "ppo", "group_size": 1},
        "critic": {"lr": 3e-3, "micro_batch": 8, "epochs": 2},
        "optim": {"lr": 1e-2, "micro_batch": 8},
        "data": {"train": str(root / "train.jsonl"), "prompts_per_step": 16, "overlap_verify": False},
        "run": {"steps": 12, "checkpoint_every": 100, "seed": 0},
        "plugins": ["rewards_for_tests"],
    }
    (root / "ppo.yaml").write_text(yaml.safe_dump(config))
    return root


@pytest.fixture(autouse=True)
def importable_rewards(monkeypatch):
    monkeypatch.syspath_prepend(str(HERE))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")]))


def read(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def stable(rows: list[dict]) -> list[dict]:
    return [{k: v for k, v in row.items() if not k.startswith(VOLATILE)} for row in rows]


def test_ppo_with_one_sample_per_prompt_learns_the_toy_and_its_critic_explains_the_returns(setup, tmp_path):
    """The reward (even_start_with_a_bonus) starts near 0.41 for the random model and is at most 0.75: 0.5 for an
    even first word, which the policy can learn, plus 0.5 on half the prompts, which only the critic can
    predict. With K = 1 there is no group to compare with: only the critic's values make a baseline."""
    out = tmp_path / "toy"
    config = load_config(setup / "ppo.yaml", [f"run.output_dir={out}", "run.steps=16", "sampling.max_new_tokens=2",
                                              "data.prompts_per_step=32", "optim.lr=2e-2"])
    train(config, progress=False)
    metrics = read(out / "metrics.jsonl")
    assert [m["step"] for m in metrics] == list(range(1, 17))
    for key in ("critic/value_loss", "critic/explained_variance", "critic/value_mean", "critic/value_clip_frac"):
        assert all(key in m for m in metrics), key
    assert "reward/std" not in metrics[0]  # no group, no within-group spread (its health rule would misfire)
    assert metrics[0]["critic/value_mean"] == 0.0  # the head starts at zero
    reward = [m["reward/mean"] for m in metrics]
    assert sum(reward[-4:]) / 4 > max(0.6, sum(reward[:2]) / 2 + 0.2), reward
    explained = [m["critic/explained_variance"] for m in metrics]
    assert sum(explained[-4:]) / 4 > 0.3 and explained[0] == 0.0, explained
    state = torch.load(out / "checkpoints" / "step-16" / "trainer_state.pt", weights_only=False)
    assert {"model", "optimizer", "scheduler"} <= set(state["critic"])
    assert any(key.startswith("body.") for key in state["critic"]["model"])  # a separate critic: its own decoder


def test_a_shared_critic_warms_up_before_the_policy_trains(setup, tmp_path):
    out = tmp_path / "shared"
    config = load_config(setup / "ppo.yaml", [f"run.output_dir={out}", "critic.shared=true",
                                              "critic.warmup_steps=2", "run.steps=3", "algo.group_size=2",
                                              "data.prompts_per_step=4"])
    train(config, progress=False)
    metrics = read(out / "metrics.jsonl")
    assert [m["rows/trained"] for m in metrics][:2] == [0, 0] and metrics[2]["rows/trained"] == 8
    assert metrics[1]["critic/value_mean"] != 0.0  # the critic trained during the warm-up
    from safetensors.torch import load_file

    before = load_file(str(setup / "model" / "model.safetensors"))
    state = torch.load(out / "checkpoints" / "step-3" / "trainer_state.pt", weights_only=False)
    assert set(state["critic"]["model"]) == {"head.weight", "head.bias"}  # the policy's decoder is not copied
    after = load_file(str(out / "checkpoints" / "step-3" / "model.safetensors"))
    assert any((before[k] - after[k]).abs().max() > 0 for k in after)  # the policy trained at step 3


def test_sigkill_then_resume_gives_the_uninterrupted_ppo_runs_metrics(setup, tmp_path):
    overrides = [f"data.train={setup / 'slow.jsonl'}", "run.steps=4", "run.checkpoint_every=2",
                 "algo.group_size=2", "data.prompts_per_step=3", "algo.kl_in_reward=0.05", "algo.lam=0.95"]
    reference = tmp_path / "a"
    train(load_config(setup / "ppo.yaml", [f"run.output_dir={reference}", *overrides]), progress=False)

    out = tmp_path / "b"
    cmd = [sys.executable, "-m", "rlvr.cli", "train", str(setup / "ppo.yaml"), f"run.output_dir={out}", *overrides]
    # past the step-2 checkpoint, before step 4's
    train_until_killed(cmd, {**os.environ, "PYTHONPATH": str(HERE)}, out, timeout=600)
    assert (out / "checkpoints" / "step-2").exists() and not (out / "checkpoints" / "step-4").exists()

    train(load_config(setup / "ppo.yaml", [f"run.output_dir={out}", *overrides]), resume=True, progress=False)
    resumed, uninterrupted = read(out / "metrics.jsonl"), read(reference / "metrics.jsonl")
    assert [m["step"] for m in resumed] == [1, 2, 3, 4]
    assert "ppo/kl_penalty" in uninterrupted[-1] and "critic/explained_variance" in uninterrupted[-1]
    for got, want in zip(stable(resumed), stable(uninterrupted)):
        assert got.keys() == want.keys()
        for key in want:
            assert got[key] == pytest.approx(want[key], rel=1e-5, abs=1e-7), (got["step"], key)


@pytest.mark.skipif(shutil.which("accelerate") is None, reason="accelerate's launcher is not on PATH")
@pytest.mark.parametrize("recipe", ["ddp.yaml", "fsdp.yaml"])
def test_two_data_parallel_ranks_keep_one_critic(tmp_path, recipe):
    """2 CPU processes: the value gradients are summed like the policy's, so under ddp.yaml the ranks' policy
    and critic weights stay equal (the sync checksums include the critic); under fsdp.yaml the separate critic
    stays replicated beside the sharded policy. The critic's metrics are global."""
    from test_distributed import launch, tiny_run

    config = tiny_run(tmp_path, algo={"name": "ppo", "group_size": 2, "kl_in_reward": 0.05},
                      critic={"lr": 1e-3, "micro_batch": 2})
    proc = launch(recipe, config)
    assert proc.returncode == 0, proc.stderr[-3000:]
    metrics = read(tmp_path / "run" / "metrics.jsonl")
    assert [m["step"] for m in metrics] == [1, 2] and all(m["rows/trained"] > 0 for m in metrics)
    assert all("critic/explained_variance" in m and "ppo/kl_penalty" in m for m in metrics)
    if recipe == "ddp.yaml":  # sharded ranks hold different shards, so only the replicated layout is checksummed
        sync = read(tmp_path / "run" / "sync.jsonl")
        assert [s["step"] for s in sync] == [1, 2] and all(s["checksums"][0] == s["checksums"][1] for s in sync)


def test_the_critic_not_learning_rule_warns_after_its_window():
    from rlvr.monitor import HealthThresholds, replay

    rows = [{"step": s, "critic/explained_variance": -0.2} for s in range(1, 11)]
    warnings = [w for w in replay(rows, HealthThresholds(window=3)) if w.rule == "critic_not_learning"]
    assert [w.step for w in warnings] == [3] and "critic.warmup_steps" in warnings[0].message
    rows = [{"step": s, "critic/explained_variance": 0.4} for s in range(1, 11)]
    assert not [w for w in replay(rows, HealthThresholds(window=3)) if w.rule == "critic_not_learning"]


@pytest.mark.parametrize("shared", [True, False])
def test_ppo_trains_with_lora(setup, tmp_path, shared):
    """LoRA trains the adapter; the shared critic reads the adapted policy's decoder, the separate one is a
    full copy of it (adapter layers included), and both are in the checkpoint."""
    pytest.importorskip("peft")
    out = tmp_path / "lora"
    config = load_config(setup / "ppo.yaml", [f"run.output_dir={out}", "run.steps=2", "algo.group_size=2",
                                              "data.prompts_per_step=4", "lora.enabled=true", "lora.r=4",
                                              f"critic.shared={str(shared).lower()}"])
    train(config, progress=False)
    metrics = read(out / "metrics.jsonl")
    assert [m["step"] for m in metrics] == [1, 2] and metrics[1]["critic/value_mean"] != 0.0
    state = torch.load(out / "checkpoints" / "step-2" / "trainer_state.pt", weights_only=False)
    assert (set(state["critic"]["model"]) == {"head.weight", "head.bias"}) == shared


def test_a_weights_only_ppo_checkpoint_holds_no_critic_optimizer_state(setup, tmp_path):
    """run.checkpoint_optimizer=false: neither the policy's nor the critic's optimizer state is written (the
    separate critic's AdamW moments are twice its decoder), and --resume refuses it before any model loads."""
    full, light = tmp_path / "full", tmp_path / "light"
    for out, extra in ((full, []), (light, ["run.checkpoint_optimizer=false"])):
        train(load_config(setup / "ppo.yaml", [f"run.output_dir={out}", "run.steps=1", "data.prompts_per_step=4",
                                               *extra]), progress=False)
    heavy = torch.load(full / "checkpoints" / "step-1" / "trainer_state.pt", weights_only=False)
    state = torch.load(light / "checkpoints" / "step-1" / "trainer_state.pt", weights_only=False)
    assert heavy["critic"]["optimizer"]["state"] and state["critic"]["optimizer"] is None
    assert state["optimizer"] is None and set(state["critic"]["model"]) == set(heavy["critic"]["model"])
    size = {out: (out / "checkpoints" / "step-1" / "trainer_state.pt").stat().st_size for out in (full, light)}
    assert size[light] < size[full] / 2, size
    from rlvr._errors import ConfigError
    from rlvr.train.trainer import Trainer

    with pytest.raises(ConfigError, match="without the optimizer state .* cannot be resumed exactly"):
        Trainer(load_config(setup / "ppo.yaml", [f"run.output_dir={light}", "run.steps=2"]), resume=True,
                progress=False)


def test_gae_on_real_episodes_skips_the_environments_tokens(episodes):
    """Episodes with turns (the multi-turn tests' Guess environment): the critic's advantages and returns are 0
    on every environment token, and what the critic says at those tokens changes no sampled token's advantage."""
    from rlvr.train.config import AlgoSection, CriticSection
    from rlvr.train.critic import Critic
    from rlvr.train.objectives.ppo import gae, token_rewards
    from rlvr.train.rollouts import pad_batch
    from rlvr.train.runtime.distributed import Dist

    policy, rollouts = episodes
    rows = [(0, j) for j in range(4)]
    batch = pad_batch(rollouts, rows, rollouts.rewards, False, 0)
    critic = Critic(policy.model, CriticSection(), AlgoSection(name="ppo", group_size=4), Dist(), 1.0, None, False)
    with torch.no_grad():  # values that differ token by token
        critic.model.head.weight.normal_(generator=torch.Generator().manual_seed(0))
    advantages, returns, values, _ = critic.advantages(batch, batch["advantage"], None, trim=False)
    mask = batch["mask"]
    environment = (mask == 0) & (batch["attention"][:, -mask.shape[1]:] == 1)  # inside the episode, not padding
    assert environment.any() and (advantages[environment] == 0).all() and (returns[environment] == 0).all()
    assert (advantages[mask == 1] != 0).all()
    rewards, _ = token_rewards(batch["advantage"], mask)
    plain, _ = gae(rewards, values, mask, 0.9, 0.8)
    noisy, _ = gae(rewards, torch.where(environment, torch.randn_like(values) * 100, values), mask, 0.9, 0.8)
    assert torch.equal(plain, noisy)


def test_a_shared_critic_under_fsdp_is_refused_before_the_model_loads(setup, tmp_path, monkeypatch):
    from rlvr._errors import ConfigError
    from rlvr.train.trainer import Trainer

    monkeypatch.setenv("ACCELERATE_USE_FSDP", "true")
    monkeypatch.setenv("FSDP_VERSION", "2")
    config = load_config(setup / "ppo.yaml", [f"run.output_dir={tmp_path / 'run'}", "critic.shared=true"])
    with pytest.raises(ConfigError, match="critic.shared=false"):
        Trainer(config, progress=False)
    assert not (tmp_path / "run").exists()
