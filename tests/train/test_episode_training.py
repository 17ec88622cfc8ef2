"""Training on episodes covers only the tokens the policy sampled: the loss, its KL and entropy terms and the
mismatch correction never read an environment token (an observation, the template's turn markers).

Checked on the parameters' gradients: replacing what the environment tokens are scored as (their labels)
changes nothing, bit for bit, while the same change under a mask that covered them would."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

from conftest import make_tiny_policy
from rlvr.models import HFEngine, SamplingParams
from rlvr.models.episodes import generate_episodes
from rlvr.models.logprobs import completion_logprobs, token_entropy
from rlvr.tasks import Task
from rlvr.train.objectives.grpo import grpo_loss
from rlvr.train.objectives.variants import MISMATCH_MODES
from rlvr.train.rollouts import Rollouts, pad_batch
from rlvr.verifiers import Verdict, allow_plugins


@pytest.fixture(scope="module")
def episodes():
    sys.path.insert(0, str(Path(__file__).parents[1] / "envs"))
    allow_plugins("envs_for_tests")  # Guess: every wrong reply gets an observation, so episodes have turns
    policy = make_tiny_policy(eos_logit=3.0)
    task = Task(id="g", prompt="What is 3 + 4 ?", reference="7",
                env={"name": "envs_for_tests:Guess", "max_turns": 3, "max_tokens": 60})
    params = SamplingParams(n=4, max_new_tokens=6, seed=4)
    generation = generate_episodes(HFEngine(policy), [task], params)
    verdicts = [[Verdict(float(j % 2), "ok" if j % 2 else "mismatch") for j in range(4)]]
    rollouts = Rollouts.from_generation([task], generation, verdicts, [[False] * 4], params)
    assert any(0 in m for m in rollouts.token_masks[0])  # some episode holds environment tokens
    return policy, rollouts


def _gradients(model, batch, mask):
    """The parameters' gradients of the GRPO loss with a KL term, an entropy bonus and the TIS correction."""
    model.zero_grad()
    logits, logp = completion_logprobs(model, batch, 1.0)
    logits.retain_grad()
    weights, _ = MISMATCH_MODES.build("tis").weights(logp.detach(), batch["sampler_logp"], mask)
    loss, _ = grpo_loss(logp, batch["old_logp"], batch["advantage"], mask, ref_logp=batch["old_logp"] - 0.1,
                        beta=0.05, weights=weights, entropy=token_entropy(logits, 1.0), entropy_coef=0.01)
    loss.backward()
    return [p.grad.clone() for p in model.parameters()], logits.grad


def test_the_mask_is_the_episodes_sampled_tokens(episodes):
    policy, rollouts = episodes
    rows = [(0, j) for j in range(4)]
    batch = pad_batch(rollouts, rows, torch.tensor([[1.0, -1.0, 0.5, -0.5]]), False, 0)
    for r, (g, j) in enumerate(rows):
        sampled = rollouts.token_masks[g][j]
        assert batch["mask"][r, : len(sampled)].tolist() == sampled
        assert batch["mask"][r, len(sampled):].sum() == 0
    assert rollouts.lengths()[0].tolist() == [sum(m) for m in rollouts.token_masks[0]]


def test_environment_tokens_carry_no_gradient(episodes):
    policy, rollouts = episodes
    model = policy.model
    batch = pad_batch(rollouts, [(0, j) for j in range(4)], torch.tensor([[1.0, -1.0, 0.5, -0.5]]), False, 0)
    environment = (batch["mask"] == 0) & (torch.arange(batch["mask"].shape[1]) <
                                          torch.tensor([len(c) for c in rollouts.completion_ids[0]])[:, None])
    assert environment.any()
    relabelled = dict(batch, completion=torch.where(environment, (batch["completion"] + 7) % 50, batch["completion"]))

    grads, logit_grads = _gradients(model, batch, batch["mask"])
    again, _ = _gradients(model, relabelled, relabelled["mask"])
    assert all(torch.equal(a, b) for a, b in zip(grads, again))  # what the environment tokens are scored as: nothing
    assert logit_grads[environment].abs().max() == 0  # no logit at an environment position gets a gradient
    assert logit_grads[batch["mask"] == 1].abs().max() > 0

    # The check can fail: a mask that covered the environment tokens would change with their labels.
    covering = ((batch["mask"] == 1) | environment).float()
    plain, _ = _gradients(model, batch, covering)
    changed, _ = _gradients(model, relabelled, covering)
    assert not all(torch.equal(a, b) for a, b in zip(plain, changed))
