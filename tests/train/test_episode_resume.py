"""A multi-turn run (tasks naming an environment) killed with SIGKILL and resumed logs what the uninterrupted
run logs: the episodes are a function of the step's seed, so a resumed step plays the same ones."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest
import yaml

from conftest import save_tiny_model, train_until_killed
from rlvr.train.config import load_config
from rlvr.train.trainer import train

ENVS = Path(__file__).parents[1] / "envs"  # envs_for_tests: Guess answers each wrong reply
VOLATILE = ("time/", "throughput/", "mfu/")  # timings, and the shares of the peak made of them


def read(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def stable(rows: list[dict]) -> list[dict]:
    return [{k: v for k, v in row.items() if not k.startswith(VOLATILE)} for row in rows]


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("episodes")
    save_tiny_model(root / "model", eos_logit=3.0)  # a random model that ends its turns, so episodes have several
    tasks = [{"id": f"g{i}", "prompt": f"What is {i} + 1 ?", "reference": str(i + 1),
              "env": {"name": "envs_for_tests:Guess", "max_turns": 3, "max_tokens": 60}} for i in range(6)]
    (root / "train.jsonl").write_text("".join(json.dumps(t) + "\n" for t in tasks))
    config = {"model": str(root / "model"), "sampling": {"max_new_tokens": 6, "batch_size": 16},
              "algo": {"group_size": 4, "beta": 0.05}, "optim": {"lr": 1e-3, "micro_batch": 8},
              "data": {"train": str(root / "train.jsonl"), "prompts_per_step": 2, "verifier_workers": 1},
              "run": {"steps": 4, "checkpoint_every": 2, "seed": 5}, "plugins": ["envs_for_tests"]}
    (root / "config.yaml").write_text(yaml.safe_dump(config))
    return root


@pytest.fixture(scope="module")
def uninterrupted(setup, tmp_path_factory):
    out = tmp_path_factory.mktemp("run") / "a"
    sys.path.insert(0, str(ENVS))
    train(load_config(setup / "config.yaml", [f"run.output_dir={out}"]), progress=False)
    return out


def test_a_multi_turn_run_logs_episodes_and_trains(uninterrupted):
    metrics, samples = read(uninterrupted / "metrics.jsonl"), read(uninterrupted / "samples.jsonl")
    assert [m["step"] for m in metrics] == [1, 2, 3, 4] and sum(m["rows/trained"] for m in metrics) > 0
    assert any(sum(t["role"] == "assistant" for t in s["turns"]) > 1 for s in samples)
    for s in samples:  # "tokens" is what the policy wrote; the episode's context holds the observations too
        assert s["tokens"] <= s["context_tokens"] and s["stop"] in ("done", "turns", "tokens")
        assert s["reward"] == pytest.approx((s["reason"] == "ok") + sum(s["turn_rewards"]))


def test_sigkill_then_resume_gives_the_same_metrics(setup, uninterrupted, tmp_path):
    out = tmp_path / "b"
    cmd = [sys.executable, "-m", "rlvr.cli", "train", str(setup / "config.yaml"), f"run.output_dir={out}"]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ENVS), os.environ.get("PYTHONPATH", "")])}
    train_until_killed(cmd, env, out)  # past the step-2 checkpoint, before step 4's
    assert (out / "checkpoints" / "step-2").exists() and not (out / "checkpoints" / "step-4").exists()

    train(load_config(setup / "config.yaml", [f"run.output_dir={out}"]), resume=True, progress=False)
    resumed, reference = read(out / "metrics.jsonl"), read(uninterrupted / "metrics.jsonl")
    assert [m["step"] for m in resumed] == [1, 2, 3, 4]
    for got, want in zip(stable(resumed), stable(reference)):
        assert got.keys() == want.keys()
        for key in want:
            assert got[key] == pytest.approx(want[key], rel=1e-5, abs=1e-7), (got["step"], key)
    turns = [[s["turns"] for s in read(d / "samples.jsonl") if s["step"] == 4] for d in (out, uninterrupted)]
    assert turns[0] == turns[1]  # the resumed step played the same episodes
