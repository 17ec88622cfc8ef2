"""The update's short bf16 passes on the CPU (with gradients or without: the checks', a reference's) attend with
rlvr/models/attention.py's grouped products, not sdpa's fused kernel; a float32 update keeps sdpa, and the model's
attention is restored after either."""

from __future__ import annotations

import json

import pytest
import torch

from conftest import make_tiny_policy
from rlvr.models import SamplingParams
from rlvr.tasks import Task
from rlvr.train.config import load_config
from rlvr.train.rollouts import Rollouts
from rlvr.train.trainer import Trainer
from rlvr.verifiers import Verdict

PROMPTS = ["What is 2 + 3 ?", "What is 9 - 7 ?"]


@pytest.mark.parametrize("precision", ["bf16", "fp32"])
def test_the_updates_bf16_passes_take_the_grouped_products(tmp_path, monkeypatch, precision):
    tasks = tmp_path / "train.jsonl"
    tasks.write_text("".join(json.dumps({"id": f"t{i}", "prompt": p, "reference": "5", "verifier": "math"}) + "\n"
                             for i, p in enumerate(PROMPTS)))
    config = load_config(None, [f"data.train={tasks}", f"run.output_dir={tmp_path / 'run'}", "algo.group_size=4",
                                "sampling.max_new_tokens=6", f"optim.mixed_precision={precision}"])
    trainer = Trainer(config, policy=make_tiny_policy(), progress=False)
    params = SamplingParams(n=4, temperature=1.0, max_new_tokens=6, seed=1)
    generation = trainer.engine.generate(PROMPTS, params)
    verdicts = [[Verdict(float(j % 2), "ok") for j in range(params.n)] for _ in PROMPTS]
    rollouts = Rollouts.from_generation([Task(id=f"t{i}", prompt=p, reference="5") for i, p in enumerate(PROMPTS)],
                                        generation, verdicts, [[False] * params.n for _ in PROMPTS], params)
    calls = []  # sdpa's calls during the update: whether gradients were on
    sdpa = torch.nn.functional.scaled_dot_product_attention
    monkeypatch.setattr(torch.nn.functional, "scaled_dot_product_attention",
                        lambda *a, **k: calls.append(torch.is_grad_enabled()) or sdpa(*a, **k))
    advantages = torch.tensor([[1.0, -1.0, 1.0, -1.0]] * len(PROMPTS))
    before = [p.detach().clone() for p in trainer.model.parameters()]
    metrics = trainer._update(rollouts, advantages, torch.ones_like(advantages, dtype=torch.bool))
    assert metrics["rows/trained"] == 8 and torch.isfinite(torch.tensor(metrics["grad_norm"]))
    assert any(not torch.equal(a, p) for a, p in zip(before, trainer.model.parameters()))  # it trained
    assert (not calls) if precision == "bf16" else any(calls)  # bf16: every pass, the checks' too, took the products
    assert trainer.model.config._attn_implementation == "sdpa"
