"""The update divides the logits by the temperature that sampled the rollouts, read from the rollouts
(the SamplingParams that drew them), not from a second read of the config."""

from __future__ import annotations

import json

import pytest
import torch

from conftest import make_tiny_policy
from rlvr.models import SamplingParams
from rlvr.tasks import Task
from rlvr.train.config import load_config
from rlvr.train.rollouts import Rollouts, concat
from rlvr.train.trainer import Trainer
from rlvr.verifiers import Verdict

PROMPTS = ["What is 2 + 3 ?", "What is 9 - 7 ?"]


@pytest.fixture()
def trainer(tmp_path):
    tasks = tmp_path / "train.jsonl"
    tasks.write_text("".join(json.dumps({"id": f"t{i}", "prompt": p, "reference": "5", "verifier": "math"}) + "\n"
                             for i, p in enumerate(PROMPTS)))
    # The config samples at 1.0; the rollouts below were drawn at 0.7. fp32 throughout: the sampler's recorded
    # log-probs and the update's then agree to float rounding.
    config = load_config(None, [f"data.train={tasks}", f"run.output_dir={tmp_path / 'run'}", "sampling.temperature=1.0",
                                "sampling.max_new_tokens=6", "algo.group_size=4", "optim.mixed_precision=fp32"])
    return Trainer(config, policy=make_tiny_policy(), progress=False)


def _rollouts(trainer: Trainer, params: SamplingParams) -> Rollouts:
    generation = trainer.engine.generate(PROMPTS, params)
    verdicts = [[Verdict(float(j % 2), "ok") for j in range(params.n)] for _ in PROMPTS]
    tasks = [Task(id=f"t{i}", prompt=p, reference="5") for i, p in enumerate(PROMPTS)]
    return Rollouts.from_generation(tasks, generation, verdicts, [[False] * params.n for _ in PROMPTS], params)


def test_rollouts_carry_the_temperature_that_sampled_them(trainer):
    rollouts = _rollouts(trainer, SamplingParams(n=4, temperature=0.7, max_new_tokens=6, seed=1))
    assert rollouts.temperature == 0.7
    assert concat([rollouts, rollouts], 4).temperature == 0.7
    hotter = _rollouts(trainer, SamplingParams(n=4, temperature=1.3, max_new_tokens=6, seed=1))
    with pytest.raises(ValueError, match="different temperatures"):
        concat([rollouts, hotter], 4)


@pytest.mark.parametrize("fused", [True, False])
def test_the_first_ratio_is_one_at_the_samplers_temperature(trainer, fused):
    """Before any update pi = pi_old, so the ratio is 1 exactly where the loss reads the sampling distribution;
    at the config's temperature (1.0, not the 0.7 that sampled) it would be far from 1."""
    trainer.fused = fused and trainer.fused
    rollouts = _rollouts(trainer, SamplingParams(n=4, temperature=0.7, max_new_tokens=6, seed=1))
    advantages = torch.tensor([[1.0, -1.0, 1.0, -1.0]] * len(PROMPTS))
    metrics = trainer._update(rollouts, advantages, torch.ones_like(advantages, dtype=torch.bool))
    assert metrics["rows/trained"] == 8
    assert abs(metrics["ratio/mean"] - 1.0) < 1e-4
